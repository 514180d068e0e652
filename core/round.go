package core

import "time"

// budget is the time a Drain may spend. The clock is read after every
// callback (a monotonic read costs tens of nanoseconds, a callback's work
// is what the budget is for), so Drain overshoots by at most the callback
// that was running when the budget ran out: a stride learned from cheap
// items would let an expensive one after them run unobserved.
type budget struct {
	limit time.Duration // <= 0: one round, no clock reads
	start time.Time
	over  bool
	ran   *uint64 // the reactor's callback count
	ran0  uint64  // its value when the Drain began
}

// spent reports whether the budget has run out; false without a budget.
func (b *budget) spent() bool {
	if b.limit <= 0 {
		return false
	}
	// At least one callback runs in every Drain that has work: a budget
	// used up before the first (a GC pause, a descheduled thread) must not
	// starve the queue frame after frame.
	if !b.over && *b.ran != b.ran0 && time.Since(b.start) >= b.limit {
		b.over = true
	}
	return b.over
}

// budgetSpent is what callbacks that can stop part-way (PartialProtocol)
// are given: whether the current Drain's budget is spent. Outside a
// budgeted Drain it is always false. Main thread.
func (r *Reactor) budgetSpent() bool {
	return r.budgeted && r.bud.spent()
}

// rounds runs rounds until nothing is left or the budget is spent; with no
// budget, exactly one. It returns how many callbacks ran. Main thread.
func (r *Reactor) rounds(limit time.Duration) int {
	r.bud = budget{limit: limit, ran: &r.ran, ran0: r.ran}
	if limit > 0 {
		r.bud.start = time.Now()
	}
	b := &r.bud
	r.budgeted = true
	ran0 := r.ran
	defer func() {
		r.budgeted = false
		r.stats.ran.Add(r.ran - ran0)
	}()
	for {
		complete := r.runRound(b)
		if !complete || limit <= 0 || r.loop.Load() == nil || !r.hasWork() {
			break
		}
		if b.spent() {
			break
		}
	}
	return int(r.ran - ran0)
}

