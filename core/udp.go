//go:build unix

package core

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// DatagramProtocol is what a program writes to handle a UDP port
// (Twisted's DatagramProtocol). Its method runs on the main thread.
type DatagramProtocol interface {
	// DatagramReceived is called for each datagram, in the order they
	// were read. data is valid only during the call.
	DatagramReceived(data []byte, from netip.AddrPort)
}

// ConnectedDatagramProtocol is implemented by a DatagramProtocol that
// wants to hear that its connected peer refused a datagram (an ICMP port
// unreachable; Twisted's ConnectedDatagramProtocol.connectionRefused).
type ConnectedDatagramProtocol interface {
	DatagramProtocol
	ConnectionRefused()
}

// UDPStats are a UDP port's counters.
type UDPStats struct {
	DatagramsIn, DatagramsOut uint64
	BytesIn, BytesOut         uint64
	// DroppedQueue counts datagrams read while the port's queue for the
	// main thread was full (the main thread is behind), DroppedKernel those
	// the kernel dropped because the socket buffer was full (Linux), and
	// DroppedOut datagrams the kernel would not take (send buffer full),
	// and DroppedTruncated datagrams longer than the port's buffer.
	DroppedQueue, DroppedKernel, DroppedOut, DroppedTruncated uint64
}

// UDPPort is a UDP socket on the reactor. Its methods must be called on
// the main thread.
type UDPPort struct {
	r     *Reactor
	h     *handle
	fd    int
	proto DatagramProtocol
	local netip.AddrPort
	v6    bool

	// Shared with the poll loop.
	q         dgramQueue
	refused   atomic.Bool
	dgramsIn  atomic.Uint64
	bytesIn   atomic.Uint64
	dropQueue atomic.Uint64
	dropKern  atomic.Uint64
	dropTrunc atomic.Uint64
	kernLast  uint32 // poll loop: last cumulative kernel drop count seen

	// Main thread only.
	closed    bool
	connected bool
	dgramsOut uint64
	bytesOut  uint64
	dropOut   uint64
	sa4       unix.SockaddrInet4
	sa6       unix.SockaddrInet6
}

// ListenUDP opens a UDP socket on addr ("host:port"; port 0 picks one) and
// delivers its datagrams to p. Main thread (or before the reactor starts).
func (r *Reactor) ListenUDP(addr string, p DatagramProtocol) (*UDPPort, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil DatagramProtocol", ErrInvalidArgument)
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	ap := ua.AddrPort()
	ip := ap.Addr()
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	ip = ip.Unmap()
	sa, family := addrPortToSockaddr(netip.AddrPortFrom(ip, ap.Port()))
	fd, err := newSocket(family, unix.SOCK_DGRAM)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("reactor: listen udp %s: %w", addr, err)
	}
	enableDropCount(fd)
	u := &UDPPort{r: r, fd: fd, proto: p, v6: family == unix.AF_INET6}
	if lsa, err := unix.Getsockname(fd); err == nil {
		u.local = sockaddrToAddrPort(lsa)
	}
	u.h = &handle{fd: fd, owner: u, want: evRead}
	if err := r.register(u.h); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return u, nil
}

// LocalAddr is the address the port is bound to.
func (u *UDPPort) LocalAddr() netip.AddrPort { return u.local }

// Connect makes the port a connected UDP socket: it only receives from
// peer, Write sends to peer, and a refusal reaches ConnectionRefused.
func (u *UDPPort) Connect(peer netip.AddrPort) error {
	if u.closed {
		return ErrClosed
	}
	sa := u.sockaddr(peer)
	if err := unix.Connect(u.fd, sa); err != nil {
		return fmt.Errorf("reactor: udp connect %v: %w", peer, err)
	}
	u.connected = true
	return nil
}

// sockaddr fills the port's reusable socket address for to, so that
// sending allocates nothing.
func (u *UDPPort) sockaddr(to netip.AddrPort) unix.Sockaddr {
	ip := to.Addr()
	if ip.Is4() && !u.v6 {
		u.sa4.Addr, u.sa4.Port = ip.As4(), int(to.Port())
		return &u.sa4
	}
	u.sa6.Addr, u.sa6.Port = ip.As16(), int(to.Port())
	return &u.sa6
}

// WriteTo sends one datagram to addr. A datagram the kernel will not take
// (its send buffer is full) is dropped and counted, and the error says so.
func (u *UDPPort) WriteTo(b []byte, addr netip.AddrPort) error {
	if u.closed {
		return ErrClosed
	}
	if !addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrInvalidArgument)
	}
	if !u.v6 && addr.Addr().Is6() && !addr.Addr().Is4In6() {
		return fmt.Errorf("%w: IPv6 destination %v on an IPv4 port", ErrInvalidArgument, addr)
	}
	if addr.Addr().Is4In6() && !u.v6 {
		addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	}
	return u.sent(len(b), sendto(u.fd, b, u.sockaddr(addr)))
}

