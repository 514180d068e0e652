package session

import (
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
)

// pair is a server and a client on one reactor driven by Drain on the
// calling goroutine, for the allocation test and the benchmarks.
type pair struct {
	tb  testing.TB
	r   *core.Reactor
	srv *Server
	c   *Client
	got int
}

func newPair(tb testing.TB, backend string, udp bool) *pair {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := core.New(core.WithBackend(backend), core.WithLogger(log))
	if err != nil {
		tb.Fatal(err)
	}
	p := &pair{tb: tb, r: r}
	p.srv, err = Listen(r, ServerConfig{Addr: "127.0.0.1:0", App: "bench", UDP: udp, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	// The server answers every message with the same bytes, the way it
	// came: reliable over TCP, unreliable over UDP when bound.
	_ = p.srv.Handle(msgEcho, func(peer *Peer, b []byte) error { return peer.Send(b) })
	_ = p.srv.Handle(msgCount, func(peer *Peer, b []byte) error { return peer.SendUnreliable(b) })
	p.c, err = Dial(r, ClientConfig{Addr: p.srv.Addr().String(), App: "bench", UDP: udp, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	count := func([]byte) error {
		p.got++
		return nil
	}
	_ = p.c.Handle(msgEcho, count)
	_ = p.c.Handle(msgCount, count)
	if err := r.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.stop)
	p.drainUntil(func() bool { return p.c.State().Status == Connected && (!udp || p.c.State().UDP == UDPBound) })
	return p
}

// drainUntil drains the reactor until cond holds, within the watchdog.
// It yields when there was nothing to run: testing.AllocsPerRun runs with
// GOMAXPROCS=1, and the portable backend's I/O goroutines need the turn.
func (p *pair) drainUntil(cond func() bool) {
	deadline := time.Now().Add(watchdog)
	for !cond() {
		if p.r.Drain(time.Millisecond).Ran == 0 {
			runtime.Gosched()
		}
		if time.Now().After(deadline) {
			p.tb.Fatal("timed out draining")
		}
	}
}

func (p *pair) stop() {
	_ = p.r.Stop()
	deadline := time.Now().Add(watchdog)
	for !p.r.Drain(10 * time.Millisecond).Finished {
		if time.Now().After(deadline) {
			p.tb.Error("the reactor did not finish its shutdown")
			return
		}
	}
}

// roundTrip sends one 32-byte message of type typ and drains until the
// answer came back.
func (p *pair) roundTrip(typ byte, unreliable bool) {
	want := p.got + 1
	b := p.c.Begin(typ)
	for i := range 31 {
		b = append(b, byte(i))
	}
	var err error
	if unreliable {
		err = p.c.SendUnreliable(b)
	} else {
		err = p.c.Send(b)
	}
	if err != nil {
		p.tb.Fatal(err)
	}
	p.drainUntil(func() bool { return p.got >= want })
}

// TestSteadyStateAllocatesNothing: once connected, a message to a
// handler and its answer, over TCP and over UDP, cost no allocation: not
// in the session package, nor in the reactor underneath. The reactor runs
// on its own goroutine, as in a server; the test hands it each send.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		if raceEnabled {
			t.Skip("allocation counts mean nothing under the race detector (it allocates itself, and makes sync.Pool drop items); run without -race")
		}
		l := startLoop(t, backend, nil)
		srv := l.listen(ServerConfig{App: "bench", UDP: true})
		got := make(chan struct{}, 1)
		var c *Client
		l.do(func() {
			_ = srv.Handle(msgEcho, func(peer *Peer, b []byte) error { return peer.Send(b) })
			_ = srv.Handle(msgCount, func(peer *Peer, b []byte) error { return peer.SendUnreliable(b) })
			var err error
			c, err = Dial(l.r, ClientConfig{Addr: srv.Addr().String(), App: "bench", UDP: true, Logger: l.log})
			if err != nil {
				t.Fatal(err)
			}
			answer := func([]byte) error {
				got <- struct{}{}
				return nil
			}
			_ = c.Handle(msgEcho, answer)
			_ = c.Handle(msgCount, answer)
		})
		l.waitFor("connected over udp", watchdog, func() bool { return c.State().UDP == UDPBound })

		var typ byte
		var unreliable bool
		var sendErr error
		send := func() {
			b := c.Begin(typ)
			for i := range 31 {
				b = append(b, byte(i))
			}
			if unreliable {
				sendErr = c.SendUnreliable(b)
			} else {
				sendErr = c.Send(b)
			}
		}
		timer := time.NewTimer(watchdog)
		lost := false
		roundTrip := func() {
			if err := l.r.CallFromThread(send); err != nil {
				lost = true
				return
			}
			timer.Reset(watchdog)
			select {
			case <-got:
			case <-timer.C:
				lost = true
			}
			timer.Stop()
		}
		for _, path := range []struct {
			name string
			typ  byte
			udp  bool
		}{{"tcp", msgEcho, false}, {"udp", msgCount, true}} {
			typ, unreliable = path.typ, path.udp
			for range 100 {
				roundTrip()
			}
			n := testing.AllocsPerRun(500, roundTrip)
			if lost || sendErr != nil {
				t.Fatalf("%s: a round trip was lost (%v)", path.name, sendErr)
			}
			if n != 0 {
				t.Errorf("%s: %v allocations per round trip", path.name, n)
			}
		}
		if st := l.state(c); st.UDP != UDPBound || st.MessagesIn < 1200 {
			t.Fatalf("state %+v", st)
		}
	})
}

// BenchmarkRoundTrip measures one message to the server's handler and its
// answer back to the client's, over loopback, on one reactor driven by
// Drain: reliable over TCP, unreliable over UDP.
func BenchmarkRoundTrip(b *testing.B) {
	for _, backend := range core.Backends() {
		for _, path := range []struct {
			name       string
			typ        byte
			unreliable bool
		}{{"tcp", msgEcho, false}, {"udp", msgCount, true}} {
			b.Run(backend+"/"+path.name, func(b *testing.B) {
				p := newPair(b, backend, true)
				for range 100 {
					p.roundTrip(path.typ, path.unreliable)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					p.roundTrip(path.typ, path.unreliable)
				}
				b.StopTimer() // not the shutdown in the cleanup
			})
		}
	}
}

// BenchmarkEncode measures building a message in the reused buffer and
// framing it (what Send does before the write).
func BenchmarkEncode(b *testing.B) {
	var e encoder
	b.ReportAllocs()
	for i := range b.N {
		m := e.begin(msgEcho)
		m = append(m, byte(i), byte(i>>8), 1, 2, 3, 4, 5, 6)
		if f := e.frame(m); len(f) != 10 {
			b.Fatal(len(f))
		}
	}
}
