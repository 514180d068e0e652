package gameserver

import (
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/internal/testutil"
)

// The tests run a Server and its clients (package core/session's Client,
// speaking the game's messages) on one reactor on a core.FakeClock, over
// real loopback sockets, driven by Drain on the test's goroutine: time
// moves only when a test advances the clock, and the test may call the
// server's methods directly between drains. Every wait is for an event
// (a condition checked between drains) under a watchdog that only fails
// the test; none sleeps.

func TestMain(m *testing.M) {
	// Warm up the Go runtime's poller (a descriptor it keeps for the life
	// of the process), so the descriptor count of the first test is not off.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		_ = ln.Close()
	}
	goleak.VerifyTestMain(m)
}

// watchdog bounds any one wait: a deadline for failing, never a wait for
// success.
const watchdog = 20 * time.Second

type harness struct {
	tb    testing.TB
	clock *core.FakeClock
	r     *core.Reactor
	s     *Server
	logs  *testutil.LockedBuffer
}

// newHarness starts a server with cfg (on a free loopback port, no stats
// line) on a reactor on a fake clock; the reactor's shutdown at the end of
// the test says goodbye to every client and checks for leaked descriptors.
func newHarness(tb testing.TB, cfg Config) *harness {
	tb.Helper()
	testutil.CheckFds(tb)
	h := &harness{tb: tb, clock: core.NewFakeClock(time.Unix(1000, 0)), logs: &testutil.LockedBuffer{}}
	log := slog.New(slog.NewTextHandler(h.logs, nil))
	var err error
	h.r, err = core.New(core.WithClock(h.clock), core.WithLogger(log), core.WithShutdownTimeout(10*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = log
	cfg.StatsInterval = -1
	h.s, err = New(h.r, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.r.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.stop)
	h.until("the server started", func() bool { return h.s.started })
	return h
}

// stop stops the reactor and drains it until its shutdown finished.
func (h *harness) stop() {
	_ = h.r.Stop()
	deadline := time.Now().Add(watchdog)
	for !h.r.Drain(10 * time.Millisecond).Finished {
		if time.Now().After(deadline) {
			h.tb.Error("the reactor did not finish its shutdown")
			return
		}
	}
	if h.tb.Failed() {
		h.tb.Logf("server log:\n%s", h.logs)
	}
}

// until drains the reactor until cond holds; it fails the test after the
// watchdog. It yields when there was nothing to run: the poll thread needs
// the turn (testing.AllocsPerRun runs with GOMAXPROCS=1).
func (h *harness) until(what string, cond func() bool) {
	h.tb.Helper()
	deadline := time.Now().Add(watchdog)
	for !cond() {
		if h.r.Drain(time.Millisecond).Ran == 0 {
			runtime.Gosched()
		}
		if time.Now().After(deadline) {
			h.tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

// advance moves the clock by d and runs the timers that fell due.
func (h *harness) advance(d time.Duration) {
	h.tb.Helper()
	if err := h.clock.Advance(d); err != nil {
		h.tb.Fatal(err)
	}
	h.until("the due timers", func() bool { return h.r.Drain(time.Millisecond).Left == 0 })
}

// tick advances the clock by one tick and waits until each of cs that is
// connected got that tick's snapshot, and the server heard from it within
// the last 1.5 s (its client pings every second): on a fake clock, time
// must not run ahead of the sockets, or a peer's timeout fires for bytes
// still on their way.
func (h *harness) tick(cs ...*client) {
	h.tb.Helper()
	h.advance(h.s.dt)
	tick := h.s.world.CurrentTick()
	h.until("the tick's snapshots", func() bool {
		for _, c := range cs {
			if c.c.State().Status != session.Connected {
				continue
			}
			if c.lastTick < tick {
				return false
			}
			if p := h.s.sess.Peer(uint32(c.id())); p != nil && h.clock.Now().Sub(p.LastReceived()) > 1500*time.Millisecond {
				return false
			}
		}
		return true
	})
}

// client is a player's client: a session.Client that records the game's
// messages it gets.
type client struct {
	h    *harness
	name string
	c    *session.Client
	sent int // application messages sent

	countOnly bool // count snapshots, decode nothing (allocation tests)
	snaps     int  // snapshot messages received
	names     map[uint16]string
	left      []uint16
	lastTick  uint32
	seen      map[uint16]bool // the players in the snapshots of lastTick
	players   []game.PlayerState
}

// dial starts a client named name; edit, if set, changes its config.
func (h *harness) dial(name string, edit func(*session.ClientConfig)) *client {
	h.tb.Helper()
	c := &client{h: h, name: name, names: map[uint16]string{}, seen: map[uint16]bool{}}
	cfg := session.ClientConfig{
		Addr:        h.s.Addr().String(),
		App:         game.App,
		Hello:       []byte(name),
		NoReconnect: true,
		MaxMessage:  4096,
	}
	if edit != nil {
		edit(&cfg)
	}
	var err error
	if c.c, err = session.Dial(h.r, cfg); err != nil {
		h.tb.Fatal(err)
	}
	handlers := map[game.MsgType]func([]byte) error{
		game.MsgSnapshot:   c.snapshot,
		game.MsgPlayerInfo: c.playerInfo,
		game.MsgPlayerLeft: c.playerLeft,
	}
	for t, f := range handlers {
		if err := c.c.Handle(byte(t), f); err != nil {
			h.tb.Fatal(err)
		}
	}
	return c
}

// join dials and waits until the client is welcomed.
func (h *harness) join(name string) *client {
	h.tb.Helper()
	c := h.dial(name, nil)
	h.until(name+" welcomed", func() bool {
		st := c.c.State()
		if st.Status == session.Disconnected {
			h.tb.Fatalf("%s: %v %q %v", name, st.Cause, st.Reason, st.Err)
		}
		return st.Status == session.Connected
	})
	return c
}

// refused dials and returns the state the client ended in.
func (h *harness) refused(name string, edit func(*session.ClientConfig)) session.State {
	h.tb.Helper()
	c := h.dial(name, edit)
	h.until(name+" refused", func() bool { return c.c.State().Status == session.Disconnected })
	return c.c.State()
}

func (c *client) id() uint16 { return uint16(c.c.ID()) }

func (c *client) snapshot(p []byte) error {
	c.snaps++
	if c.countOnly {
		return nil
	}
	s, err := game.DecodeSnapshot(p, c.players[:0])
	if err != nil {
		return err
	}
	c.players = s.Players
	if s.Tick != c.lastTick {
		c.lastTick = s.Tick
		clear(c.seen)
	}
	for _, pl := range s.Players {
		c.seen[pl.ID] = true
	}
	return nil
}

func (c *client) playerInfo(p []byte) error {
	m, err := game.Decode(p)
	if err != nil {
		return err
	}
	pi := m.(game.PlayerInfo)
	c.names[pi.ID] = pi.Name
	return nil
}

func (c *client) playerLeft(p []byte) error {
	m, err := game.Decode(p)
	if err != nil {
		return err
	}
	c.left = append(c.left, m.(game.PlayerLeft).ID)
	return nil
}

// send sends payload (a message of package game) to the server.
func (c *client) send(payload []byte) {
	c.h.tb.Helper()
	b := append(c.c.Begin(payload[0])[:0], payload...)
	if err := c.c.Send(b); err != nil {
		c.h.tb.Fatalf("%s: send: %v (%+v)", c.name, err, c.c.State())
	}
	c.sent++
}

// input sends an Input and waits until the server handled it (or ended the
// session).
func (c *client) input(seq uint32, buttons uint8) {
	c.h.tb.Helper()
	b := game.AppendInput(c.c.Begin(byte(game.MsgInput))[:0], game.Input{PlayerID: c.id(), Seq: seq, Buttons: buttons})
	if err := c.c.Send(b); err != nil {
		c.h.tb.Fatalf("%s: send: %v (%+v)", c.name, err, c.c.State())
	}
	c.sent++
	c.handled()
}

// handled waits until the server handled every message c sent, or ended
// c's session.
func (c *client) handled() {
	c.h.tb.Helper()
	c.h.until(c.name+"'s messages handled", func() bool {
		p := c.h.s.sess.Peer(uint32(c.id()))
		if p == nil || p.Gone() {
			return true
		}
		in, _ := p.Messages()
		return in >= uint64(c.sent)
	})
}

// inWorld reports whether the server still has c's player.
func (c *client) inWorld() bool {
	_, ok := c.h.s.world.Player(c.id())
	return ok
}

// kicked waits until c is disconnected and returns the server's words;
// it fails the test unless the server kicked c (Server.Kick, or a handler's
// error: session.CauseProtocol, with the error's text).
func (c *client) kicked() string {
	c.h.tb.Helper()
	c.h.until(c.name+" disconnected", func() bool { return c.c.State().Status == session.Disconnected })
	st := c.c.State()
	if st.Cause != session.CauseKicked && st.Cause != session.CauseProtocol {
		c.h.tb.Fatalf("%s: disconnected with %v %q %v, want kicked", c.name, st.Cause, st.Reason, st.Err)
	}
	return st.Reason
}
