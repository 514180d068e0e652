package core

import (
	"errors"
	"net"
	"sync"
	"time"
)

// goListener is a goroutine-backed listening port: a goroutine accepts
// from any net.Listener and queues the connections for the main thread,
// which starts them as goroutine-backed connections.
type goListener struct {
	r    *Reactor
	h    *handle
	ln   net.Listener
	cfg  connConfig
	room chan struct{} // a token per connection accepted and not yet taken
	quit chan struct{}

	mu     sync.Mutex
	q      []net.Conn // accepted, not yet taken by the main thread
	closed bool
}

func listenGo(r *Reactor, ln net.Listener, h *handle, cfg connConfig) (listenIO, error) {
	l := &goListener{r: r, h: h, ln: ln, cfg: cfg, room: make(chan struct{}, acceptBatch), quit: make(chan struct{})}
	// Registered (with no descriptor) so that the shutdown finds it.
	if err := r.register(h); err != nil {
		return nil, err
	}
	r.spawn(l.run)
	return l, nil
}

// run accepts on its own goroutine. When the main thread has not taken a
// batch of what it accepted, it waits, and the kernel's backlog pushes
// back on the peers.
func (l *goListener) run() {
	r := l.r
	backoff := 5 * time.Millisecond
	for {
		select {
		case l.room <- struct{}{}:
		case <-l.quit:
			return
		}
		c, err := l.ln.Accept()
		if err != nil {
			<-l.room
			if errors.Is(err, net.ErrClosed) || r.state.Load() == int32(stateStopped) {
				return
			}
			r.log.Warn("reactor: accept failed", "addr", l.ln.Addr().String(), "err", err)
			select { // out of descriptors: let some close
			case <-time.After(backoff):
			case <-l.quit:
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.q = append(l.q, c)
		l.mu.Unlock()
		l.h.markReadyAsync(r, evRead)
	}
}

// accept takes one connection the goroutine accepted.
func (l *goListener) accept() (streamConn, bool) {
	l.mu.Lock()
	if len(l.q) == 0 {
		l.mu.Unlock()
		return nil, false
	}
	c := l.q[0]
	l.q[0] = nil
	l.q = l.q[1:]
	l.mu.Unlock()
	<-l.room
	return newGoConn(l.r, c, l.cfg), true
}

// armAccept comes back for what a batch left.
func (l *goListener) armAccept() error {
	l.mu.Lock()
	more := len(l.q) > 0
	l.mu.Unlock()
	if more {
		l.r.again(l.h)
	}
	return nil
}

// close stops the goroutine and closes what it accepted that the main
// thread did not take.
func (l *goListener) close() error {
	l.mu.Lock()
	l.closed = true
	q := l.q
	l.q = nil
	l.mu.Unlock()
	for _, c := range q {
		c.Close()
	}
	close(l.quit)
	return l.ln.Close()
}
