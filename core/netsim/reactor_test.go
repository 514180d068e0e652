package netsim_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/netsim"
	"github.com/threadedselect/reactor/internal/testutil"
)

// startReactor starts a reactor on a fake clock, drained by the test's
// goroutine; the cleanup stops it and drains it to the end.
func startReactor(t *testing.T) (*core.Reactor, *core.FakeClock) {
	t.Helper()
	clk := core.NewFakeClock(time.Unix(1_000_000, 0))
	logs := &testutil.LockedBuffer{}
	r, err := core.New(core.WithClock(clk), core.WithThreadCheck(true), core.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if off := logs.Lines("called off the main thread"); len(off) > 0 {
			t.Errorf("threading rule broken: %q", off)
		}
	})

	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Stop()
		deadline := time.Now().Add(10 * time.Second)
		for !r.Drain(time.Millisecond).Finished {
			if time.Now().After(deadline) {
				t.Fatal("the reactor did not shut down")
			}
		}
		<-r.Done()
	})
	return r, clk
}

// probe is a DatagramProtocol in front of the simulator that notes when
// (by the fake clock) each datagram left the reactor.
type probe struct {
	clk  *core.FakeClock
	next core.DatagramProtocol
	at   map[uint64]time.Time

	onArrive func(count int)
}

func (p *probe) DatagramReceived(b []byte, from netip.AddrPort) {
	p.at[binary.BigEndian.Uint64(b)] = p.clk.Now()
	if p.onArrive != nil {
		p.onArrive(len(p.at))
	}
	p.next.DatagramReceived(b, from)
}

// Real datagrams on loopback, through a real reactor on a fake clock: the
// simulator, between the reactor and the program, delays each by the
// link's latency and jitter (to the 1 ms step of the test's clock) and
// drops them at the link's rate.
func TestReactorDatagrams(t *testing.T) {
	r, clk := startReactor(t)
	s := badWiFi(t)
	l := s.Recv
	c := netsim.New(netio.Reactor(r), s, 3)
	type got struct {
		seq uint64
		at  time.Time
	}
	var arrivals []got
	rec := core.DatagramProtocol(datagramFunc(func(b []byte, _ netip.AddrPort) {
		arrivals = append(arrivals, got{binary.BigEndian.Uint64(b), clk.Now()})
	}))
	proto, port := c.WrapDatagramProtocol(rec)
	pr := &probe{clk: clk, next: proto, at: map[uint64]time.Time{}}
	u, err := r.ListenUDP("127.0.0.1:0", pr)
	if err != nil {
		t.Fatal(err)
	}
	port.Attach(u)

	const n, batch = 2000, 50
	sent := make(chan error, 1)
	// The sender keeps at most a batch in flight, so that the kernel's
	// socket buffer never overflows: every datagram reaches the reactor.
	arrived := make(chan struct{}, n/batch)
	pr.onArrive = func(k int) {
		if k%batch == 0 {
			arrived <- struct{}{}
		}
	}
	go func() {
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(u.LocalAddr()))
		if err != nil {
			sent <- err
			return
		}
		defer conn.Close()
		var b [8]byte
		for i := range n {
			binary.BigEndian.PutUint64(b[:], uint64(i))
			if _, err := conn.Write(b[:]); err != nil {
				sent <- err
				return
			}
			if (i+1)%batch == 0 {
				select {
				case <-arrived:
				case <-time.After(10 * time.Second):
					sent <- errors.New("a batch did not arrive")
					return
				}
			}
		}
		sent <- nil
	}()
	deadline := time.Now().Add(20 * time.Second)
	step := time.Millisecond
	// Every round due at this instant, then the clock moves on a step.
	settle := func() {
		for r.Drain(0).Ran > 0 {
		}
		_ = clk.Advance(step)
	}
	for {
		settle()
		if len(pr.at) == n {
			break
		}
		if time.Now().After(deadline) || len(sent) == 1 && len(pr.at) < n {
			select {
			case err := <-sent:
				if err != nil {
					t.Fatal(err)
				}
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d datagrams came in (stats %+v)", len(pr.at), n, u.Stats())
			}
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		settle()
	}
	_ = port.Close()

	lo, hi, rd := l.Latency-l.Jitter, l.Latency+l.Jitter+step, l.ReorderDelay
	seen := map[uint64]bool{}
	for _, a := range arrivals {
		d := a.at.Sub(pr.at[a.seq])
		if !(d >= lo && d <= hi) && !(d >= lo+rd && d <= hi+rd) {
			t.Fatalf("datagram %d delayed %v", a.seq, d)
		}
		seen[a.seq] = true
	}
	in := len(pr.at)
	lost := in - len(seen)
	sd := math.Sqrt(l.Loss * (1 - l.Loss) / float64(in))
	within(t, "loss rate", float64(lost)/float64(in), l.Loss, sd, 5)
	if st := c.Stats().Recv; st.Dropped != uint64(lost) || st.InFlight != 0 {
		t.Fatalf("stats %+v, %d lost", st, lost)
	}
}

