package session

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
)

const (
	msgEcho  = 1 // the test server echoes it back, with the peer's Data
	msgCount = 2 // counted by the test server
)

// echoServer listens on l with the handlers the tests use.
func echoServer(l *loop, cfg ServerConfig) *Server {
	if cfg.App == "" {
		cfg.App = "test/1"
	}
	if cfg.Accept == nil {
		cfg.Accept = func(p *Peer, hello []byte) error {
			p.Data = string(hello)
			return nil
		}
	}
	s := l.listen(cfg)
	l.do(func() {
		_ = s.Handle(msgEcho, func(p *Peer, b []byte) error {
			out := p.Begin(msgEcho)
			out = append(out, b[1:]...)
			out = append(out, p.Data.(string)...)
			return p.Send(out)
		})
	})
	return s
}

// TestMessagesAndRTT: a handshake with application data both ways, typed
// messages to handlers, ids from 1, and RTT samples on both ends.
func TestMessagesAndRTT(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sl := startLoop(t, backend, nil)
		joined := make(chan uint32, 4)
		srv := echoServer(sl, ServerConfig{WelcomeData: []byte("rules"), PingInterval: 10 * time.Millisecond,
			OnJoin: func(p *Peer) { joined <- p.ID() }})
		cl := startLoop(t, backend, nil)
		got := make(chan string, 4)
		welcomes := make(chan Welcome, 4)
		dial := func(name string) *Client {
			var c *Client
			cl.do(func() {
				var err error
				c, err = Dial(cl.r, ClientConfig{Addr: srv.Addr().String(), App: "test/1", Hello: []byte(name),
					PingInterval: 10 * time.Millisecond, Logger: cl.log,
					OnConnect: func(c *Client, w Welcome) {
						w.Data = bytes.Clone(w.Data)
						welcomes <- w
					}})
				if err != nil {
					t.Fatal(err)
				}
				_ = c.Handle(msgEcho, func(b []byte) error {
					got <- string(b[1:])
					return nil
				})
			})
			return c
		}
		alice := dial("alice")
		if w := recv(t, welcomes, "welcome"); w.ID != 1 || w.Resumed || string(w.Data) != "rules" {
			t.Fatalf("welcome %+v", w)
		}
		if id := recv(t, joined, "join"); id != 1 {
			t.Fatalf("joined %d", id)
		}
		cl.do(func() {
			if st := alice.State(); st.Status != Connected || st.ID != 1 || st.Connects != 1 {
				t.Errorf("state %+v", st)
			}
			b := alice.Begin(msgEcho)
			b = append(b, "hi "...)
			if err := alice.Send(b); err != nil {
				t.Error(err)
			}
		})
		if s := recv(t, got, "echo"); s != "hi alice" {
			t.Fatalf("echo %q", s)
		}
		bob := dial("bob")
		if w := recv(t, welcomes, "welcome"); w.ID != 2 {
			t.Fatalf("second welcome %+v", w)
		}
		cl.waitFor("RTT samples on the client", watchdog, func() bool { return alice.State().RTT.Samples >= 3 })
		sl.waitFor("RTT samples on the server", watchdog, func() bool {
			p := srv.Peer(1)
			return p != nil && p.RTT().Samples >= 3
		})
		sl.do(func() {
			p := srv.Peer(1)
			cs, ok := p.ConnStats()
			in, out := p.Messages()
			if !ok || cs.BytesIn == 0 || cs.BytesOut == 0 || in != 1 || out != 1 || p.Addr().Port() == 0 || !p.Connected() {
				t.Errorf("peer: %+v %v, messages %d in %d out, addr %v", cs, ok, in, out, p.Addr())
			}
		})
		cl.do(func() {
			r := alice.State().RTT
			if r.Smoothed <= 0 || r.Min <= 0 || r.Min > r.Smoothed*4 {
				t.Errorf("rtt %+v", r)
			}
			// A type nobody handles is a protocol error: the server kicks.
			if err := bob.Send([]byte{9, 1, 2}); err != nil {
				t.Error(err)
			}
			// Reserved types cannot be sent or handled.
			if err := bob.Send([]byte{msgPing}); !errors.Is(err, core.ErrInvalidArgument) {
				t.Errorf("sending a reserved type: %v", err)
			}
			if err := bob.Handle(FirstReserved, func([]byte) error { return nil }); !errors.Is(err, core.ErrInvalidArgument) {
				t.Errorf("handling a reserved type: %v", err)
			}
		})
		cl.waitFor("bob kicked", watchdog, func() bool { return bob.State().Status == Disconnected })
		st := cl.state(bob)
		if st.Cause != CauseProtocol || !errors.Is(st.Err, ErrProtocol) || !strings.Contains(st.Reason, "no handler for message type 9") {
			t.Fatalf("bob: %v %v %q", st.Cause, st.Err, st.Reason)
		}
		sl.waitLog(watchdog, "session: leave", "id=2", "reason=\"protocol error\"")
	})
}

