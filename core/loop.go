package core

import (
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

type driveMode uint8

const (
	// modeInline: Run. The main thread polls too, so a headless server
	// pays no hop between threads and no wake-up per batch.
	modeInline driveMode = iota
	// modeThreaded: Start and Interleave. A poll thread waits for
	// readiness and queues work on the ring for the host's main thread.
	modeThreaded
)

// loop is the machinery of one run of the reactor, from start to shutdown
// (or crash): the poller, and the poll thread or waker goroutine if any.
type loop struct {
	r      *Reactor
	p      poller
	mode   driveMode
	events []pollEvent // poll loop only
	// deferred holds handles whose entry found the ring full; the poll loop
	// pushes them before it takes any more readiness. Poll loop only.
	deferred   []*handle
	pushed     bool   // an entry was queued in this batch: wake the consumer. Poll loop only.
	spare      *chunk // a buffer to read into, kept by the poll loop between reads
	spareDgram *dgram
	quit       atomic.Bool
	dead       bool // the poller failed; no more waits (inline mode, main thread)
	pollDone   chan struct{}

	// Interleave.
	waker     func(func())
	parked    atomic.Bool
	notify    chan struct{}
	ran       chan struct{}
	wakerQuit chan struct{}
	wakerDone chan struct{}
	deadline  atomic.Int64 // next timer, as UnixNano by the reactor's clock; 0: none
	runOnceFn func()

	clockW *clockWatcher
}

// queuedBit marks a handle whose entry is on the ring (or deferred), so
// that a descriptor has at most one pending entry at a time.
const queuedBit = 1 << 31

func (l *loop) wakeConsumer() {
	switch {
	case l.mode == modeInline:
		l.p.wake()
	case l.waker != nil:
		if l.parked.Load() && l.parked.CompareAndSwap(true, false) {
			select {
			case l.notify <- struct{}{}:
			default:
			}
		}
	}
}

// deadlineChanged is called on the main thread when the earliest timer
// changed outside a round (a host's own handler called CallLater): the
// Interleave waker goroutine may be sleeping towards a later deadline.
func (l *loop) deadlineChanged() {
	if l.waker == nil {
		return
	}
	l.storeDeadline()
	l.wakeConsumer()
}

func (l *loop) storeDeadline() {
	if c := l.r.timers.peek(); c != nil {
		l.deadline.Store(unixNanoClamped(c.when))
	} else {
		l.deadline.Store(0)
	}
}

// enqueue puts h's entry on the ring, or aside if the ring is full. Poll
// loop only; the caller has set h's queued bit.
func (l *loop) enqueue(h *handle) {
	if len(l.deferred) == 0 && l.r.ring.push(entry{h: h}) {
		l.pushed = true
		return
	}
	l.deferred = append(l.deferred, h)
}

// flushDeferred pushes set-aside entries, in order; it reports whether all
// went.
func (l *loop) flushDeferred() bool {
	i := 0
	for ; i < len(l.deferred); i++ {
		if !l.r.ring.push(entry{h: l.deferred[i]}) {
			break
		}
		l.pushed = true
	}
	n := copy(l.deferred, l.deferred[i:])
	clear(l.deferred[n:])
	l.deferred = l.deferred[:n]
	return n == 0
}

// handleEvents passes readiness to each registration's poll-side handler.
// Poll loop only.
func (l *loop) handleEvents(evs []pollEvent) {
	r := l.r
	for _, e := range evs {
		if h := r.slots.lookup(e.tok); h != nil {
			h.owner.pollReady(l, h, e.ev)
		}
	}
	if l.pushed {
		l.pushed = false
		if l.mode == modeThreaded {
			l.wakeConsumer()
		}
	}
}

// pollThread is the background poll loop of Start and Interleave. It runs
// no user code: it waits, turns readiness into ring entries, and for
// transports moves bytes between sockets and buffers.
func (l *loop) pollThread() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(l.pollDone)
	var backoff time.Duration
	for !l.quit.Load() {
		room := l.r.ring.free()
		if len(l.deferred) > 0 {
			l.flushDeferred()
			room = 0
			if len(l.deferred) == 0 {
				room = l.r.ring.free()
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
		l.p.prepareSleep()
		if l.quit.Load() {
			l.p.cancelSleep()
			return
		}
		n, err := l.p.wait(l.events[:max], -1)
		if err != nil {
			l.r.pollerFailed(err)
			return
		}
		l.handleEvents(l.events[:n])
	}
}

// idle waits a little for the main thread to make room on the ring,
// backing off up to a millisecond, and keeps a poll(2) set's queued changes
// applied so the main thread never waits on them.
func (l *loop) idle(backoff time.Duration) time.Duration {
	if m, ok := l.p.(interface{ apply() }); ok {
		m.apply()
	}
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

// pollerFailed records a poller error for the main thread, which logs it,
// shuts the reactor down and returns it from Run (and Err). Any goroutine.
func (r *Reactor) pollerFailed(err error) {
	pe, ok := err.(*PollerError)
	if !ok {
		pe = &PollerError{Backend: r.Backend(), Op: "wait", Err: err}
	}
	r.failure.CompareAndSwap(nil, pe)
	r.wakeConsumer()
}

// begin starts a run: checks state, makes the poller, registers what was
// added before, starts the poll thread and waker goroutine as the mode
// needs, and fires the startup event.
func (r *Reactor) begin(mode driveMode, waker func(func())) error {
	switch reactorState(r.state.Load()) {
	case stateStopping, stateStopped:
		return ErrNotRestartable
	case stateStarting, stateRunning:
		return ErrAlreadyRunning
	}
	if !r.state.CompareAndSwap(int32(stateIdle), int32(stateStarting)) {
		return ErrAlreadyRunning
	}
	p, err := newPoller(r.cfg.backend)
	if err != nil {
		r.state.Store(int32(stateIdle))
		return err
	}
	if r.cfg.wrapPoller != nil {
		p = r.cfg.wrapPoller(p)
	}
	if d, ok := p.(interface{ setDirect(bool) }); ok {
		d.setDirect(mode == modeInline)
	}
	l := &loop{r: r, p: p, mode: mode, events: make([]pollEvent, 256)}
	r.mainG.Store(goid(&r.gbuf))
	r.crashReq.Store(false)
	r.slots.each(func(h *handle) {
		if err := p.add(h.fd, h.token(), h.want, h.oneshot); err != nil {
			h.registerErr = err
			return
		}
		h.inKernel = true
	})
	if wc, ok := r.clock.(wakingClock); ok {
		l.clockW = &clockWatcher{wake: l.wakeConsumer}
		wc.watch(l.clockW)
	}
	if waker != nil {
		l.waker = waker
		l.notify = make(chan struct{}, 1)
		l.ran = make(chan struct{}, 1)
		l.wakerQuit = make(chan struct{})
		l.wakerDone = make(chan struct{})
		l.runOnceFn = l.runOnce
		l.storeDeadline()
	}
	if mode == modeThreaded {
		l.pollDone = make(chan struct{})
	}
	r.loop.Store(l)
	if mode == modeThreaded {
		go l.pollThread()
	}
	if waker != nil {
		go l.wakerLoop()
	}
	r.fireEvent(Startup, nil)
	r.loseUnregistered()
	return nil
}

// startupDuring is the reactor's own During-startup step: it runs before
// the program's During triggers.
func (r *Reactor) startupDuring() {
	r.state.CompareAndSwap(int32(stateStarting), int32(stateRunning))
	r.running.Store(true)
}

// Run runs the reactor on the calling goroutine until its shutdown
// sequence has finished (Twisted's reactor.run). The calling goroutine is
// the main thread: it waits for readiness itself, so a headless server pays
// for no hand-off between threads; it sleeps while idle and wakes within
// microseconds of CallFromThread or Stop. Run returns nil after a clean
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
		max := min(r.ring.free(), len(l.events))
		if max <= 0 {
			continue
		}
		if timeout != 0 {
			l.p.prepareSleep()
			if r.hasWork() {
				l.p.cancelSleep()
				timeout = 0
			}
		}
		n, err := l.p.wait(l.events[:max], timeout)
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
	if r.ring.depth() > 0 || r.overN.Load() > 0 || len(r.carry) > 0 || len(r.soon) > 0 || r.stopReq.Load() || r.crashReq.Load() {
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

// Start starts the reactor for a host that drives it by calling Drain
// (every frame, in a game): it fires the startup event on the calling
// goroutine and starts the poll thread, then returns. Errors:
// ErrAlreadyRunning, ErrNotRestartable, or the poller's.
func (r *Reactor) Start() error { return r.begin(modeThreaded, nil) }

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
	if r.ring.depth() > 0 || r.overN.Load() > 0 || r.carryN.Load() > 0 || r.soonN.Load() > 0 ||
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
		r.mainG.Store(goid(&r.gbuf))
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
		st.Left = r.ring.depth()
		st.HighWater = r.ring.highWater()
		return st
	}
	r.mainG.Store(goid(&r.gbuf))
	st.Depth = r.ring.depth()
	start := time.Now()
	st.Ran = r.rounds(budget)
	st.Elapsed = time.Since(start)
	st.Left = r.ring.depth() + len(r.overflow) + len(r.carry) + len(r.soon) + r.dueTimers()
	st.HighWater = r.ring.highWater()
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
