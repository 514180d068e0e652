package session_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/session"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// A chat server and one client on the same reactor: the client says hello
// with its name, sends a line once welcomed, and the server broadcasts it
// with the sender's name. Stopping the reactor says goodbye.
func Example() {
	const msgChat = 1 // the application's message types are 0 to session.FirstReserved-1

	r, _ := core.New(core.WithLogger(quiet))
	srv, err := session.Listen(r, session.ServerConfig{
		Addr: "127.0.0.1:0", App: "chat/1", Logger: quiet,
		Accept: func(p *session.Peer, hello []byte) error {
			p.Data = string(hello) // the name the client sent
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = srv.Handle(msgChat, func(p *session.Peer, msg []byte) error {
		out := srv.Begin(msgChat) // a reused buffer: no allocation
		out = append(out, p.Data.(string)+": "...)
		out = append(out, msg[1:]...)
		return srv.Broadcast(out)
	})

	c, err := session.Dial(r, session.ClientConfig{
		Addr: srv.Addr().String(), App: "chat/1", Hello: []byte("alice"), Logger: quiet,
		OnConnect: func(c *session.Client, w session.Welcome) {
			fmt.Println("welcomed as player", w.ID)
			_ = c.Send(append(c.Begin(msgChat), "hello"...))
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = c.Handle(msgChat, func(msg []byte) error {
		fmt.Printf("%s\n", msg[1:])
		_ = r.Stop() // the before-shutdown triggers say goodbye, then Run returns
		return nil
	})
	_ = r.Run()
	st := c.State()
	fmt.Println(st.Status, st.Cause)
	// Output:
	// welcomed as player 1
	// alice: hello
	// disconnected quit
}

// What a game shows about its connection, from Client.State, every frame.
func ExampleState() {
	show := func(st session.State) string {
		switch st.Status {
		case session.Connected:
			return fmt.Sprintf("player %d, ping %v ± %v", st.ID, st.RTT.Smoothed, st.RTT.Jitter)
		case session.Connecting, session.Reconnecting:
			if st.Cause == session.CauseNone {
				return st.Status.String() + "…"
			}
			return fmt.Sprintf("%s… (%v)", st.Status, st.Cause)
		}
		if st.Reason != "" {
			return fmt.Sprintf("disconnected: %v: %s", st.Cause, st.Reason)
		}
		return fmt.Sprintf("disconnected: %v", st.Cause)
	}
	fmt.Println(show(session.State{Status: session.Connecting}))
	fmt.Println(show(session.State{Status: session.Connected, ID: 2, RTT: session.RTT{Smoothed: 31 * time.Millisecond, Jitter: 2 * time.Millisecond}}))
	fmt.Println(show(session.State{Status: session.Reconnecting, Cause: session.CauseServerShutdown}))
	fmt.Println(show(session.State{Status: session.Disconnected, Cause: session.CauseRefused, Reason: "server full (64 sessions)"}))
	// Output:
	// connecting…
	// player 2, ping 31ms ± 2ms
	// reconnecting… (server shutdown)
	// disconnected: refused: server full (64 sessions)
}

// A server that ends every session with its own reason: the client shows
// it while it waits to reconnect.
func ExampleServer_LoseAll() {
	r, _ := core.New(core.WithLogger(quiet))
	srv, err := session.Listen(r, session.ServerConfig{Addr: "127.0.0.1:0", App: "demo", Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = session.Dial(r, session.ClientConfig{
		Addr: srv.Addr().String(), App: "demo", Logger: quiet,
		OnStatus: func(c *session.Client) {
			st := c.State()
			fmt.Printf("%v, cause %q, reason %q, shutdown %v\n", st.Status, st.Cause, st.Reason, errors.Is(st.Err, session.ErrServerShutdown))
			switch st.Status {
			case session.Connected:
				srv.LoseAll("back in five minutes")
			case session.Reconnecting:
				_ = r.Stop()
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = r.Run()
	// Output:
	// connected, cause "", reason "", shutdown false
	// reconnecting, cause "server shutdown", reason "back in five minutes", shutdown true
	// disconnected, cause "quit", reason "", shutdown false
}

// A game client quits cleanly when its window closes: Dial registers a
// before-shutdown trigger that calls Goodbye, so the reactor's shutdown
// (ebitenreactor starts it when the window closes) waits until the Bye is
// flushed and the connection closed. A program that wants to say goodbye
// earlier calls it itself and waits on the channel.
func ExampleClient_Goodbye() {
	r, _ := core.New(core.WithLogger(quiet))
	srv, _ := session.Listen(r, session.ServerConfig{Addr: "127.0.0.1:0", App: "demo", Logger: quiet,
		OnLeave: func(p *session.Peer, err error) { fmt.Println("server: player", p.ID(), "left:", err) },
	})
	c, _ := session.Dial(r, session.ClientConfig{Addr: srv.Addr().String(), App: "demo", Logger: quiet,
		OnConnect: func(c *session.Client, w session.Welcome) {
			done := c.Goodbye()
			go func() { <-done; _ = r.Stop() }() // any goroutine may Stop
		},
	})
	_ = r.Run()
	fmt.Println("client:", c.State().Status, c.State().Cause)
	// Output:
	// server: player 1 left: session: quit
	// client: disconnected quit
}

// The waits of a client's reconnection: doubling from Initial up to Max,
// each shortened by up to Jitter of it at random (u is the random draw).
func ExampleBackoff_Delay() {
	b := session.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for n := 1; n <= 5; n++ {
		fmt.Println(n, b.Delay(n, 0), b.Delay(n, 0.999))
	}
	// Output:
	// 1 100ms 50.05ms
	// 2 200ms 100.1ms
	// 3 400ms 200.2ms
	// 4 800ms 400.4ms
	// 5 1s 500.5ms
}

// The round-trip numbers a net graph shows.
func ExampleRTT_Add() {
	var rtt session.RTT
	for _, ms := range []time.Duration{20, 24, 20, 36} {
		rtt.Add(ms * time.Millisecond)
	}
	fmt.Println("last", rtt.Last, "smoothed", rtt.Smoothed, "jitter", rtt.Jitter, "min", rtt.Min, "samples", rtt.Samples)
	// Output:
	// last 36ms smoothed 22.382812ms jitter 1.454101ms min 20ms samples 4
}