// TestReconnectAfterServerRestart: the server stops (saying so) and a new
// one starts on the same port: every client comes back by itself within
// 5 s, with the backoff's defaults.
func TestReconnectAfterServerRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sl := startLoop(t, backend, nil)
		srv := echoServer(sl, ServerConfig{})
		addr := srv.Addr().String()
		cl := startLoop(t, backend, nil)
		const n = 5
		clients := make([]*Client, n)
		var sawShutdown [n]bool
		for i := range clients {
			clients[i] = cl.dial(ClientConfig{Addr: addr, App: "test/1", Hello: []byte(fmt.Sprint("c", i)), Seed: uint64(i + 1),
				OnStatus: func(c *Client) {
					st := c.State()
					if st.Status == Reconnecting && st.Cause == CauseServerShutdown && st.Reason == "server shutting down" &&
						errors.Is(st.Err, ErrServerShutdown) {
						sawShutdown[i] = true
					}
				}})
		}
		allConnected := func(connects uint64) func() bool {
			return func() bool {
				for _, c := range clients {
					if st := c.State(); st.Status != Connected || st.Connects != connects {
						return false
					}
				}
				return true
			}
		}
		cl.waitFor("every client connected", watchdog, allConnected(1))

		sl.stop() // the before-shutdown trigger says goodbye to everybody
		cl.waitFor("every client reconnecting", watchdog, func() bool {
			for i := range clients {
				if !sawShutdown[i] {
					return false
				}
			}
			return true
		})
		sl2 := startLoop(t, backend, nil)
		srv2 := echoServer(sl2, ServerConfig{Addr: addr})
		restarted := time.Now()
		cl.waitFor("every client back within 5s", 5*time.Second, allConnected(2))
		t.Logf("every client back %v after the restart", time.Since(restarted).Round(time.Millisecond))
		ids := map[uint32]bool{}
		cl.do(func() {
			for i, c := range clients {
				st := c.State()
				t.Logf("msg=reconnected client=c%d id=%d attempts_before=%d", i, st.ID, st.Attempts)
				if st.Resumed {
					t.Errorf("client %d resumed a session on a new server", i)
				}
				ids[st.ID] = true
			}
		})
		sl2.do(func() {
			if st := srv2.Stats(); st.Sessions != n || st.Joins != n || len(ids) != n {
				t.Errorf("new server: %+v, ids %v", st, ids)
			}
		})
	})
}

