package core

import (
	"sync/atomic"
	"time"

	"github.com/threadedselect/reactor/core/internal/poller"
)

// The poller's names, as the reactor uses them.
type (
	interest = poller.Interest
	token    = poller.Token
)

const (
	evRead  = poller.Read
	evWrite = poller.Write
	evHup   = poller.Hup
	evErr   = poller.Err
	evBad   = poller.Bad
)

// handle is one registration of a descriptor with the reactor: a raw
// descriptor (AddReader/AddWriter) or a transport. The poll loop finds it
// from an event's token through the slot table; ring entries point to it.
// A handle is never reused: a new registration gets a new handle and a new
// generation of its slot.
type handle struct {
	slot    int32
	gen     uint32
	fd      int
	pending atomic.Uint32 // readiness bits seen by the poll loop, and queuedBit
	owner   handleOwner

	// Main thread only.
	want        interest // what the registration asks the poller for
	oneshot     bool
	inKernel    bool  // registered with the current poller
	dead        bool  // unregistered; entries still on the ring are ignored
	carried     bool  // in the reactor's carry list (see again)
	registerErr error // the poller refused it when the reactor started
}

// handleOwner is the kind-specific behaviour of a registration.
type handleOwner interface {
	// pollReady runs on the poll loop when the descriptor is ready. It must
	// not run user code; it queues an entry for the main thread if needed.
	pollReady(l *loop, h *handle, ev interest)
	// dispatch runs on the main thread for the handle's ring entry.
	dispatch(r *Reactor, h *handle)
	// lose disconnects the registration with reason, on the main thread.
	lose(r *Reactor, h *handle, reason error)
}

func (h *handle) token() token { return poller.MakeToken(h.slot, h.gen) }

// registered reports whether h has a slot: registered and not yet
// unregistered.
func (h *handle) registered() bool { return h.gen != 0 && !h.dead }

// polled reports whether the poller watches h: it has a descriptor. A
// goroutine-backed transport's handle has none (fd -1); its goroutines
// queue its entries themselves.
func (h *handle) polled() bool { return h.fd >= 0 }

// markReady is the common poll-side step: remember what was ready and queue
// one entry unless one is already queued.
func (h *handle) markReady(l *loop, ev interest) {
	if old := h.pending.Or(uint32(ev) | queuedBit); old&queuedBit == 0 {
		l.enqueue(h)
	}
}

// markReadyAsync is markReady for the goroutines of goroutine-backed
// transports (on any backend): each queues its own handle's entry, waiting
// (not dropping) while the ring is full, which pushes back on the peer
// just as the poll loop does.
//
// It wakes the main thread even when the entry was queued already: the
// entry may be a quiet one (markReadyQuiet), queued without a wake.
func (h *handle) markReadyAsync(r *Reactor, ev interest) {
	h.queueAsync(r, ev)
	r.wakeConsumer()
}

// markReadyQuiet is markReadyAsync without the wake: the entry waits on
// the ring until the main thread wakes for something else (it never
// sleeps with an entry on the ring: it looks at the ring after saying it
// sleeps, so an entry queued before that is seen, and a goroutine that
// queues one after it must wake it if the entry matters now). For a
// goroutine's report that the main thread needs only eventually.
//
// Another goroutine that set its own readiness between this one's setting
// the queued bit and its push found the entry queued and woke the main
// thread before the entry was on the ring: that wake may have come too
// early, so it is made again, after the push.
func (h *handle) markReadyQuiet(r *Reactor, ev interest) {
	h.queueAsync(r, ev)
	if interest(h.pending.Load()&^queuedBit)&^ev != 0 {
		r.wakeConsumer()
	}
}

// queueAsync sets h's readiness and queues its entry unless one is queued.
func (h *handle) queueAsync(r *Reactor, ev interest) {
	if old := h.pending.Or(uint32(ev) | queuedBit); old&queuedBit != 0 {
		return
	}
	if r.testHookQueued != nil {
		r.testHookQueued(h, ev)
	}
	backoff := time.Microsecond
	for !r.ring.Push(entry{h: h}) {
		if r.state.Load() == int32(stateStopped) {
			return
		}
		r.wakeConsumer()
		time.Sleep(backoff)
		if backoff < time.Millisecond {
			backoff *= 2
		}
	}
}

// takeReady clears and returns the readiness seen since the last dispatch.
// Main thread.
func (h *handle) takeReady() interest {
	return interest(h.pending.Swap(0) &^ queuedBit)
}

