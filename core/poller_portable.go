package core

import (
	"sync/atomic"
	"time"
)

// portableBackend is the name of the backend that works on every platform
// Go does: it has no poller of its own. Its transports are I/O goroutines
// on the Go runtime's poller (epoll, kqueue, or IOCP on Windows), which read
// into the same chunks and queue the same ring entries as the poll loop
// does, so the main thread cannot tell the difference. Raw descriptors
// (AddReader/AddWriter) are not supported by it: AddReader returns
// ErrUnsupported.
const portableBackend = "portable"

// portablePoller is the backend's stand-in for a poller: waiting is
// sleeping until woken or until the next timer.
type portablePoller struct {
	sleeping atomic.Bool
	wakeCh   chan struct{}
	timer    *time.Timer // poll loop only
}

func newPortablePoller() (poller, error) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &portablePoller{wakeCh: make(chan struct{}, 1), timer: t}, nil
}

func (p *portablePoller) name() string { return portableBackend }

// Registrations exist only in the reactor's slot table (for ConnIDs); the
// transports' goroutines report readiness themselves.
func (p *portablePoller) add(int, token, interest, bool) error { return nil }
func (p *portablePoller) mod(int, token, interest, bool) error { return nil }
func (p *portablePoller) del(int, token) error                 { return nil }
func (p *portablePoller) disarmRead(token)                     {}

func (p *portablePoller) wait(_ []pollEvent, timeout time.Duration) (int, error) {
	defer p.sleeping.Store(false)
	switch {
	case timeout == 0:
		select {
		case <-p.wakeCh:
		default:
		}
	case timeout < 0:
		<-p.wakeCh
	default:
		p.timer.Reset(timeout)
		select {
		case <-p.wakeCh:
		case <-p.timer.C:
		}
		p.timer.Stop()
	}
	return 0, nil
}

func (p *portablePoller) prepareSleep() { p.sleeping.Store(true) }
func (p *portablePoller) cancelSleep()  { p.sleeping.Store(false) }

func (p *portablePoller) wake() {
	if p.sleeping.CompareAndSwap(true, false) {
		select {
		case p.wakeCh <- struct{}{}:
		default:
		}
	}
}

func (p *portablePoller) close() error { p.timer.Stop(); return nil }

// markReadyAsync is markReady for the portable backend's goroutines: each
// queues its own handle's entry, waiting (not dropping) while the ring is
// full, which pushes back on the peer just as the poll loop does.
func (h *handle) markReadyAsync(r *Reactor, ev interest) {
	if old := h.pending.Or(uint32(ev) | queuedBit); old&queuedBit != 0 {
		return
	}
	backoff := time.Microsecond
	for !r.ring.push(entry{h: h}) {
		if r.state.Load() == int32(stateStopped) {
			return
		}
		r.wakeConsumer()
		time.Sleep(backoff)
		if backoff < time.Millisecond {
			backoff *= 2
		}
	}
	r.wakeConsumer()
}
