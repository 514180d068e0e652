package core

import (
	"fmt"
	"math"
	"time"

	"github.com/threadedselect/reactor/internal/goid"
)

// Interleave: Twisted's contract for a foreign event loop. A waker
// goroutine asks the host to run one round on its main thread whenever
// there is work.

// Interleave starts the reactor inside a host's own event loop (Twisted's
// reactor.interleave). waker is called from a background goroutine with a
// function that the host must run on its main thread (a GUI toolkit's
// CallAfter); the reactor does its work, and runs every callback, inside
// that function. There is at most one such function outstanding: waker is
// not called again until the host ran the last one. The startup event fires
// on the calling goroutine before Interleave returns. Register an After
// Shutdown trigger to stop the host loop, or watch Done.
func (r *Reactor) Interleave(waker func(func())) error {
	if waker == nil {
		return fmt.Errorf("%w: nil waker", ErrInvalidArgument)
	}
	return r.begin(modeThreaded, waker)
}

// wakerLoop calls the host's waker whenever there is work (or a timer is
// due), one call at a time.
func (l *loop) wakerLoop() {
	defer close(l.wakerDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		l.parked.Store(true)
		if !l.workPending() {
			var tc <-chan time.Time
			if d := l.deadline.Load(); d != 0 {
				timer.Reset(time.Duration(d - l.r.now().UnixNano()))
				tc = timer.C
			}
			select {
			case <-l.notify:
			case <-tc:
			case <-l.wakerQuit:
				return
			}
			timer.Stop()
		}
		l.parked.Store(false)
		select {
		case <-l.wakerQuit:
			return
		default:
		}
		l.waker(l.runOnceFn)
		select {
		case <-l.ran:
		case <-l.wakerQuit:
			return
		}
	}
}

// workPending is hasWork for the waker goroutine: atomics only.
func (l *loop) workPending() bool {
	r := l.r
	if r.ring.Depth() > 0 || r.overN.Load() > 0 || r.carryN.Load() > 0 || r.soonN.Load() > 0 ||
		r.stopReq.Load() || r.crashReq.Load() || r.failure.Load() != nil {
		return true
	}
	d := l.deadline.Load()
	return d != 0 && d <= r.now().UnixNano()
}

// runOnce is what the host runs on its main thread for Interleave: one
// round of work.
func (l *loop) runOnce() {
	r := l.r
	if r.loop.Load() == l && !r.inRound {
		r.mainG.Store(goid.Read(&r.gbuf))
		r.rounds(0)
		if r.loop.Load() == l {
			l.storeDeadline()
		}
	}
	select {
	case l.ran <- struct{}{}:
	default:
	}
}

// unixNanoClamped is t.UnixNano for the waker goroutine's deadline, clamped
// to what an int64 holds: UnixNano is undefined after the year 2262, and a
// timer scheduled that far (CallLater with the largest Duration) must not
// look due (Twisted's test_distantDelayedCall).
func unixNanoClamped(t time.Time) int64 {
	const maxSec = math.MaxInt64 / int64(time.Second)
	switch s := t.Unix(); {
	case s >= maxSec:
		return math.MaxInt64
	case s <= -maxSec:
		return math.MinInt64 + 1
	}
	return t.UnixNano()
}