// slotTable maps slot numbers to live handles. The main thread allocates
// and frees slots; the poll loop looks them up with atomic loads. Pages are
// never moved, and the directory of pages is replaced, not modified, when it
// grows.
type slotTable struct {
	dir  atomic.Pointer[[]*slotPage]
	gens []uint32 // per slot, main thread
	free []int32
	live int
}

const slotPageSize = 256

type slotPage [slotPageSize]atomic.Pointer[handle]

func (t *slotTable) alloc(h *handle) {
	var s int32
	if n := len(t.free); n > 0 {
		s = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		s = int32(len(t.gens))
		t.gens = append(t.gens, 0)
		var dir []*slotPage
		if d := t.dir.Load(); d != nil {
			dir = *d
		}
		if int(s)/slotPageSize >= len(dir) {
			nd := make([]*slotPage, len(dir)+1)
			copy(nd, dir)
			nd[len(dir)] = new(slotPage)
			t.dir.Store(&nd)
		}
	}
	t.gens[s]++
	h.slot, h.gen = s, t.gens[s]
	t.page(s)[s%slotPageSize].Store(h)
	t.live++
}

func (t *slotTable) page(s int32) *slotPage { return (*t.dir.Load())[s/slotPageSize] }

func (t *slotTable) release(h *handle) {
	p := t.page(h.slot)
	if p[h.slot%slotPageSize].Load() != h {
		return
	}
	p[h.slot%slotPageSize].Store(nil)
	t.free = append(t.free, h.slot)
	t.live--
}

// lookup returns the live handle an event's token names, or nil if that
// registration is gone. Any goroutine.
func (t *slotTable) lookup(tok token) *handle {
	d := t.dir.Load()
	if d == nil {
		return nil
	}
	s := tok.Slot()
	if s < 0 || int(s)/slotPageSize >= len(*d) {
		return nil
	}
	h := (*d)[s/slotPageSize][s%slotPageSize].Load()
	if h == nil || h.gen != tok.Gen() {
		return nil
	}
	return h
}

// each calls f for every live handle in slot order. Main thread; f may
// release handles.
func (t *slotTable) each(f func(*handle)) {
	d := t.dir.Load()
	if d == nil {
		return
	}
	for _, p := range *d {
		for i := range p {
			if h := p[i].Load(); h != nil {
				f(h)
			}
		}
	}
}

// register gives h a slot and, if the reactor is running and h has a
// descriptor, registers it with the poller. Main thread.
func (r *Reactor) register(h *handle) error {
	r.slots.alloc(h)
	if l := r.loop.Load(); l != nil && h.polled() {
		if err := l.p.Open(h.fd, h.token(), h.want, h.oneshot); err != nil {
			r.slots.release(h)
			return err
		}
		h.inKernel = true
		l.inKernel++
	}
	return nil
}

// rearm tells the poller what h wants now (and, for a one-shot
// registration, re-enables it). Main thread.
func (r *Reactor) rearm(h *handle) error {
	if h.dead || !h.inKernel {
		return nil
	}
	if l := r.loop.Load(); l != nil {
		return l.p.Modify(h.fd, h.token(), h.want, h.oneshot)
	}
	return nil
}

// unregister removes h from the poller and frees its slot. Entries for it
// still on the ring are ignored when dispatched. Main thread.
func (r *Reactor) unregister(h *handle) {
	if h.dead {
		return
	}
	h.dead = true
	if h.inKernel {
		if l := r.loop.Load(); l != nil {
			_ = l.p.Close(h.fd, h.token()) // a descriptor closed behind our back is already gone
			l.inKernel--
		}
		h.inKernel = false
	}
	r.slots.release(h)
}

// disconnectAll loses every registration (shutdown's During phase). One
// ConnectionLost panicking does not skip the others.
func (r *Reactor) disconnectAll(reason error) {
	var all []*handle
	r.slots.each(func(h *handle) { all = append(all, h) })
	for _, h := range all {
		if !h.dead {
			h.owner.lose(r, h, reason)
		}
	}
	r.runSoon(nil) // their ConnectionLost calls, within this phase
}

// loseUnregistered disconnects registrations the poller refused when the
// reactor started (say, a descriptor closed before Run).
func (r *Reactor) loseUnregistered() {
	var bad []*handle
	r.slots.each(func(h *handle) {
		if h.registerErr != nil {
			bad = append(bad, h)
		}
	})
	for _, h := range bad {
		err := h.registerErr
		h.registerErr = nil
		h.owner.lose(r, h, badDescriptor(h.fd, err))
	}
}
