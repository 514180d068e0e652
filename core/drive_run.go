package core

import (
	"runtime"
	"time"
)

// Run: the main thread polls too, between rounds, so a headless server
// pays no hop between threads.

// Run runs the reactor on the calling goroutine until its shutdown
// sequence has finished (Twisted's reactor.run). The calling goroutine is
// the main thread: it waits for readiness itself, so a headless server pays
// for no hand-off between threads; it sleeps while idle and wakes within
// microseconds of CallFromThread or Stop. While goroutine-backed
// connections (TLS, WebSocket, adopted ones) are open, it yields to the Go
// scheduler a few times before it sleeps (see handoffSpins), and it sleeps
// as a parked goroutine, not in the kernel: with descriptors registered
// too (epoll), a watcher goroutine waits for them on Go's own poller and
// wakes it (see pollWatch). Run returns nil after a clean
// shutdown or a Crash, the *PollerError that shut it down, ErrAlreadyRunning,
// or ErrNotRestartable.
func (r *Reactor) Run() error {
	if err := r.begin(modeInline, nil); err != nil {
		return err
	}
	l := r.loop.Load()
	for l != nil && r.loop.Load() == l {
		r.rounds(0)
		if r.loop.Load() != l {
			break
		}
		if l.dead {
			continue
		}
		timeout := r.pollTimeout()
		if len(l.deferred) > 0 && !l.flushDeferred() {
			continue // the ring is full: drain before taking more readiness
		}
		if l.inKernel == 0 && r.backend.Descriptors {
			// Nothing for the poller to report: wait on a channel, or
			// not at all. (The portable backend's poller is a channel
			// already.)
			if timeout != 0 && !l.spinForHandoff() {
				l.sleepOnChannel(timeout, nil)
			}
			continue
		}
		max := min(r.ring.Free(), len(l.events))
		if max <= 0 {
			continue
		}
		if timeout != 0 && l.spinForHandoff() {
			timeout = 0
		}
		if timeout != 0 && l.goroutineFed() {
			// Descriptors and goroutine-backed transports both: sleep on
			// the channel, with a watcher for the descriptors (pollWatch),
			// then take what they have without waiting.
			if !l.watchTried {
				l.watchTried = true
				l.watch = newPollWatch(l)
			}
			if l.watch.usable() {
				l.sleepOnChannel(timeout, l.watch)
				timeout = 0
			}
		}
		if timeout != 0 {
			l.p.PrepareSleep()
			if r.hasWork() {
				l.p.CancelSleep()
				timeout = 0
			}
		}
		n, err := l.p.Wait(l.events[:max], timeout)
		if err != nil {
			l.dead = true
			r.pollerFailed(err)
			continue
		}
		l.handleEvents(l.events[:n])
	}
	if e := r.failure.Load(); e != nil && r.finished {
		return e
	}
	return nil
}

// pollTimeout is how long the inline loop may sleep: not at all if work is
// queued, else until the next timer, else until woken.
func (r *Reactor) pollTimeout() time.Duration {
	if r.hasWork() {
		return 0
	}
	if c := r.timers.peek(); c != nil {
		d := c.when.Sub(r.now())
		if d < 0 {
			return 0
		}
		return d
	}
	return -1
}

// hasWork reports whether a round would find something to do now. Main
// thread.
func (r *Reactor) hasWork() bool {
	if r.ring.Depth() > 0 || r.overN.Load() > 0 || len(r.carry) > 0 || len(r.soon) > 0 || r.stopReq.Load() || r.crashReq.Load() {
		return true
	}
	if r.failure.Load() != nil && !r.failHandled {
		return true
	}
	if c := r.timers.peek(); c != nil && !c.when.After(r.now()) {
		return true
	}
	return false
}

// handoffSpins is how many times Run's main thread yields, looking for
// work, before it sleeps while goroutines hand it work (goroutine-backed
// connections: TLS, WebSocket, adopted ones). A reader the network wakes a
// moment later then queues its bytes without waking the main thread, which
// saves a park and a wake-up per message (and often an idle thread's
// wake-up). On the TLS and WebSocket echo (make bench, netbench's secure
// rows) 3 to 5 yields took the reactor from 0.87–0.89× of
// goroutine-per-connection servers to 0.90–0.97×; 8 gave no more. Five
// yields with nothing else to run take about 350 ns here, which a reactor
// going idle spends once per sleep.
const handoffSpins = 5

// spinForHandoff yields up to handoffSpins times while no work is queued,
// if some transport's work comes from a goroutine, and reports whether
// work came. Main thread (Run).
func (l *loop) spinForHandoff() bool {
	if !l.goroutineFed() {
		return false // the poller reports everything: nothing to wait for
	}
	for i := 0; i < handoffSpins; i++ {
		runtime.Gosched()
		if l.r.hasWork() {
			return true
		}
	}
	return false
}

// goroutineFed reports whether some registration is not in the poller: a
// goroutine-backed transport or listener, whose work a goroutine hands
// over. Main thread.
func (l *loop) goroutineFed() bool { return l.r.slots.live > l.inKernel }

// sleepOnChannel is Run's wait when the poller watches no descriptor, or
// when a watcher w stands in for it (pollWatch): the main thread parks on a
// channel until woken (wakeConsumer) or until the timeout (negative: none).
// The handshake is the poller's: mark parked, arm the watcher, check for
// work, then park.
func (l *loop) sleepOnChannel(timeout time.Duration, w *pollWatch) {
	l.chanParked.Store(true)
	if w != nil {
		w.watch()
	}
	if l.r.hasWork() {
		l.unpark()
		return
	}
	if timeout < 0 {
		<-l.chanWake
		return // the waker cleared chanParked
	}
	if l.chanTimer == nil {
		l.chanTimer = time.NewTimer(timeout)
	} else {
		l.chanTimer.Reset(timeout)
	}
	select {
	case <-l.chanWake:
	case <-l.chanTimer.C:
		l.unpark()
	}
	l.chanTimer.Stop()
}

// unpark ends a sleep on the channel that no wake ended: if a waker took
// the parked flag meanwhile, its wake is in the channel or about to be,
// and is taken now, so that the next sleep does not end at once on it.
func (l *loop) unpark() {
	if !l.chanParked.CompareAndSwap(true, false) {
		<-l.chanWake
	}
}
