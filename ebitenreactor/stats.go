package ebitenreactor

import (
	"time"

	"github.com/threadedselect/reactor/core"
)

// Frame records what the plugin did with the reactor at the start of one
// tick: how long the drain took against its budget, how much work ran and
// was left, and the reactor's counters afterwards. Frames are kept in a
// ring (see (*Game).Frames) that is written in place, so recording one
// allocates nothing.
type Frame struct {
	Seq     uint64        // tick number since Wrap, from 1
	At      time.Time     // when the drain began (wall clock, monotonic)
	Budget  time.Duration // the budget the drain was given
	Elapsed time.Duration // time the drain took (wall clock)
	// CPU is the CPU time the game's thread spent in the drain, where the
	// platform can tell (0 elsewhere). Elapsed − CPU is time the operating
	// system gave to other threads meanwhile: on a machine with more
	// runnable threads than cores a drain can overrun its budget although
	// its own work did not.
	CPU       time.Duration
	Ran       int        // callbacks run
	Left      int        // work still queued afterwards (runs first next tick)
	Depth     int        // ring entries queued when the drain began
	HighWater int        // the most ring entries ever queued at once
	Stopping  bool       // the reactor's shutdown was under way
	Stats     core.Stats // the reactor's counters after the drain
}

// Preempted returns Elapsed − CPU: how long the drain's thread was not
// running during the drain (0 where CPU time is unknown).
func (f Frame) Preempted() time.Duration {
	if f.CPU <= 0 || f.CPU > f.Elapsed {
		return 0
	}
	return f.Elapsed - f.CPU
}

// Over reports whether the drain took longer than its budget.
func (f Frame) Over() bool { return f.Elapsed > f.Budget }

// history is a fixed ring of Frames. Game goroutine only.
type history struct {
	buf  []Frame
	next int    // index the next record goes to
	n    int    // records held, up to len(buf)
	seq  uint64 // records ever written
}

func newHistory(n int) history { return history{buf: make([]Frame, n)} }

// push returns the slot for the next record, to be filled in place (a
// Frame is a few hundred bytes: no copy through the stack).
func (h *history) push() *Frame {
	f := &h.buf[h.next]
	h.next++
	if h.next == len(h.buf) {
		h.next = 0
	}
	if h.n < len(h.buf) {
		h.n++
	}
	h.seq++
	f.Seq = h.seq
	return f
}

// len returns the number of records held.
func (h *history) len() int { return h.n }

// at returns the i-th record, 0 the oldest held. i must be in [0, len).
func (h *history) at(i int) *Frame {
	j := h.next - h.n + i
	if j < 0 {
		j += len(h.buf)
	}
	return &h.buf[j]
}

// last returns the newest record, or nil.
func (h *history) last() *Frame {
	if h.n == 0 {
		return nil
	}
	return h.at(h.n - 1)
}

// LastFrame returns the record of the latest tick (the zero Frame before
// the first). Game goroutine only.
func (g *Game) LastFrame() Frame {
	if f := g.hist.last(); f != nil {
		return *f
	}
	return Frame{}
}

// Frames appends the kept per-tick records to dst, oldest first, and
// returns the extended slice; with cap(dst) at least the history length
// (WithHistory) it allocates nothing. Game goroutine only (or after
// RunGame returned).
func (g *Game) Frames(dst []Frame) []Frame {
	for i := 0; i < g.hist.len(); i++ {
		dst = append(dst, *g.hist.at(i))
	}
	return dst
}
