package core

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
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
	// the kernel dropped because the socket buffer was full (Linux),
	// DroppedOut datagrams the kernel would not take (send buffer full),
	// and DroppedTruncated datagrams longer than the port's buffer.
	DroppedQueue, DroppedKernel, DroppedOut, DroppedTruncated uint64
}

// UDPPort is a UDP socket on the reactor. Its methods must be called on
// the main thread.
type UDPPort struct {
	r     *Reactor
	h     *handle
	proto DatagramProtocol
	local netip.AddrPort
	v6    bool

	// Shared with the goroutine that reads the socket (the poll loop, or
	// the port's own reader with the portable backend).
	q         spsc[*dgram]
	refused   atomic.Bool
	dgramsIn  atomic.Uint64
	bytesIn   atomic.Uint64
	dropQueue atomic.Uint64
	dropKern  atomic.Uint64
	dropTrunc atomic.Uint64

	// Main thread only.
	closed    bool
	connected bool
	peer      netip.AddrPort
	dgramsOut uint64
	bytesOut  uint64
	dropOut   uint64

	fd  int          // the descriptor implementation
	sys udpSys       // its platform state
	uc  *net.UDPConn // the goroutine implementation
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
	u := &UDPPort{r: r, proto: p, fd: -1, q: newSPSC[*dgram](dgramQueueCap)}
	u.h = &handle{fd: -1, owner: u, want: evRead}
	if r.goNet {
		err = u.listenGo(netip.AddrPortFrom(ip.Unmap(), ap.Port()))
	} else {
		err = u.listenFD(netip.AddrPortFrom(ip.Unmap(), ap.Port()))
	}
	if err != nil {
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
	if !peer.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrInvalidArgument)
	}
	var err error
	if u.uc != nil {
		err = u.connectGo(peer)
	} else {
		err = u.connectFD(peer)
	}
	if err != nil {
		return fmt.Errorf("reactor: udp connect %v: %w", peer, err)
	}
	u.connected, u.peer = true, peer
	return nil
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
	if addr.Addr().Is4In6() {
		addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	}
	if !u.v6 && addr.Addr().Is6() {
		return fmt.Errorf("%w: IPv6 destination %v on an IPv4 port", ErrInvalidArgument, addr)
	}
	if u.uc != nil {
		return u.sent(len(b), u.writeToGo(b, addr))
	}
	return u.sent(len(b), u.writeToFD(b, addr))
}

// Write sends one datagram to the connected peer.
func (u *UDPPort) Write(b []byte) error {
	if u.closed {
		return ErrClosed
	}
	if !u.connected {
		return fmt.Errorf("%w: Write on an unconnected UDP port (use WriteTo or Connect)", ErrInvalidArgument)
	}
	if u.uc != nil {
		return u.sent(len(b), u.writeGo(b))
	}
	return u.sent(len(b), u.writeFD(b))
}

func (u *UDPPort) sent(n int, err error) error {
	if err == nil {
		u.dgramsOut++
		u.bytesOut += uint64(n)
		u.r.stats.msgsOut.Add(1)
		u.r.stats.bytesOut.Add(uint64(n))
		return nil
	}
	if isWouldBlock(err) {
		u.dropOut++
		u.r.stats.dropped.Add(1)
		return fmt.Errorf("reactor: udp datagram dropped, send buffer full: %w", err)
	}
	if isRefused(err) {
		return &sysError{kind: ErrConnectionRefused, err: err}
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
	var err error
	if u.uc != nil {
		err = u.uc.Close()
	} else {
		err = u.closeFD()
	}
	for d := u.q.peek(); d != nil; d = u.q.peek() {
		u.q.pop()
		u.r.putDgram(d)
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

// queued is called by the reader with a datagram read into d: it queues it
// for the main thread, or drops and counts it when the main thread is this
// far behind. It reports whether d was kept.
func (u *UDPPort) queued(d *dgram) bool {
	if !u.q.push(d) {
		u.dropQueue.Add(1)
		u.r.stats.dropped.Add(1)
		return false
	}
	u.dgramsIn.Add(1)
	u.bytesIn.Add(uint64(d.n))
	u.r.stats.bytesIn.Add(uint64(d.n))
	return true
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
		if r.budgetSpent() {
			r.again(h) // the rest in the port's next turn
			return
		}
		u.q.pop()
		r.stats.msgsIn.Add(1)
		u.callDatagramReceived(d.buf[:d.n], d.from)
		r.putDgram(d)
	}
}

func (u *UDPPort) callDatagramReceived(b []byte, from netip.AddrPort) {
	u.r.ran++
	defer func() {
		if v := recover(); v != nil {
			u.r.logPanic("DatagramReceived", v, "from", from.String())
		}
	}()
	u.proto.DatagramReceived(b, from)
}

// putDgram recycles a datagram buffer into the pool its reader takes from.
func (r *Reactor) putDgram(d *dgram) {
	if r.goNet {
		r.goDgrams.Put(d)
		return
	}
	r.dgrams.put(d)
}
