package replay_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/replay"
)

// hub is a game on the accepting side: it listens, counts the framed
// messages each connection sends (each costs it some work, so that a frame's
// budget runs out part-way through a burst), answers each with its number,
// and closes when the peer finishes sending (half-close). It also dials an
// address and cancels the attempt at once.
type hub struct {
	net   netio.Net
	log   []string
	msgs  int
	lost  int
	ln    netio.Listener
	state uint64
}

func (h *hub) note(format string, args ...any) {
	s := fmt.Sprintf("%d ", h.net.Now().UnixNano()) + fmt.Sprintf(format, args...)
	h.log = append(h.log, s)
	for _, c := range []byte(s) {
		h.state = (h.state ^ uint64(c)) * 1099511628211
	}
}

type hubConn struct {
	h   *hub
	t   core.Transport
	n   int
	out []byte
}

func (c *hubConn) ConnectionMade(t core.Transport) {
	c.t = t
	c.h.note("made %v", t.RemoteAddr() != nil)
}
func (c *hubConn) MessageReceived(m []byte) error {
	for start := time.Now(); time.Since(start) < 30*time.Microsecond; {
	}
	c.n++
	c.h.msgs++
	c.h.note("msg %d %q", c.n, m)
	c.out, _ = framing.Send(c.t, c.out, fmt.Appendf(nil, "#%d", c.n))
	return nil
}
func (c *hubConn) ConnectionLost(err error) { c.h.lost++; c.h.note("lost %v", err) }
func (c *hubConn) ReadConnectionLost() {
	c.h.note("read side closed after %d", c.n)
	_ = c.t.LoseConnection()
}

// halfFramed is a framing.Protocol that also takes the half-close.
type halfFramed struct {
	*framing.Protocol
	c *hubConn
}

func (p halfFramed) ReadConnectionLost() { p.c.ReadConnectionLost() }

func (h *hub) start() error {
	ln, err := h.net.ListenTCP("127.0.0.1:0", core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
		c := &hubConn{h: h}
		return halfFramed{framing.NewProtocol(c, 0), c}, nil
	}))
	if err != nil {
		return err
	}
	h.ln = ln
	d, err := h.net.ConnectTCP("127.0.0.1:9", core.ClientFuncs{
		Build:  func(net.Addr) (core.Protocol, error) { return nil, fmt.Errorf("never") },
		Failed: func(err error) { h.note("dial failed: %v", err) },
	}, time.Second)
	if err != nil {
		return err
	}
	d.Cancel() // its ConnectionFailed comes inside Cancel
	h.note("cancelled")
	return nil
}

// Accepted connections, a half-close, a cancelled dial (whose failure is
// reported inside Cancel), and bursts that spend the frame's budget so
// that the framed protocol stops part-way: all replay exactly, frame by
// frame.
func TestServerSideAndBudget(t *testing.T) {
	clk := core.NewFakeClock(time.Unix(1_700_000_000, 0))
	r := startDrained(t, clk)
	var file bytes.Buffer
	rec, err := replay.NewRecorder(&file, netio.Reactor(r), replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &hub{net: rec}
	if err := h.start(); err != nil {
		t.Fatal(err)
	}
	const peers, burst = 3, 40
	type result struct {
		got []byte
		err error
	}
	done := make(chan result, peers)
	for i := range peers {
		go func() {
			c, err := net.Dial("tcp", h.ln.Addr().String())
			if err != nil {
				done <- result{err: err}
				return
			}
			defer c.Close()
			var b []byte
			for k := range burst {
				b = framing.Append(b, fmt.Appendf(nil, "peer %d message %d", i, k))
			}
			if _, err := c.Write(b); err != nil {
				done <- result{err: err}
				return
			}
			_ = c.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(c)
			done <- result{got, err}
		}()
	}
	var hashes []uint64
	var perFrame []int
	finished := 0
	deadline := time.Now().Add(30 * time.Second)
	for frame := 0; finished < peers || h.lost < peers; frame++ {
		if time.Now().After(deadline) {
			t.Fatalf("stuck: %d peers done, %d lost, %d messages", finished, h.lost, h.msgs)
		}
		_ = clk.Advance(16 * time.Millisecond)
		before := h.msgs
		r.Drain(100 * time.Microsecond) // a few messages' worth
		select {
		case res := <-done:
			if res.err != nil || bytes.Count(res.got, []byte("#")) != burst {
				t.Fatalf("a peer got %q, %v", res.got, res.err)
			}
			finished++
		default:
		}
		rec.BeginFrame()
		perFrame = append(perFrame, h.msgs-before)
		hashes = append(hashes, h.state)
		rec.EndFrame(h.state)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := replay.Scan(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if info.Counts["budget stop"] == 0 || info.Counts["read side lost"] != peers || info.Counts["cancel dial"] != 1 {
		t.Fatalf("the recording lacks what the test is about: %v (messages per frame %v)", info.Counts, perFrame)
	}

	p, err := replay.NewPlayer(bytes.NewReader(file.Bytes()), replay.PlayerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r2 := startDrained(t, p.Clock())
	p.Attach(r2)
	h2 := &hub{net: p}
	if err := h2.start(); err != nil {
		t.Fatal(err)
	}
	var hashes2 []uint64
	for i := 0; !p.Done(); i++ {
		if i > 100000 {
			t.Fatal("the replay does not end")
		}
		r2.Drain(0)
		p.BeginFrame()
		if p.EndFrame(h2.state) {
			hashes2 = append(hashes2, h2.state)
		}
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h2.log, h.log) || !slices.Equal(hashes2, hashes) {
		t.Fatalf("the replay differs: %d events, %d frames; recorded %d, %d", len(h2.log), len(hashes2), len(h.log), len(hashes))
	}
	t.Logf("%d messages over %d frames, %d budget stops, replayed identically", h.msgs, len(hashes), info.Counts["budget stop"])
}
