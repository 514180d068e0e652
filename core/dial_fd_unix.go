//go:build unix

package core

import (
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fdDial is a descriptor-backed connection attempt: a non-blocking
// connect to each candidate address in turn, whose outcome the poll loop
// reports as write readiness.
type fdDial struct {
	c     *Connector
	cands []netip.AddrPort // addresses still to try, in order
	conn  *fdConn          // the socket being connected, if any
}

// abandon closes the socket being connected, if any.
func (d *fdDial) abandon(err error) {
	if tc := d.conn; tc != nil {
		d.conn = nil
		tc.closeNow(err)
	}
}

// dial starts a non-blocking connect, resolving host first if it is a
// name.
func (f unixFDs) dial(c *Connector, host string, port uint16, timeout time.Duration) dialer {
	d := &fdDial{c: c}
	if ip, err := netip.ParseAddr(host); err == nil {
		d.cands = []netip.AddrPort{netip.AddrPortFrom(ip, port)}
		c.r.callLater(0, d.next)
		return d
	}
	if host == "" {
		d.cands = []netip.AddrPort{
			netip.AddrPortFrom(netip.IPv6Loopback(), port),
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port),
		}
		c.r.callLater(0, d.next)
		return d
	}
	c.resolve(host, port, timeout, func(aps []netip.AddrPort) {
		d.cands = aps
		d.next()
	})
	return d
}

// next tries the next candidate address, or fails with the last error.
func (d *fdDial) next() {
	c := d.c
	if c.done {
		return
	}
	if len(d.cands) == 0 {
		err := c.lastErr
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrUnreachable, c.addr)
		}
		c.fail(err)
		return
	}
	ap := d.cands[0]
	d.cands = d.cands[1:]
	sa, family := addrPortToSockaddr(ap)
	fd, err := newSocket(family, unix.SOCK_STREAM)
	if err != nil {
		c.lastErr = dialError(c.addr, err)
		c.r.callLater(0, d.next)
		return
	}
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		unix.Close(fd)
		c.lastErr = dialError(c.addr, err)
		c.r.callLater(0, d.next)
		return
	}
	// Connected or in progress: the poll loop reports write readiness when
	// the outcome is known.
	tc := newFdConn(c.r, fd, c.cfg)
	tc.connecting = d
	tc.state = stateConnecting
	tc.flags.Store(flagConnecting)
	tc.wantW.Store(true)
	tc.h.want = evRead | evWrite
	if err := c.r.register(tc.h); err != nil {
		unix.Close(fd)
		c.lastErr = dialError(c.addr, err)
		c.r.callLater(0, d.next)
		return
	}
	d.conn = tc
}

// finishConnect runs when a connecting socket is ready: it learns whether
// the connect worked.
func (tc *fdConn) finishConnect() {
	d := tc.connecting
	c := d.c
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
	d.conn = nil
	if err != nil {
		tc.closeNow(err)
		c.lastErr = dialError(c.addr, err)
		d.next()
		return
	}
	c.connected()
	tc.connecting = nil
	tc.local, tc.remote = localAddr(tc.fd), remoteAddr(tc.fd)
	tc.flags.Store(0)
	tc.wantW.Store(false)
	tc.h.want = evRead
	c.established(tc)
	if tc.open() {
		tc.do(tc.deliver()) // bytes that arrived with the handshake
	}
}

// failConnect abandons a connecting socket.
func (tc *fdConn) failConnect(reason error) {
	if d := tc.connecting; d != nil {
		d.c.fail(reason)
		return
	}
	tc.closeNow(reason)
}
