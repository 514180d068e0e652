//go:build unix

package core

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fdConnect is the descriptor implementation's part of a Connector.
type fdConnect struct {
	cands []netip.AddrPort // addresses still to try, in order
	conn  *tcpConn         // the socket being connected, if any
}

// abandon closes the socket being connected, if any.
func (f *fdConnect) abandon(err error) {
	if tc := f.conn; tc != nil {
		f.conn = nil
		tc.closeNow(err)
	}
}

// connectFD starts a non-blocking connect, resolving host first if it is a
// name.
func (c *Connector) connectFD(host string, port uint16, timeout time.Duration) {
	r := c.r
	if ip, err := netip.ParseAddr(host); err == nil {
		c.fdc.cands = []netip.AddrPort{netip.AddrPortFrom(ip, port)}
		r.CallLater(0, c.next)
		return
	}
	if host == "" {
		c.fdc.cands = []netip.AddrPort{
			netip.AddrPortFrom(netip.IPv6Loopback(), port),
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port),
		}
		r.CallLater(0, c.next)
		return
	}
	c.resolve(host, port, timeout, func(aps []netip.AddrPort) {
		c.fdc.cands = aps
		c.next()
	})
}

// next tries the next candidate address, or fails with the last error.
func (c *Connector) next() {
	if c.done {
		return
	}
	if len(c.fdc.cands) == 0 {
		err := c.lastErr
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrUnreachable, c.addr)
		}
		c.fail(err)
		return
	}
	ap := c.fdc.cands[0]
	c.fdc.cands = c.fdc.cands[1:]
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
	tc := newTCPConn(c.r, fd, c.cfg)
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
	c.fdc.conn = tc
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
		if _, perr := unix.Getpeername(tc.fd); perr == unix.ENOTCONN {
			_ = tc.r.rearm(tc.h) // spurious readiness: still connecting
			return
		} else if perr != nil {
			err = perr
		}
	}
	if err != nil {
		c.fdc.conn = nil
		tc.closeNow(err)
		c.lastErr = connectError(c.addr, err)
		c.next()
		return
	}
	c.fdc.conn = nil
	c.connected()
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
	setConnOptions(tc.fd, tc.cfg)
	_ = tc.r.rearm(tc.h)
	tc.r.stats.conns.Add(1)
	tc.callConnectionMade(tc)
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

func connectError(addr string, err error) error { return dialError(addr, err) }

// adoptConnFD takes a private copy of c's socket, closes c, and runs p on
// the copy.
func (r *Reactor) adoptConnFD(c net.Conn, p Protocol, cfg connConfig) (Transport, error) {
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
	tc := newTCPConn(r, fd, cfg)
	tc.local, tc.remote = local, remote
	if err := tc.start(p); err != nil {
		return nil, err
	}
	return tc, nil
}