type datagramFunc func([]byte, netip.AddrPort)

func (f datagramFunc) DatagramReceived(b []byte, from netip.AddrPort) { f(b, from) }

// echo writes back what it reads; when the peer finishes sending, it
// closes once everything is written.
type echo struct {
	t    core.Transport
	lost chan error
}

func (e *echo) ConnectionMade(t core.Transport) { e.t = t }
func (e *echo) DataReceived(b []byte)           { _, _ = e.t.Write(b) }
func (e *echo) ReadConnectionLost()             { _ = e.t.LoseConnection() }
func (e *echo) ConnectionLost(err error)        { e.lost <- err }

// A real TCP connection through the simulator (on the server's side, both
// ways, bad Wi-Fi with its 250 kB/s cap): every byte comes back, in order,
// and the connection closes cleanly after the last one; the fake clock
// shows the bandwidth's cost.
func TestReactorStream(t *testing.T) {
	r, clk := startReactor(t)
	s := badWiFi(t)
	c := netsim.New(netio.Reactor(r), s, 5)
	e := &echo{lost: make(chan error, 1)}
	ln, err := c.ListenTCP("127.0.0.1:0", core.FactoryFunc(func(net.Addr) (core.Protocol, error) { return e, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.StopListening()

	payload := make([]byte, 100_000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	type result struct {
		got []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		go func() {
			for off := 0; off < len(payload); off += 1000 {
				if _, err := conn.Write(payload[off : off+1000]); err != nil {
					return
				}
			}
			_ = conn.(*net.TCPConn).CloseWrite()
		}()
		got, err := io.ReadAll(conn)
		done <- result{got, err}
	}()
	start := clk.Now()
	deadline := time.Now().Add(30 * time.Second)
	var res result
	for waiting := true; waiting; {
		r.Drain(0)
		_ = clk.Advance(time.Millisecond)
		select {
		case res = <-done:
			waiting = false
		default:
			if time.Now().After(deadline) {
				t.Fatal("the echo did not finish")
			}
		}
	}
	took := clk.Now().Sub(start)
	if res.err != nil || !bytes.Equal(res.got, payload) {
		t.Fatalf("echo: %d bytes of %d, %v", len(res.got), len(payload), res.err)
	}
	for len(e.lost) == 0 {
		r.Drain(0)
		_ = clk.Advance(time.Millisecond)
		if time.Now().After(deadline) {
			t.Fatal("no ConnectionLost")
		}
	}
	if err := <-e.lost; !errors.Is(err, core.ErrConnectionDone) {
		t.Fatalf("ConnectionLost(%v), want a clean close", err)
	}
	// 100 kB each way at 250 kB/s is 0.4 s of sending, plus a round trip.
	if min := 400*time.Millisecond + s.RTT() - 2*s.Recv.Jitter; took < min {
		t.Fatalf("the echo took %v of simulated time, at least %v expected", took, min)
	}
	t.Logf("100 kB echoed through bad Wi-Fi in %v simulated", took)
}

// Each delayed delivery is one callback, so the frame budget holds: with
// fifty expensive datagrams due at once, a frame whose budget the first one
// spends runs that one and leaves the rest, in order, for the next frames.
func TestBudgetHolds(t *testing.T) {
	r, clk := startReactor(t)
	c := netsim.New(netio.Reactor(r), netsim.Settings{Recv: netsim.Link{Latency: 10 * time.Millisecond}}, 1)
	const n, cost = 50, 2 * time.Millisecond
	var order []int
	proto, _ := c.WrapDatagramProtocol(datagramFunc(func(b []byte, _ netip.AddrPort) {
		order = append(order, int(b[0]))
		for start := time.Now(); time.Since(start) < cost; {
		}
	}))
	for i := range n {
		proto.DatagramReceived([]byte{byte(i)}, from)
	}
	_ = clk.Advance(10 * time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for frames := 0; len(order) < n; frames++ {
		before := len(order)
		r.Drain(time.Millisecond)
		if got := len(order) - before; got > 1 {
			t.Fatalf("frame %d ran %d deliveries of %v with a 1ms budget", frames, got, cost)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered", len(order), n)
		}
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("delivered out of order: %v", order)
		}
	}
}
