//go:build unix

package core

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Port is a listening TCP socket (Twisted's IListeningPort). Its methods
// must be called on the main thread.
type Port struct {
	r       *Reactor
	h       *handle
	fd      int
	factory Factory
	cfg     listenConfig
	addr    net.Addr
	closed  bool
	retry   *DelayedCall
}

// acceptBatch bounds the connections accepted per readiness report, so a
// storm of connects cannot monopolise a round.
const acceptBatch = 64

// ListenTCP listens on addr ("host:port"; port 0 picks one, see Addr) and
// builds a protocol with f for each connection it accepts. IPv4 and IPv6.
// Main thread (or before the reactor starts).
func (r *Reactor) ListenTCP(addr string, f Factory, opts ...ListenOption) (*Port, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: nil Factory", ErrInvalidArgument)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return r.AdoptListener(ln, f, opts...)
}

// AdoptListener takes over a listener a program opened itself (a
// *net.TCPListener, or anything whose SyscallConn gives its socket): the
// reactor keeps its own copy of the socket and closes ln. Main thread.
func (r *Reactor) AdoptListener(ln net.Listener, f Factory, opts ...ListenOption) (*Port, error) {
	if ln == nil || f == nil {
		return nil, fmt.Errorf("%w: nil listener or Factory", ErrInvalidArgument)
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%w: %T has no SyscallConn", ErrUnsupported, ln)
	}
	fd, err := dupSyscallConn(sc)
	if err != nil {
		return nil, err
	}
	addr := ln.Addr()
	ln.Close()
	cfg := listenConfig{conn: defaultConnConfig()}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	p := &Port{r: r, fd: fd, factory: f, cfg: cfg, addr: addr}
	p.h = &handle{fd: fd, owner: p, want: evRead, oneshot: true}
	if err := r.register(p.h); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return p, nil
}

// Addr is the address the port listens on.
func (p *Port) Addr() net.Addr { return p.addr }

// StopListening closes the listening socket; connections already accepted
// are not affected. Calling it again does nothing.
func (p *Port) StopListening() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if p.retry != nil {
		_ = p.retry.Cancel()
		p.retry = nil
	}
	p.r.unregister(p.h)
	return unix.Close(p.fd)
}

func (p *Port) pollReady(l *loop, h *handle, ev interest) { h.markReady(l, ev) }

func (p *Port) lose(r *Reactor, h *handle, reason error) { _ = p.StopListening() }

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

// buildProtocol calls the factory, turning a panic into an error.
func (r *Reactor) buildProtocol(f Factory, remote net.Addr) (p Protocol, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = r.logPanic("BuildProtocol", v)
		}
	}()
	p, err = f.BuildProtocol(remote)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrRefusedByFactory, err)
	}
	return p, err
}

// start registers an open connection and tells its protocol.
func (c *tcpConn) start(proto Protocol) error {
	c.proto = proto
	c.state = stateOpen
	if c.cfg.noDelay {
		_ = unix.SetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if err := c.r.register(c.h); err != nil {
		c.state = stateClosed
		unix.Close(c.fd)
		return err
	}
	c.r.stats.conns.Add(1)
	c.callConnectionMade()
	return nil
}

func (c *tcpConn) callConnectionMade() {
	defer func() {
		if v := recover(); v != nil {
			c.closeNow(c.r.logPanic("ConnectionMade", v))
		}
	}()
	c.proto.ConnectionMade(c)
}