// runRound runs one round on the main thread: requests (poller failure,
// Stop, Crash), connection losses reported by the program's own calls, the
// timers due at its start, the ring entries queued at its start, then
// thread calls the main thread set aside on a full ring. Work queued during
// the round waits for the next one (Twisted's runUntilCurrent). It returns
// false if the budget ran out first.
func (r *Reactor) runRound(b *budget) bool {
	r.inRound = true
	defer func() { r.inRound = false }()
	l := r.loop.Load()
	r.handleFailure(l)
	if r.loop.Load() != l || l == nil {
		return true
	}
	// A Stop (or Crash) whose work before it has run begins here too, not
	// only at the end of a round: under a flood every round is cut short by
	// the budget, and a shutdown must not wait for the flood to end.
	if r.handleRequests(l); r.loop.Load() != l {
		return true
	}
	if !r.runSoon(b) || b.spent() {
		return false
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
		if b.spent() || !r.runSoon(b) {
			return false
		}
	}

	// Work a budget cut short when the ring had no room for it.
	if n := len(r.carry); n > 0 {
		for i := 0; i < n; i++ {
			h := r.carry[i]
			r.carry[i] = nil
			h.carried = false
			if !h.dead {
				h.owner.dispatch(r, h)
			}
			if r.loop.Load() != l {
				return true
			}
			if b.spent() || !r.runSoon(b) {
				k := copy(r.carry, r.carry[i+1:])
				clear(r.carry[k:])
				r.carry = r.carry[:k]
				r.carryN.Store(int32(k))
				return false
			}
		}
		k := copy(r.carry, r.carry[n:])
		clear(r.carry[k:])
		r.carry = r.carry[:k]
		r.carryN.Store(int32(k))
	}

	// Ring entries committed at the start of the round.
	total := r.ring.Snapshot()
	var k uint64 // taken since the last release
	for taken := uint64(0); taken < total; taken++ {
		it := *r.ring.At(k) // committed: it is before the snapshot
		k++
		if k == releaseBatch {
			r.ring.Release(k)
			k = 0
		}
		if it.h != nil {
			if !it.h.dead {
				it.h.owner.dispatch(r, it.h)
			}
		} else {
			r.safeCall("CallFromThread", it.fn)
		}
		if r.loop.Load() != l {
			r.ring.Release(k)
			return true
		}
		if b.spent() || !r.runSoon(b) {
			r.ring.Release(k)
			return false
		}
	}
	r.ring.Release(k)

	// Thread calls the main thread made while the ring was full.
	if n := len(r.overflow); n > 0 {
		for i := 0; i < n; i++ {
			f := r.overflow[i]
			r.overflow[i] = nil
			r.safeCall("CallFromThread", f)
			if r.loop.Load() != l || ((b.spent() || !r.runSoon(b)) && i+1 < n) {
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
	r.handleRequests(l)
	return true
}

// releaseBatch is how many ring entries the main thread takes before it
// hands their cells back to the producers: one atomic store per batch.
const releaseBatch = 64

// again queues h to be dispatched again because a budget cut its work
// short: at the tail of the ring, behind the work that was queued before
// it, so that one busy connection cannot starve the others; aside if the
// ring is full. Main thread.
func (r *Reactor) again(h *handle) {
	if h.carried || h.dead {
		return
	}
	if old := h.pending.Or(queuedBit); old&queuedBit != 0 {
		return // the poll loop queued an entry for it already
	}
	if r.ring.Push(entry{h: h}) {
		if !r.inRound {
			r.wakeConsumer()
		}
		return
	}
	h.carried = true
	r.carry = append(r.carry, h)
	r.carryN.Store(int32(len(r.carry)))
}

// later runs f on the main thread after the callback that is running now
// returns (at once after it, within the same round), or at the start of the
// next round when called outside one. The reactor uses it so that a
// program's call into a transport (AbortConnection, LoseConnection, Write)
// never runs that connection's ConnectionLost inside the call. Main thread.
func (r *Reactor) later(f func()) {
	r.soon = append(r.soon, f)
	r.soonN.Store(int32(len(r.soon)))
	if !r.inRound {
		if l := r.loop.Load(); l != nil {
			l.wakeConsumer()
		}
	}
}

// runSoon runs what later queued, including what those functions queue,
// as long as the budget b (if any) is not spent; what is left runs first in
// the next round. It reports whether the budget is still unspent. Main
// thread.
func (r *Reactor) runSoon(b *budget) bool {
	i := 0
	for ; i < len(r.soon); i++ {
		if i > 0 && b != nil && b.spent() {
			break
		}
		f := r.soon[i]
		r.soon[i] = nil
		f()
	}
	k := copy(r.soon, r.soon[i:])
	clear(r.soon[k:])
	r.soon = r.soon[:k]
	r.soonN.Store(int32(k))
	return k == 0
}

// handleRequests acts, at the start and the end of a round, on what other
// goroutines (or callbacks) asked for: a poller failure, Stop, Crash.
func (r *Reactor) handleRequests(l *loop) {
	if l == nil || r.handleFailure(l) {
		return
	}
	if r.stopDue() && r.stopReq.CompareAndSwap(true, false) {
		r.stopMarked = false
		r.shutStart = r.now()
		r.fireEvent(Shutdown, r.finishShutdown)
	}
	if r.crashReq.Load() && r.loop.Load() == l {
		r.crashReq.Store(false)
		r.running.Store(false)
		r.state.Store(int32(stateIdle))
		if ev := r.events[Startup]; ev != nil {
			ev.ran = [3]bool{} // it fires again when the reactor restarts
		}
		r.teardown()
	}
}

// stopDue reports whether a requested Stop may begin the shutdown now:
// once every ring entry committed before the main thread first saw the
// request has been taken. Whoever queued a call and then called Stop had
// its call committed first, so work queued before a Stop always runs
// before the Before triggers, whichever goroutine queued it; work queued
// after it (a busy connection queued again by the budget) does not hold
// the shutdown back. Main thread, between rounds' work.
func (r *Reactor) stopDue() bool {
	if !r.stopReq.Load() {
		return false
	}
	if !r.stopMarked {
		r.stopMarked = true
		r.stopMark = r.ring.Head() + r.ring.Snapshot()
	}
	return r.ring.Head() >= r.stopMark
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
