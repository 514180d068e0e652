//go:build unix

package core

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// acceptBatch bounds the connections accepted per readiness report, so a
// storm of connects cannot monopolise a round.
const acceptBatch = 64

// adoptFD takes a private copy of the listening socket behind sc and
// registers it.
func (p *Port) adoptFD(sc syscall.Conn) error {
	fd, err := dupSyscallConn(sc)
	if err != nil {
		return err
	}
	p.fd = fd
	p.h = &handle{fd: fd, owner: p, want: evRead, oneshot: true}
	if err := p.r.register(p.h); err != nil {
		unix.Close(fd)
		return err
	}
	return nil
}

func (p *Port) stopFD() error {
	if p.retry != nil {
		_ = p.retry.Cancel()
		p.retry = nil
	}
	p.r.unregister(p.h)
	return unix.Close(p.fd)
}

func (p *Port) pollReady(l *loop, h *handle, ev interest) { h.markReady(l, ev) }

// dispatch accepts waiting connections on the main thread.
func (p *Port) dispatch(r *Reactor, h *handle) {
	h.takeReady()
	if p.closed {
		return
	}
	for i := 0; i < acceptBatch && !p.closed; i++ {
		nfd, sa, err := acceptNonblock(p.fd)
		switch {
		case err == nil:
			p.accepted(nfd, sa)
			continue
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err == unix.EAGAIN:
		case errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM):
			// Out of descriptors: the pending connection stays in the
			// backlog; try again shortly rather than spin on it.
			r.log.Warn("reactor: accept failed; retrying in 100ms", "addr", p.addr.String(), "err", err)
			p.retry, _ = r.CallLater(100*time.Millisecond, func() {
				p.retry = nil
				if !p.closed {
					_ = r.rearm(p.h)
				}
			})
			return
		default:
			r.log.Warn("reactor: accept failed", "addr", p.addr.String(), "err", err)
		}
		break
	}
	if !p.closed {
		if err := r.rearm(p.h); err != nil {
			r.log.Error("reactor: listening socket lost", "addr", p.addr.String(), "err", err)
			_ = p.StopListening()
		}
	}
}

// accepted sets up a new connection: the factory may refuse it.
func (p *Port) accepted(fd int, sa unix.Sockaddr) {
	r := p.r
	remote := sockaddrToTCP(sa)
	proto, err := r.buildProtocol(p.factory, remote)
	if err != nil || proto == nil {
		unix.Close(fd)
		if err == nil {
			err = errors.New("BuildProtocol returned nil")
		}
		r.log.Debug("reactor: connection refused by factory", "remote", fmt.Sprint(remote), "err", err)
		return
	}
	c := newTCPConn(r, fd, p.cfg.conn)
	c.local, c.remote = localAddr(fd), remote
	if err := c.start(proto); err != nil {
		r.log.Warn("reactor: cannot register accepted connection", "remote", fmt.Sprint(remote), "err", err)
	}
}

// start registers an open connection and tells its protocol.
func (c *tcpConn) start(proto Protocol) error {
	c.proto = proto
	c.state = stateOpen
	setConnOptions(c.fd, c.cfg)
	if err := c.r.register(c.h); err != nil {
		c.state = stateClosed
		unix.Close(c.fd)
		return err
	}
	c.r.stats.conns.Add(1)
	c.callConnectionMade(c)
	return nil
}
