package gameserver

import (
	"testing"
	"time"

	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/internal/testutil"
)

// A player whose connection breaks keeps its id and its place in the world
// for the grace period: its client, reconnecting by itself, gets the same
// player back (logged msg=detach, then msg=resume; no leave, no second
// join). After the grace period the player leaves, and the client joins as
// a new player. A client that closes its connection without a goodbye
// leaves at once.
func TestResume(t *testing.T) {
	const grace = 2 * time.Second
	h := newHarness(t, Config{Grace: grace})
	px := testutil.NewProxy(t, h.s.Addr().String())
	const retry = 500 * time.Millisecond
	a := h.dial("alice", func(c *session.ClientConfig) {
		c.Addr = px.Addr()
		c.NoReconnect = false
		c.Backoff = session.Backoff{Initial: retry, Max: retry, Jitter: -1}
	})
	h.until("alice welcomed", func() bool { return a.c.State().Status == session.Connected })
	b := h.join("bob")
	id := a.id()
	for seq := uint32(1); seq <= 10; seq++ {
		a.input(seq, 0x1) // move a little
		h.advance(h.s.dt)
	}
	before, _ := h.s.world.Player(id)

	px.Cut()
	h.until("alice detached", func() bool {
		return h.s.sess.Stats().Detached == 1 && a.c.State().Status == session.Reconnecting
	})
	if !a.inWorld() || len(h.logs.Lines("msg=detach", "name=alice", "grace=2s")) != 1 {
		t.Fatalf("after the cut: in the world %v; log:\n%s", a.inWorld(), h.logs)
	}
	snaps := b.snaps
	h.advance(h.s.dt)
	h.until("bob's snapshot", func() bool { return b.snaps > snaps })
	if !b.seen[id] {
		t.Fatal("bob no longer sees alice while she is away")
	}
	h.advance(retry)
	h.until("alice back", func() bool { return a.c.State().Status == session.Connected })
	st := a.c.State()
	after, _ := h.s.world.Player(id)
	if !st.Resumed || st.ID != uint32(id) || st.Connects != 2 || after.X != before.X || after.Y != before.Y {
		t.Fatalf("back: resumed=%v id=%d (was %d) connects=%d; at %v,%v (was %v,%v)", st.Resumed, st.ID, id, st.Connects, after.X, after.Y, before.X, before.Y)
	}
	if len(h.logs.Lines("msg=resume", "name=alice")) != 1 || len(h.logs.Lines("msg=join", "name=alice")) != 1 || len(h.logs.Lines("msg=leave")) != 0 {
		t.Fatalf("log:\n%s", h.logs)
	}
	h.until("alice's names", func() bool { return len(a.names) == 2 })

	// Away for longer than the grace period: a new player.
	px.Pause()
	px.Cut()
	h.until("alice detached again", func() bool { return h.s.sess.Stats().Detached == 1 })
	for i := 0; i < 30 && a.inWorld(); i++ {
		h.advance(100 * time.Millisecond)
	}
	if a.inWorld() {
		t.Fatal("alice still in the world after the grace period")
	}
	if len(h.logs.Lines("msg=leave", "name=alice", "not resumed within 2s")) != 1 {
		t.Fatalf("no leave line:\n%s", h.logs)
	}
	if h.until("bob told", func() bool { return len(b.left) == 1 }); b.left[0] != id {
		t.Fatalf("bob was told %v left", b.left)
	}
	px.Resume()
	for i := 0; i < 20 && a.c.State().Status != session.Connected; i++ {
		h.advance(retry)
		h.until("an attempt", func() bool {
			s := a.c.State().Status
			return s == session.Connected || !a.c.State().NextAttempt.IsZero()
		})
	}
	h.until("alice back as a new player", func() bool { return a.c.State().Status == session.Connected })
	if st := a.c.State(); st.Resumed || st.Connects != 3 || len(h.logs.Lines("msg=join", "name=alice")) != 2 {
		t.Fatalf("back after the grace period: resumed=%v connects=%d; log:\n%s", st.Resumed, st.Connects, h.logs)
	}

	// Closed without a goodbye (the proxy closes its side to the server
	// cleanly when the client's side ends: a client process that exited):
	// gone at once.
	c := h.dial("carol", func(c *session.ClientConfig) { c.Addr = px.Addr() })
	h.until("carol welcomed", func() bool { return c.c.State().Status == session.Connected })
	c.c.Close()
	h.until("carol gone", func() bool { return !c.inWorld() })
	if len(h.logs.Lines("msg=leave", "name=carol", "reason=closed")) != 1 || len(h.logs.Lines("msg=detach", "name=carol")) != 0 {
		t.Fatalf("log:\n%s", h.logs)
	}
}
