package core

import "time"

// budget tracks the time a Drain may spend. The clock is read after the
// first item and then at a stride scaled to how long items take and how much
// time is left, so that fast items cost no clock read each and the overshoot
// past the deadline stays within about one item.
type budget struct {
	limit    time.Duration // <= 0: one round, no clock reads
	start    time.Time
	deadline time.Time
	ran      int
	next     int
	over     bool
}

const maxStride = 64

func (b *budget) tick() bool {
	b.ran++
	if b.limit <= 0 || b.ran < b.next {
		return false
	}
	now := time.Now()
	if !now.Before(b.deadline) {
		b.over = true
		return true
	}
	stride := maxStride
	if per := now.Sub(b.start) / time.Duration(b.ran); per > 0 {
		if s := int(b.deadline.Sub(now) / (2 * per)); s < stride {
			stride = max(s, 1)
		}
	}
	b.next = b.ran + stride
	return false
}

// rounds runs rounds until nothing is left or the budget is spent; with no
// budget, exactly one. It returns how many items ran. Main thread.
func (r *Reactor) rounds(limit time.Duration) int {
	b := budget{limit: limit, next: 1}
	if limit > 0 {
		b.start = time.Now()
		b.deadline = b.start.Add(limit)
	}
	defer func() { r.stats.ran.Add(uint64(b.ran)) }()
	for {
		complete := r.runRound(&b)
		if !complete || limit <= 0 || r.loop.Load() == nil || !r.hasWork() {
			break
		}
		if b.over || !time.Now().Before(b.deadline) {
			break
		}
	}
	return b.ran
}

// runRound runs one round on the main thread: requests (poller failure,
// Stop, Crash), the timers due at its start, the ring entries queued at its
// start, then thread calls the main thread set aside on a full ring. Work
// queued during the round waits for the next one (Twisted's
// runUntilCurrent). It returns false if the budget ran out first.
func (r *Reactor) runRound(b *budget) bool {
	r.inRound = true
	defer func() { r.inRound = false }()
	l := r.loop.Load()
	r.handleFailure(l)
	if r.loop.Load() != l || l == nil {
		return true
	}

	// Timers due now; calls scheduled during the round wait for the next.
	now := r.now()
	limit := r.timerSeq
	for c := r.timers.peek(); c != nil && !c.when.After(now) && c.seq <= limit; c = r.timers.peek() {
		r.timers.pop()
		fn := c.fn
		if c.every > 0 {
			// Rescheduled before it runs, so that it can cancel or reset
			// itself; it is after the round's limit, so not run twice.
			next := c.when.Add(c.every)
			if !next.After(now) {
				next = c.when.Add((now.Sub(c.when)/c.every + 1) * c.every)
			}
			r.schedule(c, next)
		} else {
			c.state = callCalled
			c.fn = nil
		}
		r.safeCall("timer", fn)
		if r.loop.Load() != l {
			return true
		}
		if b.tick() {
			return false
		}
	}

	// Ring entries committed at the start of the round. A Stop seen before
	// the snapshot was requested after every call in it was committed (the
	// requester pushed first); one requested later is acted on only when
	// nothing committed is left, so work queued before a Stop always runs
	// first, whichever goroutine queued it.
	stopSeen := r.stopReq.Load()
	end := r.ring.snapshot()
	total := end - r.ring.head.Load()
	var k uint64 // taken since the last release
	for taken := uint64(0); taken < total; taken++ {
		it := *r.ring.at(k) // committed: it is before the snapshot
		k++
		if k == maxStride {
			r.ring.release(k)
			k = 0
		}
		if it.h != nil {
			it.h.owner.dispatch(r, it.h)
		} else {
			r.safeCall("CallFromThread", it.fn)
		}
		if r.loop.Load() != l {
			r.ring.release(k)
			return true
		}
		if b.tick() {
			r.ring.release(k)
			return false
		}
	}
	r.ring.release(k)

	// Thread calls the main thread made while the ring was full.
	if n := len(r.overflow); n > 0 {
		for i := 0; i < n; i++ {
			f := r.overflow[i]
			r.overflow[i] = nil
			r.safeCall("CallFromThread", f)
			if r.loop.Load() != l || (b.tick() && i+1 < n) {
				rest := copy(r.overflow, r.overflow[i+1:])
				r.overflow = r.overflow[:rest]
				r.overN.Store(int32(rest))
				return r.loop.Load() != l
			}
		}
		rest := copy(r.overflow, r.overflow[n:])
		clear(r.overflow[rest:])
		r.overflow = r.overflow[:rest]
		r.overN.Store(int32(rest))
	}
	r.handleRequests(l, stopSeen)
	return true
}

// handleRequests acts, at the end of a round, on what other goroutines
// (or callbacks) asked for: a poller failure, Stop, Crash. Work queued
// before Stop has run by then (Twisted runs the shutdown after the
// iteration's I/O, thread calls and timers too). stopSeen says whether a
// Stop had been requested when the round took its snapshot of the ring.
func (r *Reactor) handleRequests(l *loop, stopSeen bool) {
	if l == nil || r.handleFailure(l) {
		return
	}
	if r.stopReq.Load() && (stopSeen || r.ring.committed() == 0) && r.stopReq.CompareAndSwap(true, false) {
		r.shutStart = r.now()
		r.fireEvent(Shutdown, r.finishShutdown)
	}
	if r.crashReq.Load() && r.loop.Load() == l {
		r.crashReq.Store(false)
		r.running.Store(false)
		r.state.Store(int32(stateIdle))
		r.teardown()
	}
}

// handleFailure shuts the reactor down at once if the poller failed; it
// reports whether it did.
func (r *Reactor) handleFailure(l *loop) bool {
	if l == nil {
		return false
	}
	if pe := r.failure.Load(); pe != nil && !r.failHandled {
		r.failHandled = true
		l.dead = true
		r.log.Error("reactor: poller failed; shutting down", "backend", pe.Backend, "op", pe.Op, "err", pe.Err)
		r.stopReq.Store(false)
		r.state.Store(int32(stateStopping))
		ev := r.event(Shutdown)
		if !ev.firing {
			r.shutStart = r.now()
			r.fireEvent(Shutdown, r.finishShutdown)
		}
		// Nothing can wait on I/O any more: go on at once.
		r.cutEvent(ev, "the poller failed")
		return true
	}
	return false
}
