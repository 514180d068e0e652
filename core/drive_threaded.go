package core

import (
	"runtime"
	"time"

	"github.com/threadedselect/reactor/internal/goid"
)

// Start and Drain: a poll thread waits for readiness and queues work on
// the ring; the host's main thread drains it every frame, within a budget.

// pollThread is the background poll loop of Start and Interleave. It runs
// no user code: it waits, turns readiness into ring entries, and for
// transports moves bytes between sockets and buffers.
func (l *loop) pollThread() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(l.pollDone)
	var backoff time.Duration
	for !l.quit.Load() {
		room := l.r.ring.Free()
		if len(l.deferred) > 0 {
			l.flushDeferred()
			room = 0
			if len(l.deferred) == 0 {
				room = l.r.ring.Free()
			}
		}
		if l.pushed {
			l.pushed = false
			l.wakeConsumer()
		}
		if room <= 0 {
			// The main thread is behind: take no more readiness until it
			// frees room (TCP pushes back on the peers meanwhile).
			backoff = l.idle(backoff)
			continue
		}
		backoff = 0
		max := min(room, len(l.events))
		l.p.PrepareSleep()
		if l.quit.Load() {
			l.p.CancelSleep()
			return
		}
		n, err := l.p.Wait(l.events[:max], -1)
		if err != nil {
			l.r.pollerFailed(err)
			return
		}
		l.handleEvents(l.events[:n])
	}
}

// idle waits a little for the main thread to make room on the ring,
// backing off up to a millisecond.
func (l *loop) idle(backoff time.Duration) time.Duration {
	l.wakeConsumer()
	switch {
	case backoff == 0:
		backoff = 10 * time.Microsecond
	case backoff < time.Millisecond:
		backoff *= 2
	}
	time.Sleep(backoff)
	return backoff
}

// Start starts the reactor for a host that drives it by calling Drain
// (every frame, in a game): it fires the startup event on the calling
// goroutine and starts the poll thread, then returns. Errors:
// ErrAlreadyRunning, ErrNotRestartable, or the poller's.
func (r *Reactor) Start() error { return r.begin(modeThreaded, nil) }

// DrainStats describes one Drain.
type DrainStats struct {
	Ran       int           // callbacks run: DataReceived and other protocol calls, descriptor callbacks, thread calls, timers
	Left      int           // work still queued when Drain returned (it runs first next time)
	Elapsed   time.Duration // time spent in Drain
	Budget    time.Duration // the budget Drain was given
	Depth     int           // ring entries queued when Drain began
	HighWater int           // the most ring entries ever seen queued at once
	Finished  bool          // the shutdown sequence has finished: stop calling Drain
}

// Drain runs queued work on the calling goroutine, which is the main
// thread: descriptor and connection events, thread calls and due timers,
// until nothing is queued or budget is spent, whichever comes first. What
// is left stays queued, in order, for the next call. budget <= 0 runs one
// round: what was queued when Drain was called and the timers then due, and
// never blocks. The clock is read after every callback (every DataReceived,
// timer, thread call), and a PartialProtocol (framing.Protocol) is told
// between its messages when the budget is spent, so Drain overshoots its
// budget by at most the one callback, or message, that was running when the
// budget ran out. What a connection still has queued stays queued, in
// order, behind the work queued before it.
//
// Drain is the waker target of frame-based hosts (a game's Update): call
// Start once, then Drain every frame. Calling it before Start, after the
// shutdown, or from inside a callback does nothing.
func (r *Reactor) Drain(budget time.Duration) DrainStats {
	st := DrainStats{Budget: budget, Finished: r.finished}
	if r.inRound || r.loop.Load() == nil {
		st.Left = r.ring.Depth()
		st.HighWater = r.ring.HighWater()
		return st
	}
	r.mainG.Store(goid.Read(&r.gbuf))
	st.Depth = r.ring.Depth()
	start := time.Now()
	st.Ran = r.rounds(budget)
	st.Elapsed = time.Since(start)
	st.Left = r.ring.Depth() + len(r.overflow) + len(r.carry) + len(r.soon) + r.dueTimers()
	st.HighWater = r.ring.HighWater()
	st.Finished = r.finished
	return st
}

func (r *Reactor) dueTimers() int {
	now := r.now()
	n := 0
	var count func(i int)
	count = func(i int) {
		if i >= len(r.timers) || r.timers[i].when.After(now) {
			return
		}
		n++
		count(2*i + 1)
		count(2*i + 2)
	}
	count(0)
	return n
}
