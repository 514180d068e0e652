package core

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/threadedselect/reactor/core/internal/poller"
	"github.com/threadedselect/reactor/internal/goid"
)

// The drivers. A reactor runs in one of three ways (drive_run.go,
// drive_threaded.go, drive_interleave.go); this file is what they share: the
// machinery of one run (loop), its startup (begin), and the poll-side steps
// that turn readiness into ring entries.

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
	p      poller.Poller
	mode   driveMode
	events []poller.Event // poll loop only
	// deferred holds handles whose entry found the ring full; the poll loop
	// pushes them before it takes any more readiness. Poll loop only.
	deferred   []*handle
	pushed     bool   // an entry was queued in this batch: wake the consumer. Poll loop only.
	spare      *chunk // a buffer to read into, kept by the poll loop between reads
	spareDgram *dgram
	quit       atomic.Bool
	dead       bool // the poller failed; no more waits (inline mode, main thread)
	inKernel   int  // registrations in the poller (main thread)

	// Run, when no descriptor is registered (every transport is
	// goroutine-backed): the main thread sleeps on a channel, not in the
	// poller, so that a goroutine's hand-off wakes a parked goroutine (no
	// system call, no thread left blocked in the kernel for the runtime
	// to replace) instead of writing to the poller's wake-up descriptor.
	chanParked atomic.Bool
	chanWake   chan struct{}
	chanTimer  *time.Timer
	watch      *pollWatch // descriptors too: their watcher, made at the first such sleep
	watchTried bool
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
		if l.chanParked.Load() && l.chanParked.CompareAndSwap(true, false) {
			select {
			case l.chanWake <- struct{}{}:
			default:
			}
			return
		}
		l.p.Wake()
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
	if len(l.deferred) == 0 && l.r.ring.Push(entry{h: h}) {
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
		if !l.r.ring.Push(entry{h: l.deferred[i]}) {
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
func (l *loop) handleEvents(evs []poller.Event) {
	r := l.r
	for _, e := range evs {
		if h := r.slots.lookup(e.Tok); h != nil {
			h.owner.pollReady(l, h, e.Ev)
		}
	}
	if l.pushed {
		l.pushed = false
		if l.mode == modeThreaded {
			l.wakeConsumer()
		}
	}
}

// pollerFailed records a poller error for the main thread, which logs it,
// shuts the reactor down and returns it from Run (and Err). Any goroutine.
func (r *Reactor) pollerFailed(err error) {
	r.failure.CompareAndSwap(nil, r.pollerError(err))
	r.wakeConsumer()
}

// pollerError is the *PollerError for what the poller failed with.
func (r *Reactor) pollerError(err error) *PollerError {
	var pe *PollerError
	var e *poller.Error
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &e):
		return &PollerError{Backend: e.Backend, Op: e.Op, Err: e.Err}
	}
	return &PollerError{Backend: r.Backend(), Op: "wait", Err: err}
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
	p, err := r.backend.New()
	if err != nil {
		r.state.Store(int32(stateIdle))
		return r.pollerError(err)
	}
	if r.cfg.wrapPoller != nil {
		p = r.cfg.wrapPoller(p)
	}
	l := &loop{r: r, p: p, mode: mode, events: make([]poller.Event, 256)}
	if mode == modeInline {
		l.chanWake = make(chan struct{}, 1)
	}
	r.mainG.Store(goid.Read(&r.gbuf))
	r.crashReq.Store(false)
	r.slots.each(func(h *handle) {
		if !h.polled() {
			return
		}
		if err := p.Open(h.fd, h.token(), h.want, h.oneshot); err != nil {
			h.registerErr = err
			return
		}
		h.inKernel = true
		l.inKernel++
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

// Mode says how a reactor is driven.
type Mode int32

// The ways to drive a reactor.
const (
	NotDriven     Mode = iota // not started, crashed, or shut down
	DrivenByRun               // Run
	DrivenByDrain             // Start, then Drain
	DrivenByWaker             // Interleave
)

func (m Mode) String() string {
	switch m {
	case DrivenByRun:
		return "run"
	case DrivenByDrain:
		return "drain"
	case DrivenByWaker:
		return "interleave"
	}
	return "not driven"
}

// Mode returns how the reactor is driven now. Safe from any goroutine.
func (r *Reactor) Mode() Mode {
	l := r.loop.Load()
	switch {
	case l == nil:
		return NotDriven
	case l.mode == modeInline:
		return DrivenByRun
	case l.waker != nil:
		return DrivenByWaker
	}
	return DrivenByDrain
}
