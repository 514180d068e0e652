//go:build unix

package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Connector is an outgoing connection attempt (Twisted's IConnector).
type Connector struct {
	r        *Reactor
	f        ClientFactory
	addr     string
	deadline time.Time
	cands    []netip.AddrPort // addresses still to try, in order
	conn     *tcpConn         // the socket being connected, if any
	timer    *DelayedCall
	cancel   context.CancelFunc // stops name resolution
	done     bool
	lastErr  error
}

// ConnectTCP connects to addr ("host:port", IPv4 or IPv6, or a name) with
// a non-blocking connect, and calls f.BuildProtocol once connected. A
// connection that cannot be made — refused, unreachable, not resolved, or
// not made within timeout (0: no limit) — reaches f.ConnectionFailed on the
// main thread, never from inside ConnectTCP. Names are resolved on another
// goroutine, so the main thread never blocks. If a name has several
// addresses they are tried in order. Main thread.
func (r *Reactor) ConnectTCP(addr string, f ClientFactory, timeout time.Duration) (*Connector, error) {
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
	c := &Connector{r: r, f: f, addr: addr}
	if timeout > 0 {
		c.deadline = r.now().Add(timeout)
		c.timer, _ = r.CallLater(timeout, func() {
			c.timer = nil
			c.fail(fmt.Errorf("%w: connecting to %s after %v", ErrTimeout, addr, timeout))
		})
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		c.cands = []netip.AddrPort{netip.AddrPortFrom(ip, uint16(port))}
		r.CallLater(0, c.next)
		return c, nil
	}
	if host == "" {
		c.cands = []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port)), netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))}
		r.CallLater(0, c.next)
		return c, nil
	}
	c.resolve(host, uint16(port), timeout)
	return c, nil
}

// resolve looks the name up on another goroutine and continues on the
// main thread.
func (c *Connector) resolve(host string, port uint16, timeout time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
	}
	c.cancel = cancel
	r := c.r
	r.watchers.Add(1)
	r.watcherN.Add(1)
	go func() {
		defer r.watchers.Done()
		defer r.watcherN.Add(-1)
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		cancel()
		_ = r.CallFromThread(func() {
			if c.done {
				return
			}
			if err != nil || len(ips) == 0 {
				if err == nil {
					err = errors.New("no addresses")
				}
				c.fail(fmt.Errorf("%w: %s: %w", ErrResolve, host, err))
				return
			}
			for _, ip := range ips {
				c.cands = append(c.cands, netip.AddrPortFrom(ip.Unmap(), port))
			}
			c.next()
		})
	}()
}

// next tries the next candidate address, or fails with the last error.
func (c *Connector) next() {
	if c.done {
		return
	}
	if len(c.cands) == 0 {
		err := c.lastErr
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrUnreachable, c.addr)
		}
		c.fail(err)
		return
	}
	ap := c.cands[0]
	c.cands = c.cands[1:]
	sa, family := addrPortToSockaddr(ap)
	fd, err := newSocket(family, unix.SOCK_STREAM)
	if err != nil {
		c.lastErr = connectError(c.addr, err)
		c.r.CallLater(0, c.next)
		return
	}
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		unix.Close(fd)
		c.lastErr = connectError(c.addr, err)
		c.r.CallLater(0, c.next)
		return
	}
	// Connected or in progress: the poll loop reports write readiness when
	// the outcome is known.
	tc := newTCPConn(c.r, fd, defaultConnConfig())
	tc.connecting = c
	tc.state = stateConnecting
	tc.flags.Store(flagConnecting)
	tc.wantW.Store(true)
	tc.h.want = evRead | evWrite
	if err := c.r.register(tc.h); err != nil {
		unix.Close(fd)
		c.lastErr = connectError(c.addr, err)
		c.r.CallLater(0, c.next)
		return
	}
	c.conn = tc
}

