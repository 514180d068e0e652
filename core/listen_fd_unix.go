//go:build unix

package core

import (
	"errors"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// fdListener is a descriptor-backed listening socket: the poll loop
// reports it readable (one-shot), and the main thread accepts.
type fdListener struct {
	r      *Reactor
	h      *handle
	fd     int
	addr   string
	cfg    connConfig
	retry  *DelayedCall
	closed bool
}

// listener takes a private copy of the socket of a listener of package
// net (a *net.TCPListener or *net.UnixListener) and registers it for h;
// ln is closed. ok is false for any other net.Listener.
func (f unixFDs) listener(ln net.Listener, h *handle, cfg connConfig) (io listenIO, ok bool, err error) {
	fd, ok, err := dupSocket(ln)
	if !ok || err != nil {
		return nil, ok, err
	}
	h.fd = fd
	if err := f.r.register(h); err != nil {
		unix.Close(fd)
		return nil, true, err
	}
	ln.Close()
	return &fdListener{r: f.r, h: h, fd: fd, addr: ln.Addr().String(), cfg: cfg}, true, nil
}

func (l *fdListener) close() error {
	l.closed = true
	if l.retry != nil {
		_ = l.retry.Cancel()
		l.retry = nil
	}
	return unix.Close(l.fd)
}

// accept accepts one waiting connection.
func (l *fdListener) accept() (streamConn, bool) {
	r := l.r
	for {
		nfd, sa, err := acceptNonblock(l.fd)
		switch {
		case err == nil:
			c := newFdConn(r, nfd, l.cfg)
			c.local, c.remote = localAddr(nfd), sockaddrToTCP(sa)
			return c, true
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err == unix.EAGAIN:
		case errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM):
			// Out of descriptors: the pending connection stays in the
			// backlog; try again shortly rather than spin on it.
			r.log.Warn("reactor: accept failed; retrying in 100ms", "addr", l.addr, "err", err)
			l.retry = r.callLater(100*time.Millisecond, func() {
				l.retry = nil
				if !l.closed {
					_ = r.rearm(l.h)
				}
			})
		default:
			r.log.Warn("reactor: accept failed", "addr", l.addr, "err", err)
		}
		return nil, false
	}
}

// armAccept re-arms the one-shot registration, unless a retry after
// running out of descriptors is pending.
func (l *fdListener) armAccept() error {
	if l.retry != nil {
		return nil
	}
	return l.r.rearm(l.h)
}
