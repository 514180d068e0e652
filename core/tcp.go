package core

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// The public face of TCP, shared by both implementations: the descriptor
// one (the poll loop reads sockets; unix) and the goroutine one (the
// portable backend: I/O goroutines on the Go runtime's poller feed the same
// ring; every platform, the only one on Windows). Protocols cannot tell
// them apart.

// Port is a listening TCP socket (Twisted's IListeningPort). Its methods
// must be called on the main thread.
type Port struct {
	r       *Reactor
	factory Factory
	cfg     listenConfig
	addr    net.Addr
	closed  bool

	// The descriptor implementation.
	h     *handle
	fd    int
	retry *DelayedCall
	// The goroutine implementation.
	ln net.Listener
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
	if p.ln != nil {
		p.r.unregister(p.h)
		return p.ln.Close()
	}
	return p.stopFD()
}

func (p *Port) lose(r *Reactor, h *handle, reason error) { _ = p.StopListening() }

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
// *net.TCPListener, or anything whose SyscallConn gives its socket). With
// the descriptor implementation the reactor keeps its own copy of the
// socket and closes ln; with the portable backend it accepts from ln. Either
// way ln belongs to the reactor now. Main thread.
func (r *Reactor) AdoptListener(ln net.Listener, f Factory, opts ...ListenOption) (*Port, error) {
	if ln == nil || f == nil {
		return nil, fmt.Errorf("%w: nil listener or Factory", ErrInvalidArgument)
	}
	cfg := listenOptions(opts)
	p := &Port{r: r, factory: f, cfg: cfg, addr: ln.Addr(), fd: -1}
	if r.goNet {
		return p, p.acceptGo(ln)
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%w: %T has no SyscallConn", ErrUnsupported, ln)
	}
	if err := p.adoptFD(sc); err != nil {
		return nil, err
	}
	ln.Close()
	return p, nil
}

// Connector is an outgoing connection attempt (Twisted's IConnector). Its
// methods must be called on the main thread.
type Connector struct {
	r       *Reactor
	f       ClientFactory
	addr    string
	timer   *DelayedCall
	cancel  context.CancelFunc // stops name resolution or dialing
	done    bool
	lastErr error
	cfg     connConfig
	fdc     fdConnect // the descriptor implementation's state
}

// ConnectTCP connects to addr ("host:port", IPv4 or IPv6, or a name) with
// a non-blocking connect, and calls f.BuildProtocol once connected. A
// connection that cannot be made — refused, unreachable, not resolved, or
// not made within timeout (0: no limit) — reaches f.ConnectionFailed on the
// main thread, never from inside ConnectTCP. Names are resolved on another
// goroutine, so the main thread never blocks. If a name has several
// addresses they are tried in order. opts configure the connection
// (WithLinger, WithMaxUnread). Main thread.
func (r *Reactor) ConnectTCP(addr string, f ClientFactory, timeout time.Duration, opts ...ListenOption) (*Connector, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: nil ClientFactory", ErrInvalidArgument)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: address %q: %v", ErrInvalidArgument, addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: port %q in %q is not a number from 0 to 65535", ErrInvalidArgument, portStr, addr)
	}
	c := &Connector{r: r, f: f, addr: addr, cfg: listenOptions(opts).conn}
	if timeout > 0 {
		c.timer, _ = r.CallLater(timeout, func() {
			c.timer = nil
			c.fail(fmt.Errorf("%w: connecting to %s after %v", ErrTimeout, addr, timeout))
		})
	}
	if r.goNet {
		c.dialGo(timeout)
		return c, nil
	}
	c.connectFD(host, uint16(port), timeout)
	return c, nil
}

