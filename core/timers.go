package core

import "time"

// DelayedCall is a function scheduled by CallLater (Twisted's
// IDelayedCall). Its methods must be called on the main thread.
type DelayedCall struct {
	r     *Reactor
	fn    func()
	when  time.Time
	seq   uint64 // scheduling order: calls due at the same instant run by it
	index int    // position in the reactor's heap, -1 when not in it
	state callState
	every time.Duration // CallEvery: the interval; 0 for a one-shot call
}

type callState uint8

const (
	callPending callState = iota
	callCalled
	callCancelled
)

func (c *DelayedCall) check() error {
	switch c.state {
	case callCalled:
		return ErrAlreadyCalled
	case callCancelled:
		return ErrAlreadyCancelled
	}
	return nil
}

// Cancel unschedules the call. It returns ErrAlreadyCalled or
// ErrAlreadyCancelled if the call has run or was cancelled.
func (c *DelayedCall) Cancel() error {
	if err := c.check(); err != nil {
		return err
	}
	c.state = callCancelled
	c.r.timers.remove(c)
	c.fn = nil
	return nil
}

// Reset reschedules the call to run d from now. Among calls due at the same
// instant, a reset call runs after those scheduled before the reset.
func (c *DelayedCall) Reset(d time.Duration) error {
	if err := c.check(); err != nil {
		return err
	}
	c.r.timers.remove(c)
	c.r.schedule(c, c.r.now().Add(clampDelay(d)))
	return nil
}

// Delay postpones the call by d (negative d brings it forward, but never
// before now).
func (c *DelayedCall) Delay(d time.Duration) error {
	if err := c.check(); err != nil {
		return err
	}
	c.r.timers.remove(c)
	when := c.when.Add(d) // Add drops the monotonic reading rather than overflow
	if now := c.r.now(); when.Before(now) {
		when = now
	}
	c.r.schedule(c, when)
	return nil
}

// Active reports whether the call is still scheduled: neither run nor
// cancelled. A call made by CallEvery stays active until cancelled.
func (c *DelayedCall) Active() bool { return c.state == callPending }

// Time returns when the call is scheduled to run, by the reactor's clock.
func (c *DelayedCall) Time() time.Time { return c.when }

func clampDelay(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// timerHeap is a min-heap of pending calls by (when, seq), with each call's
// index kept so that Cancel and Reset are O(log n).
type timerHeap []*DelayedCall

func (h timerHeap) less(i, j int) bool {
	a, b := h[i], h[j]
	if !a.when.Equal(b.when) {
		return a.when.Before(b.when)
	}
	return a.seq < b.seq
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) push(c *DelayedCall) {
	c.index = len(*h)
	*h = append(*h, c)
	h.up(c.index)
}

func (h *timerHeap) remove(c *DelayedCall) {
	i := c.index
	if i < 0 || i >= len(*h) || (*h)[i] != c {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	c.index = -1
	if i != last {
		h.down(i)
		h.up(i)
	}
}

func (h timerHeap) peek() *DelayedCall {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

func (h *timerHeap) pop() *DelayedCall {
	c := (*h)[0]
	h.remove(c)
	return c
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h timerHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.swap(i, m)
		i = m
	}
}
