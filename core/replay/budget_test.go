package replay_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/replay"
)

// slowReader is a game whose handler takes one message ("slow") longer than
// a frame's budget: the reactor's budget test, asked after every message,
// answers "not yet" after the first and "spent" after the slow one.
type slowReader struct {
	net   netio.Net
	frame int
	log   []string
	done  bool
}

func (g *slowReader) ConnectionMade(core.Transport) {}
func (g *slowReader) ConnectionLost(error)          { g.done = true }
func (g *slowReader) MessageReceived(m []byte) error {
	g.log = append(g.log, fmt.Sprintf("frame %d: %s", g.frame, m))
	if string(m) == "slow" {
		for start := time.Now(); time.Since(start) < 30*time.Millisecond; {
		}
	}
	return nil
}

func (g *slowReader) hash() uint64 {
	h := uint64(14695981039346656037)
	for _, s := range g.log {
		for _, c := range []byte(s) {
			h = (h ^ uint64(c)) * 1099511628211
		}
	}
	return h
}

func (g *slowReader) dial(addr string) error {
	_, err := g.net.ConnectTCP(addr, core.ClientFuncs{
		Build:  func(net.Addr) (core.Protocol, error) { return framing.NewProtocol(g, 0), nil },
		Failed: func(err error) { g.log = append(g.log, fmt.Sprintf("frame %d: failed %v", g.frame, err)) },
	}, time.Hour) // of the fake clock, which runs 16 ms a frame
	return err
}

// A budget spent part-way through a read stops the replay's protocol at the
// same message as the recording's — not at the first budget test it asks
// (a recording of version 1 did that, and the replay of a frame whose
// second message had spent the budget diverged).
func TestReplayStopsAtTheRecordedMessage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		var b []byte
		for _, m := range []string{"fast", "slow", "after"} {
			b = framing.Append(b, []byte(m))
		}
		if _, err := c.Write(b); err != nil { // one write: one read on the other side
			served <- err
			return
		}
		_, err = io.Copy(io.Discard, c) // until the game closes
		served <- err
	}()
	t.Cleanup(func() {
		ln.Close()
		if err := <-served; err != nil {
			t.Errorf("peer: %v", err)
		}
	})

	clk := core.NewFakeClock(time.Unix(1_700_000_000, 0))
	r := startDrained(t, clk)
	var file bytes.Buffer
	rec, err := replay.NewRecorder(&file, netio.Reactor(r), replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := &slowReader{net: rec}
	if err := g.dial(ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	var hashes []uint64
	// Frames are paced by a real ticker, as a game loop's are, so the
	// peer's bytes arrive between them.
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for g.frame = 0; len(g.log) < 3 || g.frame < 20; g.frame++ {
		<-pace.C
		if time.Now().After(deadline) {
			t.Fatalf("the messages did not arrive: %q", g.log)
		}
		_ = clk.Advance(16 * time.Millisecond)
		r.Drain(20 * time.Millisecond)
		rec.BeginFrame()
		h := g.hash()
		hashes = append(hashes, h)
		rec.EndFrame(h)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	// The setup this test is about: "fast" and "slow" in one frame, the
	// budget spent, "after" in a later one.
	frameOf := func(m string) string {
		for _, l := range g.log {
			if strings.HasSuffix(l, ": "+m) {
				return strings.TrimSuffix(l, ": "+m)
			}
		}
		return ""
	}
	if frameOf("fast") != frameOf("slow") || frameOf("slow") == frameOf("after") {
		t.Skipf("the messages did not arrive as one read stopped after the slow one: %q", g.log)
	}

	p, err := replay.NewPlayer(bytes.NewReader(file.Bytes()), replay.PlayerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pr := startDrained(t, p.Clock())
	p.Attach(pr)
	h := &slowReader{net: p}
	if err := h.dial("127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for h.frame = 0; !p.Done(); h.frame++ {
		if h.frame > len(hashes)+10 {
			t.Fatal("the replay does not end")
		}
		pr.Drain(0)
		p.BeginFrame()
		x := h.hash()
		if p.EndFrame(x) {
			got = append(got, x)
		}
	}
	if err := p.Err(); err != nil {
		t.Fatalf("%v\nrecorded %q\nreplayed %q", err, g.log, h.log)
	}
	if !slices.Equal(h.log, g.log) || !slices.Equal(got, hashes) {
		t.Fatalf("recorded %q, replayed %q", g.log, h.log)
	}
}
