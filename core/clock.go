package core

import (
	"fmt"
	"sync/atomic"
	"time"
)

// A Clock tells the time that timers run by. Implementations must be safe
// for use from any goroutine and must never go backwards.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// FakeClock is a Clock that moves only when told to, for testing timer
// logic without sleeping (Twisted's task.Clock). A reactor using it is woken
// by Advance, so due timers run promptly in Run and Interleave; with Drain,
// the next Drain runs them. Safe for use from any goroutine.
type FakeClock struct {
	start time.Time
	off   atomic.Int64                    // nanoseconds since start
	subs  atomic.Pointer[[]*clockWatcher] // reactors to wake on Advance
}

type clockWatcher struct{ wake func() }

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{start: start} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time { return c.start.Add(time.Duration(c.off.Load())) }

// Advance moves the clock forward by d and wakes the reactors that use it.
// A negative d is an error: clocks never go backwards.
func (c *FakeClock) Advance(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%w: FakeClock cannot go backwards (Advance(%v))", ErrInvalidArgument, d)
	}
	c.off.Add(int64(d))
	if s := c.subs.Load(); s != nil {
		for _, w := range *s {
			w.wake()
		}
	}
	return nil
}

func (c *FakeClock) watch(w *clockWatcher) {
	for {
		old := c.subs.Load()
		var n []*clockWatcher
		if old != nil {
			n = append(n, *old...)
		}
		n = append(n, w)
		if c.subs.CompareAndSwap(old, &n) {
			return
		}
	}
}

func (c *FakeClock) unwatch(w *clockWatcher) {
	for {
		old := c.subs.Load()
		if old == nil {
			return
		}
		var n []*clockWatcher
		for _, x := range *old {
			if x != w {
				n = append(n, x)
			}
		}
		if c.subs.CompareAndSwap(old, &n) {
			return
		}
	}
}

// wakingClock is implemented by clocks that can wake a reactor when their
// time jumps (FakeClock).
type wakingClock interface {
	watch(*clockWatcher)
	unwatch(*clockWatcher)
}