// TestResumeWithinGrace: a connection cut by the network is resumed
// (same id, same Peer and its Data) by the client's reconnection, whether
// the server noticed the cut or not; after the grace period the session is
// gone and the client gets a new one.
func TestResumeWithinGrace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sl := startLoop(t, backend, nil)
		detached := make(chan error, 4)
		resumed := make(chan *Peer, 4)
		left := make(chan error, 4)
		srv := echoServer(sl, ServerConfig{Grace: 2 * time.Second,
			OnDetach: func(p *Peer, err error) { detached <- err },
			OnResume: func(p *Peer) { resumed <- p },
			OnLeave:  func(p *Peer, err error) { left <- err },
		})
		var first *Peer
		px := startProxy(t, srv.Addr().String())
		cl := startLoop(t, backend, nil)
		welcomes := make(chan Welcome, 8)
		c := cl.dial(ClientConfig{Addr: px.addr(), App: "test/1", Hello: []byte("alice"),
			Backoff:   Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond},
			OnConnect: func(c *Client, w Welcome) { welcomes <- Welcome{ID: w.ID, Resumed: w.Resumed} }})
		if w := recv(t, welcomes, "welcome"); w.ID != 1 || w.Resumed {
			t.Fatalf("first welcome %+v", w)
		}
		sl.do(func() { first = srv.Peer(1) })

		// 1. Cut both ways: the server detaches, the client reconnects and
		// resumes.
		px.cut(true)
		if err := recv(t, detached, "detach"); err == nil {
			t.Fatal("detached without a reason")
		}
		if w := recv(t, welcomes, "welcome after the cut"); w.ID != 1 || !w.Resumed {
			t.Fatalf("welcome after the cut %+v", w)
		}
		if p := recv(t, resumed, "resume"); p != first || p.Data.(string) != "alice" {
			t.Fatalf("resumed %p %v, want %p", p, p.Data, first)
		}

		// 2. Cut towards the client only: the server still holds the old
		// connection, which the resumption replaces.
		px.cut(false)
		if w := recv(t, welcomes, "welcome after the half cut"); w.ID != 1 || !w.Resumed {
			t.Fatalf("welcome after the half cut %+v", w)
		}
		recv(t, resumed, "second resume")
		sl.waitLog(watchdog, "session: resume", "id=1")
		sl.do(func() {
			st := srv.Stats()
			if st.Joins != 1 || st.Resumes != 2 || st.Sessions != 1 || st.Detached != 0 || first.Resumes() != 2 {
				t.Errorf("stats %+v", st)
			}
		})
		cl.do(func() {
			st := c.State()
			if st.Status != Connected || st.Connects != 3 || st.ID != 1 || !st.Resumed {
				t.Errorf("client %+v", st)
			}
		})

		// 3. Away longer than the grace period: the session ends, and the
		// client gets a new one.
		px.pause(true)
		px.cut(true)
		recv(t, detached, "detach before expiry")
		if err := recv(t, left, "leave"); !errors.Is(err, ErrGraceExpired) {
			t.Fatalf("left with %v", err)
		}
		px.pause(false)
		if w := recv(t, welcomes, "welcome after expiry"); w.Resumed {
			t.Fatalf("welcome after expiry %+v", w)
		}
		sl.do(func() {
			if st := srv.Stats(); st.Joins != 2 || st.Leaves != 1 {
				t.Errorf("stats %+v", st)
			}
			if p := srv.Peer(1); p == first || p == nil {
				t.Errorf("the expired Peer came back")
			}
		})
	})
}

// TestRefusalWhenFull: beyond MaxSessions a client is refused with a
// message that says so; with reconnection on it keeps trying and gets in
// once a place is free.
func TestRefusalWhenFull(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sl := startLoop(t, backend, nil)
		srv := echoServer(sl, ServerConfig{MaxSessions: 2})
		cl := startLoop(t, backend, nil)
		cfg := ClientConfig{Addr: srv.Addr().String(), App: "test/1", Hello: []byte("x"),
			Backoff: Backoff{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond}}
		a, b := cl.dial(cfg), cl.dial(cfg)
		cl.waitFor("two connected", watchdog, func() bool {
			return a.State().Status == Connected && b.State().Status == Connected
		})
		once := cfg
		once.NoReconnect = true
		refused := cl.dial(once)
		cl.waitFor("refusal", watchdog, func() bool { return refused.State().Status == Disconnected })
		st := cl.state(refused)
		if st.Cause != CauseRefused || !errors.Is(st.Err, ErrServerFull) || st.Reason != "server full (2 sessions)" {
			t.Fatalf("refused: %v, %v, %q", st.Cause, st.Err, st.Reason)
		}
		sl.waitLog(watchdog, "session: refuse", "reason=\"server full\"")

		patient := cl.dial(cfg)
		cl.waitFor("a refused attempt", watchdog, func() bool {
			st := patient.State()
			return st.Status == Connecting && st.Cause == CauseRefused && st.Attempts >= 2
		})
		cl.do(func() { a.Goodbye() })
		cl.waitFor("the patient client in", watchdog, func() bool { return patient.State().Status == Connected })
		sl.do(func() {
			if st := srv.Stats(); st.Sessions != 2 || st.Refused < 3 {
				t.Errorf("stats %+v", st)
			}
		})
	})
}

