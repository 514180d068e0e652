package core

import (
	"fmt"
	"time"
)

// Stop begins the shutdown sequence (Twisted's reactor.stop) and returns at
// once; the sequence runs later on the main thread: Before-shutdown triggers
// (waited on, with I/O and timers still running), then During (every
// descriptor and connection disconnected), then After triggers; then the
// reactor releases its poll thread and descriptors, Run returns and Done is
// closed. Calls whose CallFromThread returned before Stop was called run
// before the Before triggers, whichever goroutines made the two calls. Safe
// from any goroutine. It returns ErrNotRunning if the reactor is not running
// or is already stopping (including from a Before-shutdown trigger).
func (r *Reactor) Stop() error {
	for {
		s := reactorState(r.state.Load())
		switch s {
		case stateIdle:
			return fmt.Errorf("%w: not started (or crashed)", ErrNotRunning)
		case stateStarting:
			return fmt.Errorf("%w: still starting", ErrNotRunning)
		case stateStopping:
			return fmt.Errorf("%w: already stopping", ErrNotRunning)
		case stateStopped:
			return fmt.Errorf("%w: stopped", ErrNotRunning)
		}
		if r.state.CompareAndSwap(int32(s), int32(stateStopping)) {
			break
		}
	}
	r.stopReq.Store(true)
	r.wakeConsumer()
	return nil
}

// Crash stops the reactor at the end of the current round without firing
// any system event (Twisted's reactor.crash): registrations stay, and the
// reactor can be started again. Run returns nil. Main thread only.
func (r *Reactor) Crash() {
	if r.loop.Load() == nil {
		return
	}
	r.crashReq.Store(true)
	r.wakeConsumer()
}

// shutdownDuring is the reactor's own During-shutdown step, run before the
// program's During triggers: the reactor stops running and every
// descriptor and connection is disconnected.
func (r *Reactor) shutdownDuring() {
	r.running.Store(false)
	if r.shutTimer != nil {
		_ = r.shutTimer.Cancel()
		r.shutTimer = nil
	}
	r.disconnectAll(ErrShutdown)
}

// startShutdownTimer arms (or re-arms) the cut-off of a shutdown waiting on
// Before triggers. Main thread.
func (r *Reactor) startShutdownTimer() {
	if r.shutTimer != nil {
		_ = r.shutTimer.Cancel()
		r.shutTimer = nil
	}
	ev := r.events[Shutdown]
	d := time.Duration(r.shutTO.Load())
	if ev == nil || !ev.firing || ev.waiting == 0 || d <= 0 {
		return
	}
	// An absolute deadline: reading the clock twice (for "time left", then
	// in CallLater) could straddle a jump of the clock and push it back.
	c := &DelayedCall{r: r, index: -1, fn: func() {
		r.shutTimer = nil
		r.cutEvent(ev, "shutdown timeout "+d.String())
	}}
	r.schedule(c, r.shutStart.Add(d))
	r.shutTimer = c
}

// finishShutdown ends the sequence after the After triggers ran.
func (r *Reactor) finishShutdown() {
	r.finished = true
	if r.preen != nil {
		_ = r.preen.Cancel()
		r.preen = nil
	}
	r.state.Store(int32(stateStopped))
	close(r.abandon)
	r.teardown()
}

// teardown ends the current run: stops the poll thread and the waker
// goroutine, closes the poller. Registrations are kept (for a restart after
// Crash). Main thread.
func (r *Reactor) teardown() {
	l := r.loop.Load()
	if l == nil {
		return
	}
	r.runSoon(nil) // ConnectionLost of connections closed by the last callbacks
	r.loop.Store(nil)
	l.quit.Store(true)
	if l.mode == modeThreaded && l.pollDone != nil {
		l.p.Wake()
		<-l.pollDone
	}
	if l.clockW != nil {
		r.clock.(wakingClock).unwatch(l.clockW)
	}
	r.slots.each(func(h *handle) { h.inKernel = false })
	if l.watch != nil {
		l.watch.stop()
	}
	if err := l.p.Free(); err != nil {
		r.log.Warn("reactor: closing the poller", "backend", r.Backend(), "err", err)
	}
	if l.waker != nil {
		close(l.wakerQuit)
	}
	if !r.finished {
		return
	}
	// Done is closed once every goroutine the reactor started has ended.
	if l.waker == nil && r.watcherN.Load() == 0 {
		r.doneOnce.Do(func() { close(r.done) })
		return
	}
	go func() {
		if l.waker != nil {
			<-l.wakerDone
		}
		r.watchers.Wait()
		r.doneOnce.Do(func() { close(r.done) })
	}()
}
