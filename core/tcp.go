package core

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// The public face of TCP, shared by both implementations of a stream
// transport, which are chosen per connection: descriptor-backed (the poll
// loop reads the socket; unix, every backend but portable) for the
// reactor's own sockets and adopted sockets of package net, and
// goroutine-backed (I/O goroutines on the Go runtime's poller feed the
// same ring) for any other net.Conn — a *tls.Conn, a net.Pipe end, a
// WebSocket's connection — on every backend, and for every connection on
// the portable one. Protocols cannot tell them apart.

// Port is a listening socket (Twisted's IListeningPort). Its methods
// must be called on the main thread.
type Port struct {
	r       *Reactor
	factory Factory
	cfg     listenConfig
	addr    net.Addr
	closed  bool
	h       *handle
	io      listenIO
}

// listenIO is the I/O of a listening port: descriptor-backed (fdListener:
// the main thread accepts when the poll loop reports the socket readable)
// or goroutine-backed (goListener: a goroutine accepts from any
// net.Listener and queues what it accepted). Main thread.
type listenIO interface {
	// accept returns the next connection waiting, not yet started, or
	// false when there is none for now.
	accept() (streamConn, bool)
	// armAccept asks to hear of the connections still to come.
	armAccept() error
	close() error
}

// acceptBatch bounds the connections accepted per turn of a port, so a
// storm of connects cannot monopolise a round.
const acceptBatch = 64

// Addr is the address the port listens on.
func (p *Port) Addr() net.Addr { return p.addr }

// StopListening closes the listening socket; connections already accepted
// are not affected. Calling it again does nothing.
func (p *Port) StopListening() error {
	if p.closed {
		return nil
	}
	p.closed = true
	p.r.unregister(p.h)
	return p.io.close()
}

func (p *Port) lose(r *Reactor, h *handle, reason error) { _ = p.StopListening() }

// pollReady: the listening socket is registered one-shot; the main thread
// accepts and re-arms it.
func (p *Port) pollReady(l *loop, h *handle, ev interest) { h.markReady(l, ev) }

// dispatch accepts waiting connections on the main thread.
func (p *Port) dispatch(r *Reactor, h *handle) {
	h.takeReady()
	for i := 0; i < acceptBatch && !p.closed; i++ {
		c, ok := p.io.accept()
		if !ok {
			break
		}
		p.accepted(c)
	}
	if !p.closed {
		if err := p.io.armAccept(); err != nil {
			r.log.Error("reactor: listening socket lost", "addr", p.addr.String(), "err", err)
			_ = p.StopListening()
		}
	}
}

// accepted sets up a new connection: the factory may refuse it.
func (p *Port) accepted(c streamConn) {
	r := p.r
	remote := c.RemoteAddr()
	proto, err := r.buildProtocol(p.factory, remote)
	if err != nil || proto == nil {
		c.abandon()
		if err == nil {
			err = fmt.Errorf("%w: BuildProtocol returned nil", ErrRefusedByFactory)
		}
		r.log.Debug("reactor: connection refused by factory", "remote", fmt.Sprint(remote), "err", err)
		return
	}
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

// AdoptListener takes over a listener a program opened itself; ln belongs
// to the reactor now. A *net.TCPListener or *net.UnixListener is watched by
// the reactor's poller (the reactor keeps its own copy of the socket and
// closes ln), unless the backend is portable; any other net.Listener (say
// one that hands out *tls.Conn) is accepted from on a goroutine, and its
// connections are goroutine-backed. Main thread.
func (r *Reactor) AdoptListener(ln net.Listener, f Factory, opts ...ListenOption) (*Port, error) {
	if ln == nil || f == nil {
		return nil, fmt.Errorf("%w: nil listener or Factory", ErrInvalidArgument)
	}
	cfg := listenOptions(opts)
	p := &Port{r: r, factory: f, cfg: cfg, addr: ln.Addr()}
	p.h = &handle{fd: -1, owner: p, want: evRead, oneshot: true}
	if fds := r.fdTransports(); fds != nil {
		io, ok, err := fds.listener(ln, p.h, cfg.conn)
		if err != nil {
			return nil, err
		}
		if ok {
			p.io = io
			return p, nil
		}
	}
	io, err := listenGo(r, ln, p.h, cfg.conn)
	if err != nil {
		return nil, err
	}
	p.io = io
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
	dial    dialer
}

// dialer is the I/O of a connection attempt: a non-blocking connect
// watched by the poll loop (fdDial), or net.Dialer on a goroutine
// (goDial).
type dialer interface {
	// abandon stops the attempt, closing what it opened.
	abandon(err error)
}

// ConnectTCP connects to addr ("host:port", IPv4 or IPv6, or a name) with
// a non-blocking connect, and calls f.BuildProtocol once connected. A
// connection that cannot be made — refused, unreachable, not resolved, or
// not made within timeout (0: no limit) — reaches f.ConnectionFailed on the
// main thread, never from inside ConnectTCP. Names are resolved on another
// goroutine, so the main thread never blocks. If a name has several
// addresses they are tried in order. opts configure the connection
// (WithLinger, WithMaxUnread). Main thread, or before the reactor starts:
// then the attempt begins when it starts. See also ConnectTCPContext.
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
		c.timer = r.callLater(timeout, func() {
			c.timer = nil
			c.fail(fmt.Errorf("%w: connecting to %s after %v", ErrTimeout, addr, timeout))
		})
	}
	if fds := r.fdTransports(); fds != nil {
		c.dial = fds.dial(c, host, uint16(port), timeout)
	} else {
		c.dial = dialGo(c, timeout)
	}
	return c, nil
}