// TestRefusalsAndKicks: another application, a refusal by Accept and a
// kick end the client for good, each with its reason.
func TestRefusalsAndKicks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sl := startLoop(t, backend, nil)
		srv := echoServer(sl, ServerConfig{Accept: func(p *Peer, hello []byte) error {
			if string(hello) == "mallory" {
				return errors.New("banned")
			}
			p.Data = string(hello)
			return nil
		}})
		cl := startLoop(t, backend, nil)
		cfg := ClientConfig{Addr: srv.Addr().String(), App: "test/1", Hello: []byte("alice")}
		other := cfg
		other.App = "test/2"
		banned := cfg
		banned.Hello = []byte("mallory")
		cases := []struct {
			c      *Client
			cause  Cause
			err    error
			reason string
		}{
			{cl.dial(other), CauseRefused, ErrVersion, `application "test/2", server runs "test/1"`},
			{cl.dial(banned), CauseRefused, ErrRefused, "banned"},
			{cl.dial(cfg), CauseKicked, ErrKicked, "cheating"},
		}
		cl.waitFor("alice in", watchdog, func() bool { return cases[2].c.State().Status == Connected })
		id := cl.state(cases[2].c).ID
		sl.do(func() { srv.Peer(id).Kick("cheating") })
		for i, k := range cases {
			cl.waitFor(fmt.Sprint("client ", i, " out"), watchdog, func() bool { return k.c.State().Status == Disconnected })
			st := cl.state(k.c)
			if st.Cause != k.cause || !errors.Is(st.Err, k.err) || st.Reason != k.reason || st.Attempts != 1 {
				t.Errorf("client %d: %v, %v, %q after %d attempts", i, st.Cause, st.Err, st.Reason, st.Attempts)
			}
		}
		sl.waitLog(watchdog, "session: leave", "reason=kicked", "cheating")

		// Another wire version is refused before the rest is read.
		raw := dialRaw(t, srv.Addr().String(), "")
		raw.send([]byte{msgHello, wireVersion + 1, 0xff, 0xff})
		if bye := decodeBye(raw.expect(msgBye)); bye.Reason != ReasonVersion || bye.Text != "wire version 2, server speaks 1" {
			t.Fatalf("bye %+v", bye)
		}
		raw.expectClosed()
	})
}

