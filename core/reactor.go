package core

import (
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/threadedselect/reactor/core/internal/poller"
	"github.com/threadedselect/reactor/core/internal/queue"
	"github.com/threadedselect/reactor/internal/goid"
)

// Reactor is a threaded select reactor: a poll thread waits for readiness
// and hands work to the main thread through a bounded ring on which no
// producer waits for another; every
// callback (descriptor reads and writes, timers, thread calls, system event
// triggers) runs on the main thread, the goroutine that drives the reactor
// with Run, Drain or the function Interleave hands to the host's waker.
//
// Concurrency: Stop, CallFromThread, Running, Done, Err, SetShutdownTimeout
// and Stats are safe from any goroutine. Every other method must be called
// on the main thread (or, before the reactor starts, on the goroutine that
// will drive it).
type Reactor struct {
	cfg     config
	backend poller.Backend
	log     *slog.Logger
	clock   Clock

	// Shared between goroutines.
	state    atomic.Int32 // a reactorState
	running  atomic.Bool
	stopReq  atomic.Bool // Stop was called; the main thread has not begun the shutdown yet
	crashReq atomic.Bool // Crash was called
	ring     *queue.Ring[entry]
	mainG    atomic.Uint64 // goroutine id of the main thread, for CallFromThread on a full ring

	// testHookQueued, tests only (set before Start): called by a
	// goroutine that queues a handle's entry between marking it queued
	// and pushing it, to stop the goroutine in that window.
	testHookQueued func(h *handle, ev interest)
	overN          atomic.Int32 // len(overflow), readable off the main thread
	carryN         atomic.Int32 // len(carry), readable off the main thread
	soonN          atomic.Int32 // len(soon), readable off the main thread
	loop           atomic.Pointer[loop]
	done           chan struct{}
	doneOnce       sync.Once
	failure        atomic.Pointer[PollerError]
	shutTO         atomic.Int64 // shutdown timeout in nanoseconds, 0: none
	watchers       sync.WaitGroup
	watcherN       atomic.Int32
	abandon        chan struct{} // closed when the reactor stops waiting for trigger channels
	stats          counters
	// Buffers, each implementation of the transports its own pools: the
	// poll loop takes from the descriptor-backed ones, goroutines from the
	// goroutine-backed ones.
	chunks   *chunkPools
	dgrams   *ringPool[dgram]
	goChunks *syncPool[chunk]
	goDgrams *syncPool[dgram]
	outPool  outPool // main thread

	// Main thread only.
	gbuf        [64]byte    // for goid on the main thread, so Drain allocates nothing
	overflow    []func()    // thread calls from the main thread that found the ring full
	carry       []*handle   // work a budget cut short that found the ring full
	soon        []func()    // run after the current callback (see later)
	bud         budget      // the running Drain's budget, while budgeted
	budgeted    bool        // inside rounds (Drain, Run, the waker's function)
	ran         uint64      // callbacks run, for DrainStats and Stats
	spentFn     func() bool // r.budgetSpent, bound once
	timers      timerHeap
	timerSeq    uint64
	events      map[string]*sysEvent
	triggerSeq  uint64
	slots       slotTable
	raw         map[Descriptor]*handle
	rawSeq      uint64
	preen       *DelayedCall
	shutTimer   *DelayedCall
	finished    bool // the shutdown sequence has run to its end
	inRound     bool // the main thread is running a round (no re-entry)
	stopMarked  bool // a Stop was seen; stopMark is where the ring stood then
	stopMark    uint64
	failHandled bool
	shutStart   time.Time
}

type reactorState int32

const (
	stateIdle     reactorState = iota // never started, or crashed
	stateStarting                     // startup fired, Before triggers pending
	stateRunning
	stateStopping // Stop was called; shutdown pending or under way
	stateStopped  // the shutdown sequence finished; cannot restart
)

// entry is one item of work on the ring: either readiness of a registered
// descriptor (h) or a thread call (fn). It is a value, so queueing one
// allocates nothing.
type entry struct {
	h  *handle
	fn func()
}

// New makes a reactor. It acquires no operating-system resources until it
// starts (Run, Interleave or Start); they are all released when its
// shutdown ends.
func New(opts ...Option) (*Reactor, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Reactor{
		cfg:      cfg,
		log:      cfg.logger,
		clock:    cfg.clock,
		ring:     queue.NewRing[entry](cfg.ringSize),
		done:     make(chan struct{}),
		abandon:  make(chan struct{}),
		events:   make(map[string]*sysEvent),
		raw:      make(map[Descriptor]*handle),
		chunks:   newChunkPools(),
		dgrams:   newRingPool(1024, newDgram),
		goChunks: newSyncPool(newChunk),
		goDgrams: newSyncPool(newDgram),
		outPool:  outPool{max: 64},
	}
	r.backend, _ = findBackend(cfg.backend) // validated
	if r.log == nil {
		r.log = slog.Default()
	}
	r.spentFn = r.budgetSpent
	if r.clock == nil {
		r.clock = systemClock{}
	}
	r.shutTO.Store(int64(cfg.shutdownTimeout))
	r.mainG.Store(goid.Read(&r.gbuf))
	return r, nil
}