// Write sends one datagram to the connected peer.
func (u *UDPPort) Write(b []byte) error {
	if u.closed {
		return ErrClosed
	}
	if !u.connected {
		return fmt.Errorf("%w: Write on an unconnected UDP port (use WriteTo or Connect)", ErrInvalidArgument)
	}
	_, err := unix.Write(u.fd, b)
	return u.sent(len(b), err)
}

func (u *UDPPort) sent(n int, err error) error {
	if err == nil {
		u.dgramsOut++
		u.bytesOut += uint64(n)
		u.r.stats.msgsOut.Add(1)
		u.r.stats.bytesOut.Add(uint64(n))
		return nil
	}
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOBUFS) {
		u.dropOut++
		u.r.stats.dropped.Add(1)
		return fmt.Errorf("reactor: udp datagram dropped, send buffer full: %w", err)
	}
	if errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("%w: %w", ErrConnectionRefused, err)
	}
	return fmt.Errorf("reactor: udp send: %w", err)
}

// Close closes the port. Calling it again does nothing.
func (u *UDPPort) Close() error {
	if u.closed {
		return nil
	}
	u.closed = true
	u.r.unregister(u.h)
	err := unix.Close(u.fd)
	for d := u.q.peek(); d != nil; d = u.q.peek() {
		u.q.pop()
		u.r.dgrams.put(d)
	}
	return err
}

// Stats returns the port's counters.
func (u *UDPPort) Stats() UDPStats {
	return UDPStats{
		DatagramsIn: u.dgramsIn.Load(), DatagramsOut: u.dgramsOut,
		BytesIn: u.bytesIn.Load(), BytesOut: u.bytesOut,
		DroppedQueue: u.dropQueue.Load(), DroppedKernel: u.dropKern.Load(),
		DroppedOut: u.dropOut, DroppedTruncated: u.dropTrunc.Load(),
	}
}

func (u *UDPPort) lose(r *Reactor, h *handle, reason error) { _ = u.Close() }

// pollReady reads datagrams until the socket is empty (the registration
// is edge triggered), queueing them for the main thread, or dropping and
// counting them when the main thread is this far behind.
func (u *UDPPort) pollReady(l *loop, h *handle, ev interest) {
	r := u.r
	got := false
	for i := 0; ; i++ {
		d := l.spareDgram
		if d == nil {
			d = r.dgrams.get()
		}
		l.spareDgram = nil
		n, from, trunc, drops, err := recvDatagram(u.fd, d.buf[:], &d.raw)
		if err != nil {
			l.spareDgram = d
			if err == unix.EINTR {
				continue
			}
			if err == unix.ECONNREFUSED {
				u.refused.Store(true)
				got = true
				continue
			}
			break // EAGAIN, or an error the next datagram will not have
		}
		if drops != 0 {
			if delta := drops - u.kernLast; delta > 0 {
				u.dropKern.Add(uint64(delta))
				r.stats.dropped.Add(uint64(delta))
			}
			u.kernLast = drops
		}
		if trunc {
			l.spareDgram = d
			u.dropTrunc.Add(1)
			r.stats.dropped.Add(1)
			continue
		}
		d.n, d.from = n, from
		if !u.q.push(d) {
			l.spareDgram = d
			u.dropQueue.Add(1)
			r.stats.dropped.Add(1)
			continue
		}
		u.dgramsIn.Add(1)
		u.bytesIn.Add(uint64(n))
		r.stats.bytesIn.Add(uint64(n))
		got = true
	}
	if got {
		h.markReady(l, evRead)
	}
}

// dispatch hands queued datagrams to the protocol on the main thread.
func (u *UDPPort) dispatch(r *Reactor, h *handle) {
	h.takeReady()
	if u.refused.Swap(false) && !u.closed {
		if cp, ok := u.proto.(ConnectedDatagramProtocol); ok {
			r.safeCall("ConnectionRefused", cp.ConnectionRefused)
		}
	}
	for d := u.q.peek(); d != nil && !u.closed; d = u.q.peek() {
		u.q.pop()
		r.stats.msgsIn.Add(1)
		u.callDatagramReceived(d.buf[:d.n], d.from)
		r.dgrams.put(d)
	}
}

func (u *UDPPort) callDatagramReceived(b []byte, from netip.AddrPort) {
	defer func() {
		if v := recover(); v != nil {
			u.r.logPanic("DatagramReceived", v, "from", from.String())
		}
	}()
	u.proto.DatagramReceived(b, from)
}

func sockaddrToAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
