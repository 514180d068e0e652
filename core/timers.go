package core

import (
	"fmt"
	"time"
)

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

// now is the reactor's clock.
func (r *Reactor) now() time.Time { return r.clock.Now() }

// Now returns the time by the reactor's clock (Twisted's seconds()).
func (r *Reactor) Now() time.Time { return r.clock.Now() }

// CallLater schedules f to run on the main thread after d (Twisted's
// callLater). Calls due at the same instant run in the order they were
// scheduled; a negative d means as soon as possible. Main thread only: from
// another goroutine, use CallFromThread to call CallLater.
func (r *Reactor) CallLater(d time.Duration, f func()) (*DelayedCall, error) {
	if r.cfg.threadCheck {
		r.checkMainThread("CallLater")
	}
	if f == nil {
		return nil, fmt.Errorf("%w: nil function for CallLater", ErrInvalidArgument)
	}
	return r.callLater(d, f), nil
}

// callLater is CallLater for the reactor's own timers.
func (r *Reactor) callLater(d time.Duration, f func()) *DelayedCall {
	c := &DelayedCall{r: r, fn: f, index: -1}
	r.schedule(c, r.now().Add(clampDelay(d)))
	return c
}

// CallEvery runs f on the main thread every interval, the first time one
// interval from now, until the returned call is cancelled (Twisted's
// task.LoopingCall). Its runs keep their cadence; if the reactor falls more
// than an interval behind, the missed runs are skipped: f runs once and the
// next run is on the next multiple of interval. It allocates once, not per
// run. Main thread, or before the reactor starts.
//
// It has no error to check: the returned call is never nil. A nil f or an
// interval that is not positive schedules nothing and is logged at Error
// level through the reactor's logger (the error matches
// ErrInvalidArgument); the call returned then is not Active and its
// Cancel, Reset and Delay return ErrAlreadyCancelled. Like CallLater, a
// call made after the reactor's shutdown has finished is scheduled but
// never runs, since nothing runs the reactor any more.
func (r *Reactor) CallEvery(interval time.Duration, f func()) *DelayedCall {
	if r.cfg.threadCheck {
		r.checkMainThread("CallEvery")
	}
	c := &DelayedCall{r: r, fn: f, index: -1, every: interval}
	if f == nil || interval <= 0 {
		err := fmt.Errorf("%w: CallEvery needs a function and a positive interval", ErrInvalidArgument)
		r.log.Error("reactor: CallEvery refused", "err", err, "interval", interval, "func", funcName(f))
		c.fn, c.state = nil, callCancelled
		return c
	}
	r.schedule(c, r.now().Add(interval))
	return c
}

func (r *Reactor) schedule(c *DelayedCall, when time.Time) {
	r.timerSeq++
	c.when = when
	c.seq = r.timerSeq
	r.timers.push(c)
	if r.timers.peek() == c {
		// A new earliest deadline: a sleeping loop may need to wake sooner.
		if l := r.loop.Load(); l != nil {
			l.deadlineChanged()
		}
	}
}