// resolve looks a name up on another goroutine and hands the addresses to
// then on the main thread.
func (c *Connector) resolve(host string, port uint16, timeout time.Duration, then func([]netip.AddrPort)) {
	ctx, cancel := context.WithCancel(context.Background())
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
	}
	c.cancel = cancel
	r := c.r
	r.spawn(func() {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		cancel()
		_ = r.CallFromThread(func() {
			if c.done {
				return
			}
			if err != nil || len(ips) == 0 {
				if err == nil {
					err = fmt.Errorf("no addresses")
				}
				c.fail(fmt.Errorf("%w: %s: %w", ErrResolve, host, err))
				return
			}
			aps := make([]netip.AddrPort, 0, len(ips))
			for _, ip := range ips {
				aps = append(aps, netip.AddrPortFrom(ip.Unmap(), port))
			}
			then(aps)
		})
	})
}

// fail ends the attempt and tells the factory, once.
func (c *Connector) fail(err error) {
	if c.done {
		return
	}
	c.connected()
	c.fdc.abandon(err)
	c.r.safeCall("ConnectionFailed", func() { c.f.ConnectionFailed(err) })
}

// connected ends the attempt: no more timeout, resolution or dialing.
func (c *Connector) connected() {
	c.done = true
	if c.timer != nil {
		_ = c.timer.Cancel()
		c.timer = nil
	}
	if c.cancel != nil {
		c.cancel()
	}
}

// Cancel stops the attempt (Twisted's stopConnecting): the factory's
// ConnectionFailed gets ErrAborted. It does nothing once connected.
func (c *Connector) Cancel() { c.fail(fmt.Errorf("%w: connect to %s cancelled", ErrAborted, c.addr)) }

// AdoptConn takes over a connection a program opened itself (a
// *net.TCPConn or *net.UnixConn, anything whose SyscallConn gives its
// socket) and runs p on it; p.ConnectionMade is called before AdoptConn
// returns. c belongs to the reactor now. Main thread.
func (r *Reactor) AdoptConn(c net.Conn, p Protocol, opts ...ListenOption) (Transport, error) {
	if c == nil || p == nil {
		return nil, fmt.Errorf("%w: nil conn or Protocol", ErrInvalidArgument)
	}
	cfg := listenOptions(opts)
	if _, isTCP := c.(*net.TCPConn); !isTCP {
		cfg.conn.noDelay = false
	}
	if r.goNet {
		gc := newGoConn(r, c, cfg.conn)
		if err := gc.start(p); err != nil {
			return nil, err
		}
		return gc, nil
	}
	return r.adoptConnFD(c, p, cfg.conn)
}

// streamConn is what the reactor needs of a connection of either
// implementation.
type streamConn interface {
	Transport
	open() bool        // connected and not yet closed
	whenLost(f func()) // run f on the main thread once the connection is gone
	lose(*Reactor, *handle, error)
}

// Conn returns the open connection id names, or nil if it is closed (or
// never existed). Main thread: other goroutines hold ConnIDs and call Conn
// inside CallFromThread.
func (r *Reactor) Conn(id ConnID) Transport {
	h := r.slots.lookup(token(id))
	if h == nil {
		return nil
	}
	if c, ok := h.owner.(streamConn); ok && c.open() {
		return c
	}
	return nil
}

// LoseAllConnections calls LoseConnection on every open TCP connection and
// returns a channel closed once all of them are gone. It suits a
// Before-shutdown trigger: everything queued is sent and the peers see a
// clean end of stream before the reactor stops. Main thread.
func (r *Reactor) LoseAllConnections() <-chan struct{} {
	done := make(chan struct{})
	var conns []streamConn
	r.slots.each(func(h *handle) {
		if c, ok := h.owner.(streamConn); ok && c.open() {
			conns = append(conns, c)
		}
	})
	left := len(conns)
	if left == 0 {
		close(done)
		return done
	}
	for _, c := range conns {
		c.whenLost(func() {
			if left--; left == 0 {
				close(done)
			}
		})
	}
	for _, c := range conns {
		_ = c.LoseConnection()
	}
	return done
}

// spawn runs f on a goroutine the reactor waits for before it is Done.
func (r *Reactor) spawn(f func()) {
	r.watchers.Add(1)
	r.watcherN.Add(1)
	go func() {
		defer r.watchers.Done()
		defer r.watcherN.Add(-1)
		f()
	}()
}