// Backend returns the name of the poller backend the reactor uses.
func (r *Reactor) Backend() string { return r.backend.Name }

// ShutdownTimeout returns the bound set by SetShutdownTimeout (or
// WithShutdownTimeout); 0 means none. Safe from any goroutine.
func (r *Reactor) ShutdownTimeout() time.Duration { return time.Duration(r.shutTO.Load()) }

// Running reports whether the reactor is running: true from the During
// phase of startup to the During phase of shutdown (Twisted's
// reactor.running).
func (r *Reactor) Running() bool { return r.running.Load() }

// Logger returns the logger the reactor logs through (WithLogger, or
// slog.Default()), for code that wants its lines in the same place, such
// as package ebitenreactor. Safe from any goroutine.
func (r *Reactor) Logger() *slog.Logger { return r.log }

// Stopping reports whether the reactor's shutdown has been asked for and
// has not finished: true from Stop (or a poller failure) until Done is
// closed, including while the Before-shutdown triggers say goodbye, when
// Running is still true. A server can tell from it that a connection lost
// now is lost to the shutdown, not to the peer. Safe from any goroutine.
func (r *Reactor) Stopping() bool { return reactorState(r.state.Load()) == stateStopping }

// Done returns a channel closed when the shutdown sequence has finished
// and the reactor has released its poll thread and descriptors.
func (r *Reactor) Done() <-chan struct{} { return r.done }

// Err returns the poller error that shut the reactor down, if any (a
// *PollerError), else nil.
func (r *Reactor) Err() error {
	if e := r.failure.Load(); e != nil {
		return e
	}
	return nil
}

// SetShutdownTimeout bounds how long the shutdown sequence waits for the
// channels returned by before-shutdown triggers: after d (counted from the
// start of the shutdown) the reactor logs the triggers it gives up on and
// goes on to disconnect everything. 0 means wait for ever (Twisted's
// behaviour). It applies to a shutdown already under way. Safe from any
// goroutine.
func (r *Reactor) SetShutdownTimeout(d time.Duration) {
	if d < 0 {
		d = 0
	}
	r.shutTO.Store(int64(d))
	if r.state.Load() == int32(stateStopping) {
		// Re-arm the timer on the main thread.
		_ = r.CallFromThread(r.startShutdownTimer)
	}
}

// CallFromThread queues f to run on the main thread (Twisted's
// callFromThread). Safe from any goroutine. Calls made by one goroutine run
// in the order made; calls made before the reactor runs wait for it. When
// the ring is full, a call from another goroutine waits (backing off up to
// a millisecond at a time) until there is room, and a call from the main
// thread itself never waits: it is kept aside and run after what is
// queued. It returns ErrStopped once the reactor has shut down, and
// ErrInvalidArgument for a nil f.
func (r *Reactor) CallFromThread(f func()) error {
	if f == nil {
		return fmt.Errorf("%w: nil function for CallFromThread", ErrInvalidArgument)
	}
	if r.state.Load() == int32(stateStopped) {
		return ErrStopped
	}
	if r.overN.Load() == 0 && r.ring.Push(entry{fn: f}) {
		r.wakeConsumer()
		return nil
	}
	return r.callFromThreadSlow(f)
}

func (r *Reactor) callFromThreadSlow(f func()) error {
	me := goid.Read(nil)
	if me == r.mainG.Load() {
		if r.overN.Load() == 0 && r.ring.Push(entry{fn: f}) {
			r.wakeConsumer()
			return nil
		}
		r.overflow = append(r.overflow, f)
		r.overN.Store(int32(len(r.overflow)))
		return nil
	}
	backoff := time.Microsecond
	for spins := 0; ; spins++ {
		if r.state.Load() == int32(stateStopped) {
			return ErrStopped
		}
		if r.ring.Push(entry{fn: f}) {
			r.wakeConsumer()
			return nil
		}
		r.wakeConsumer()
		if spins < 16 {
			runtime.Gosched()
			continue
		}
		time.Sleep(backoff)
		if backoff < time.Millisecond {
			backoff *= 2
		}
	}
}

// wakeConsumer tells whoever drains the ring that there is work, if it
// sleeps: the Run loop through the poller's wake-up descriptor, the
// Interleave waker goroutine through its channel. A host that drains every
// frame needs no wake-up.
func (r *Reactor) wakeConsumer() {
	if l := r.loop.Load(); l != nil {
		l.wakeConsumer()
	}
}

// safeCall runs f, recovering and logging a panic. It reports whether f
// returned normally.
func (r *Reactor) safeCall(what string, f func()) (ok bool) {
	r.ran++
	defer func() {
		if v := recover(); v != nil {
			r.logPanic(what, v)
			ok = false
		}
	}()
	f()
	return true
}

func (r *Reactor) logPanic(what string, v any, attrs ...any) *PanicError {
	pe := &PanicError{Value: v, Stack: debug.Stack()}
	args := append([]any{"callback", what, "panic", fmt.Sprint(v), "stack", string(pe.Stack)}, attrs...)
	r.log.Error("reactor: recovered panic in callback", args...)
	return pe
}