// finishConnect runs when a connecting socket is ready: it learns whether
// the connect worked.
func (tc *tcpConn) finishConnect() {
	c := tc.connecting
	errno, err := unix.GetsockoptInt(tc.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && errno != 0 {
		err = syscall.Errno(errno)
	}
	if err == nil {
		if _, perr := unix.Getpeername(tc.fd); perr != nil {
			err = perr // not connected after all (spurious readiness)
			if perr == unix.ENOTCONN {
				_ = tc.r.rearm(tc.h)
				return
			}
		}
	}
	if err != nil {
		c.conn = nil
		tc.closeNow(err)
		c.lastErr = connectError(c.addr, err)
		c.next()
		return
	}
	// Connected.
	c.conn = nil
	c.done = true
	if c.timer != nil {
		_ = c.timer.Cancel()
		c.timer = nil
	}
	tc.connecting = nil
	tc.local, tc.remote = localAddr(tc.fd), remoteAddr(tc.fd)
	proto, perr := tc.r.buildProtocol(c.f, tc.remote)
	if perr != nil || proto == nil {
		if perr == nil {
			perr = fmt.Errorf("%w: BuildProtocol returned nil", ErrRefusedByFactory)
		}
		tc.closeNow(perr)
		c.r.safeCall("ConnectionFailed", func() { c.f.ConnectionFailed(perr) })
		return
	}
	tc.flags.Store(0)
	tc.wantW.Store(false)
	tc.h.want = evRead
	tc.proto = proto
	tc.state = stateOpen
	if tc.cfg.noDelay {
		_ = unix.SetsockoptInt(tc.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	_ = tc.r.rearm(tc.h)
	tc.r.stats.conns.Add(1)
	tc.callConnectionMade()
	if tc.state != stateClosed {
		tc.deliver() // bytes that arrived with the handshake
	}
}

// failConnect abandons a connecting socket.
func (tc *tcpConn) failConnect(reason error) {
	if c := tc.connecting; c != nil {
		c.fail(reason)
		return
	}
	tc.closeNow(reason)
}

// fail ends the attempt and tells the factory, once.
func (c *Connector) fail(err error) {
	if c.done {
		return
	}
	c.done = true
	if c.timer != nil {
		_ = c.timer.Cancel()
		c.timer = nil
	}
	if c.cancel != nil {
		c.cancel()
	}
	if tc := c.conn; tc != nil {
		c.conn = nil
		tc.closeNow(err)
	}
	c.r.safeCall("ConnectionFailed", func() { c.f.ConnectionFailed(err) })
}

// Cancel stops the attempt (Twisted's stopConnecting): the factory's
// ConnectionFailed gets ErrAborted. It does nothing once connected.
func (c *Connector) Cancel() { c.fail(fmt.Errorf("%w: connect to %s cancelled", ErrAborted, c.addr)) }

func connectError(addr string, err error) error {
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return fmt.Errorf("%w: %s: %w", ErrConnectionRefused, addr, err)
	case errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.EADDRNOTAVAIL), errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, err)
	case errors.Is(err, unix.ETIMEDOUT):
		return fmt.Errorf("%w: %s: %w", ErrTimeout, addr, err)
	}
	return fmt.Errorf("reactor: connect %s: %w", addr, err)
}

// AdoptConn takes over a connection a program opened itself (a
// *net.TCPConn or *net.UnixConn, anything whose SyscallConn gives its
// socket): the reactor keeps its own copy of the socket, closes c, and runs
// p on it; p.ConnectionMade is called before AdoptConn returns. Main
// thread.
func (r *Reactor) AdoptConn(c net.Conn, p Protocol, opts ...ListenOption) (Transport, error) {
	if c == nil || p == nil {
		return nil, fmt.Errorf("%w: nil conn or Protocol", ErrInvalidArgument)
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%w: %T has no SyscallConn", ErrUnsupported, c)
	}
	fd, err := dupSyscallConn(sc)
	if err != nil {
		return nil, err
	}
	local, remote := c.LocalAddr(), c.RemoteAddr()
	c.Close()
	cfg := listenConfig{conn: defaultConnConfig()}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	tc := newTCPConn(r, fd, cfg.conn)
	tc.local, tc.remote = local, remote
	if _, isTCP := c.(*net.TCPConn); !isTCP {
		tc.cfg.noDelay = false
	}
	if err := tc.start(p); err != nil {
		return nil, err
	}
	return tc, nil
}
