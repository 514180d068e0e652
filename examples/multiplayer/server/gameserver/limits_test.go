package gameserver

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// Inputs that were sent in real time but arrive together, after a stall of
// the network or of the server, are no flood: the client stays, the excess
// is dropped. Tested for stalls up to the idle timeout.
func TestLateInputsAreNoFlood(t *testing.T) {
	for _, stall := range []time.Duration{1500 * time.Millisecond, 5 * time.Second, 9 * time.Second} {
		t.Run(stall.String(), func(t *testing.T) {
			h := newHarness(t, Config{TickRate: 30})
			c := h.join("p")
			var seq uint32
			// A second of play, one input per tick.
			for range 30 {
				seq++
				c.input(seq, game.ButtonRight)
				h.tick(c)
			}
			// The stall: the client goes on producing inputs, none arrives
			// (its keepalive still does).
			produced := int(stall / h.s.dt)
			for end := h.clock.Now().Add(stall); h.clock.Now().Before(end); {
				h.tick(c)
			}
			// Then all of them at once, and the client plays on.
			for range produced {
				seq++
				c.send(game.AppendInput(nil, game.Input{PlayerID: c.id(), Seq: seq, Buttons: game.ButtonRight}))
			}
			c.handled()
			for range 30 {
				seq++
				c.input(seq, game.ButtonRight)
				h.tick(c)
			}
			if !c.inWorld() || c.c.State().Status != session.Connected {
				t.Fatalf("kicked after a %v stall: %+v", stall, c.c.State())
			}
			st := h.s.Stats()
			if st.InputsDropped == 0 || st.InputsApplied < 60 {
				t.Fatalf("after the burst: %+v", st)
			}
		})
	}
}

// A flood is still a flood: inputs numbered ahead of the clock disconnect
// at once; inputs repeating an old number disconnect once they exceed what
// a stall as long as the idle timeout could queue.
func TestInputFloodByClaims(t *testing.T) {
	t.Run("ahead of the clock", func(t *testing.T) {
		h := newHarness(t, Config{TickRate: 30})
		c := h.join("p")
		h.advance(2 * time.Second) // 2s of play allow 2*33 + 30 inputs
		var seq uint32
		for seq < 200 && c.inWorld() {
			seq++
			c.input(seq, game.ButtonUp)
		}
		if reason := c.kicked(); !strings.Contains(reason, "ahead of the clock") || seq != 97 {
			t.Fatalf("kicked with %q at input %d, want at 97", reason, seq)
		}
	})
	t.Run("repeated numbers", func(t *testing.T) {
		h := newHarness(t, Config{TickRate: 30, IdleTimeout: 10 * time.Second})
		c := h.join("p")
		n := 0
		for n < 1000 && c.inWorld() {
			n++
			c.input(1, game.ButtonUp)
		}
		if reason := c.kicked(); !strings.Contains(reason, "flood") || n != 331 {
			t.Fatalf("kicked with %q after %d inputs, want after 331", reason, n)
		}
		if h.s.Stats().InputsStale == 0 {
			t.Fatal("no stale input counted")
		}
	})
}

// Names: invisible, malformed or look-alike names get refused with a
// reason that says why; a client of another version is refused; a name is
// free again once its player left.
func TestNamePolicy(t *testing.T) {
	h := newHarness(t, Config{})
	first := h.join("bot03")
	for _, tc := range []struct{ name, want string }{
		{"bot03", "name in use"},
		{"BOT03", "name in use"},
		{"Bot03", "name in use"},
		{"b\u043et03", "name in use"},                     // Cyrillic о
		{"b0t03", "name in use"},                          // zero for o
		{"\uff42\uff4f\uff54\uff10\uff13", "name in use"}, // fullwidth
		{"\u2800", "bad name"},                            // braille pattern blank
		{"bot03\u2800", "bad name"},                       // ... after a name
		{"\u3164", "bad name"},                            // hangul filler
		{"x\u3164x", "bad name"},                          // ... inside
		{"\u0301", "bad name"},                            // lone combining mark
		{"\u0301bot", "bad name"},                         // leading combining mark
		{"a\u200bb", "bad name"},                          // zero-width space
		{"", "bad name"},                                  // empty
		{" x", "bad name"},                                // leading space
		{"seventeen bytes!!", "bad name"},
		{"\u202eevil", "bad name"}, // bidi override
	} {
		st := h.refused(tc.name, nil)
		if st.Cause != session.CauseRefused || !errors.Is(st.Err, session.ErrRefused) || !strings.Contains(st.Reason, tc.want) {
			t.Errorf("name %q: %v %q %v; want refused with %q", tc.name, st.Cause, st.Reason, st.Err, tc.want)
		}
	}
	for _, ok := range []string{"bot04", "Ölaf", "ツ", "mr. x", "o'neil", "Ω-7"} {
		h.join(ok)
	}
	for _, app := range []string{"arena/7", "arena/65536", "chess/1"} {
		if st := h.refused("x", func(c *session.ClientConfig) { c.App = app }); !errors.Is(st.Err, session.ErrVersion) {
			t.Errorf("app %q: %v %q %v, want a version refusal", app, st.Cause, st.Reason, st.Err)
		}
	}
	if n := len(h.logs.Lines(`msg="session: refuse"`)); n != 17+3 {
		t.Errorf("%d refusals logged, want 20", n)
	}
	// The first bot03 leaves: the name is free.
	bye := first.c.Goodbye()
	h.until("bot03 gone", func() bool {
		select {
		case <-bye:
			return !first.inWorld()
		default:
			return false
		}
	})
	h.join("BOT03")
}

// Lines that peers cause go through the budget: joins and leaves beyond
// the burst are counted, not logged, and one msg=suppressed line a second
// reports them with the session package's own suppressed lines.
func TestPeerLogBudget(t *testing.T) {
	h := newHarness(t, Config{PeerLogRate: 2}) // a burst of 10
	var cs []*client
	for i := range 20 {
		cs = append(cs, h.join(fmt.Sprint("p", i)))
	}
	if n := len(h.logs.Lines("msg=join")); n != 10 {
		t.Fatalf("%d join lines, want the burst of 10", n)
	}
	st := h.s.Stats()
	if st.Joins != 20 || st.LogsSuppressed < 10 {
		t.Fatalf("stats %+v", st)
	}
	h.advance(time.Second) // the tick reports
	sum := h.logs.Lines("msg=suppressed")
	if len(sum) != 1 || !strings.Contains(sum[0], fmt.Sprintf("total=%d", st.LogsSuppressed)) {
		t.Fatalf("summary %q, stats %+v", sum, st)
	}
	// Not again within the second, nor without new suppressed lines.
	h.advance(500 * time.Millisecond)
	h.advance(2 * time.Second)
	if n := len(h.logs.Lines("msg=suppressed")); n != 1 {
		t.Fatalf("%d summaries", n)
	}
	// The budget refilled: 2 a second, 3.5 s after the burst, 7 lines.
	for _, c := range cs[:10] {
		bye := c.c.Goodbye()
		h.until(c.name+" gone", func() bool {
			select {
			case <-bye:
				return !c.inWorld()
			default:
				return false
			}
		})
	}
	if n := len(h.logs.Lines("msg=leave")); n != 7 {
		t.Fatalf("%d leave lines after the refill, want 7", n)
	}
}