// TestGoodbyeFlushedBeforeShutdown: stopping the client's reactor right
// after a burst of messages sends all of them, then the goodbye, before
// the reactor's Run returns; the server sees every message, then a quit.
func TestGoodbyeFlushedBeforeShutdown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sl := startLoop(t, backend, nil)
		count := 0
		left := make(chan error, 1)
		counted := make(chan int, 1)
		srv := echoServer(sl, ServerConfig{OnLeave: func(p *Peer, err error) {
			counted <- count
			left <- err
		}})
		sl.do(func() {
			_ = srv.Handle(msgCount, func(p *Peer, b []byte) error {
				count++
				return nil
			})
		})
		cl := startLoop(t, backend, nil)
		c := cl.dial(ClientConfig{Addr: srv.Addr().String(), App: "test/1", Hello: []byte("a")})
		cl.waitFor("connected", watchdog, func() bool { return c.State().Status == Connected })
		const n = 8000 // 8000 × 1 KiB: more than the socket buffers take at once
		cl.do(func() {
			for range n {
				b := c.Begin(msgCount)
				b = append(b, make([]byte, 1023)...)
				if err := c.Send(b); err != nil {
					t.Fatal(err)
				}
			}
			_ = cl.r.Stop()
		})
		cl.stop() // Run returns once the shutdown sequence, goodbye included, is over
		if err := recv(t, left, "leave"); !errors.Is(err, ErrQuit) {
			t.Fatalf("left with %v, want quit", err)
		}
		if got := recv(t, counted, "count"); got != n {
			t.Fatalf("server counted %d of %d messages before the goodbye", got, n)
		}
		if st := c.State(); st.Status != Disconnected || st.Cause != CauseQuit {
			t.Fatalf("client %v %v", st.Status, st.Cause)
		}
		sl.waitLog(watchdog, "session: leave", "reason=quit")
	})
}

// TestUDPPath: with UDP on both ends, the binding is confirmed and
// unreliable messages travel over UDP both ways; without UDP on the server
// they go over TCP.
func TestUDPPath(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sl := startLoop(t, backend, nil)
		srv := echoServer(sl, ServerConfig{UDP: true})
		overUDP := make(chan bool, 4)
		sl.do(func() {
			_ = srv.Handle(msgCount, func(p *Peer, b []byte) error {
				overUDP <- p.UDPBound()
				return p.SendUnreliable(b)
			})
		})
		cl := startLoop(t, backend, nil)
		back := make(chan string, 4)
		c := cl.dial(ClientConfig{Addr: srv.Addr().String(), App: "test/1", Hello: []byte("u"), UDP: true})
		cl.do(func() {
			_ = c.Handle(msgCount, func(b []byte) error {
				back <- string(b[1:])
				return nil
			})
		})
		cl.waitFor("udp bound", watchdog, func() bool { return c.State().UDP == UDPBound })
		sl.waitFor("bound on the server", watchdog, func() bool { return srv.Stats().UDPBound == 1 })
		cl.do(func() {
			if err := c.SendUnreliable(append(c.Begin(msgCount), "ping"...)); err != nil {
				t.Error(err)
			}
		})
		if !recv(t, overUDP, "the server's handler") {
			t.Fatal("the server's peer is not bound")
		}
		if s := recv(t, back, "the answer"); s != "ping" {
			t.Fatalf("answer %q", s)
		}
		sl.do(func() {
			if srv.UDPAddr().Port() != uint16(srv.Addr().(*net.TCPAddr).Port) {
				t.Errorf("udp port %v, tcp %v", srv.UDPAddr(), srv.Addr())
			}
		})

		// A server without UDP: the welcome says so, and unreliable
		// messages go over TCP.
		tcpOnly := echoServer(sl, ServerConfig{})
		sl.do(func() {
			_ = tcpOnly.Handle(msgCount, func(p *Peer, b []byte) error { return p.SendUnreliable(b) })
		})
		c2 := cl.dial(ClientConfig{Addr: tcpOnly.Addr().String(), App: "test/1", Hello: []byte("t"), UDP: true})
		cl.do(func() {
			_ = c2.Handle(msgCount, func(b []byte) error {
				back <- "tcp " + string(b[1:])
				return nil
			})
		})
		cl.waitFor("connected", watchdog, func() bool { return c2.State().Status == Connected })
		cl.do(func() {
			if st := c2.State(); st.UDP != UDPOff {
				t.Errorf("udp %v without a server port", st.UDP)
			}
			_ = c2.SendUnreliable(append(c2.Begin(msgCount), "x"...))
		})
		if s := recv(t, back, "the answer over tcp"); s != "tcp x" {
			t.Fatalf("answer %q", s)
		}
	})
}