// resolve looks a name up on another goroutine and hands the addresses to
// then on the main thread.
func (c *Connector) resolve(host string, port uint16, timeout time.Duration, then func([]netip.AddrPort)) {
	ctx, cancel := contextWithTimeout(timeout)
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
	if c.dial != nil {
		c.dial.abandon(err)
	}
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

// established runs sc, connected, with a protocol from the factory; a
// factory that refuses it hears of it through ConnectionFailed.
func (c *Connector) established(sc streamConn) {
	proto, err := c.r.buildProtocol(c.f, sc.RemoteAddr())
	if err == nil && proto == nil {
		err = fmt.Errorf("%w: BuildProtocol returned nil", ErrRefusedByFactory)
	}
	if err == nil {
		err = sc.start(proto)
	} else {
		sc.abandon()
	}
	if err != nil {
		c.r.safeCall("ConnectionFailed", func() { c.f.ConnectionFailed(err) })
	}
}

// Cancel stops the attempt (Twisted's stopConnecting): the factory's
// ConnectionFailed gets ErrAborted. It does nothing once connected.
func (c *Connector) Cancel() { c.fail(fmt.Errorf("%w: connect to %s cancelled", ErrAborted, c.addr)) }

// AdoptConn takes over a connection a program opened itself and runs p on
// it; p.ConnectionMade is called before AdoptConn returns. c belongs to the
// reactor now. A *net.TCPConn or *net.UnixConn is watched by the reactor's
// poller (the reactor keeps its own copy of the socket and closes c),
// unless the backend is portable; any other net.Conn — a *tls.Conn, a
// net.Pipe end, a WebSocket's connection — is goroutine-backed, on every
// backend. The protocol cannot tell the difference. Main thread.
func (r *Reactor) AdoptConn(c net.Conn, p Protocol, opts ...ListenOption) (Transport, error) {
	if c == nil || p == nil {
		return nil, fmt.Errorf("%w: nil conn or Protocol", ErrInvalidArgument)
	}
	cfg := listenOptions(opts)
	if tcpOf(c) == nil {
		cfg.conn.noDelay = false
	}
	sc, err := r.streamOf(c, cfg.conn)
	if err != nil {
		return nil, err
	}
	if err := sc.start(p); err != nil {
		return nil, err
	}
	return sc, nil
}

// streamOf returns the connection, not yet started, that runs on c: the
// descriptor-backed one if the reactor's backend watches descriptors and c
// is a socket of package net, else the goroutine-backed one.
func (r *Reactor) streamOf(c net.Conn, cfg connConfig) (streamConn, error) {
	if fds := r.fdTransports(); fds != nil {
		if sc, ok, err := fds.stream(c, cfg); ok {
			return sc, err
		}
	}
	return newGoConn(r, c, cfg), nil
}

// streamConn is what the reactor needs of a connection of either
// implementation.
type streamConn interface {
	Transport
	start(p Protocol) error // register, then ConnectionMade
	abandon()               // close a connection that was never started
	open() bool             // connected and not yet closed
	whenLost(f func())      // run f on the main thread once the connection is gone
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

// fdTransports makes descriptor-backed transports. A reactor has them (see
// (*Reactor).fdTransports) when its backend watches descriptors: every
// backend of a unix but portable.
type fdTransports interface {
	// stream returns the connection on c's socket, not yet started; false
	// if c is not a socket of package net.
	stream(c net.Conn, cfg connConfig) (streamConn, bool, error)
	// listener watches ln's socket for h; false if ln is not a listener
	// of package net.
	listener(ln net.Listener, h *handle, cfg connConfig) (listenIO, bool, error)
	// dial starts connecting c.
	dial(c *Connector, host string, port uint16, timeout time.Duration) dialer
	// udp binds a datagram socket to ap for in.
	udp(in *dgramIn, ap netip.AddrPort) (dgramIO, netip.AddrPort, error)
}
