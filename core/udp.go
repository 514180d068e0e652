package core

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/threadedselect/reactor/core/internal/queue"
)

// The public face of UDP, shared by both implementations of a datagram
// port: descriptor-backed (unix: the poll loop reads the socket; see
// udp_fd_unix.go) and goroutine-backed (a reader goroutine on the Go
// runtime's poller; udp_go.go). Protocols cannot tell them apart.

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
	in    dgramIn
	io    dgramIO

	// Main thread only.
	closed    bool
	connected bool
	peer      netip.AddrPort
	dgramsOut uint64
	bytesOut  uint64
	dropOut   uint64
}

// dgramIO is the I/O of a datagram port: descriptor-backed (fdUDP) or
// goroutine-backed (goUDP). Its reader — the poll loop, or the port's own
// goroutine — queues what it reads on the port's dgramIn. Main thread but
// for pollReady.
type dgramIO interface {
	// pollReady reads on the poll loop; goroutine-backed ports have no
	// descriptor the poll loop watches, so it is never called for them.
	pollReady(l *loop, h *handle, ev interest)
	connect(peer netip.AddrPort) error
	writeTo(b []byte, to netip.AddrPort) error
	write(b []byte) error
	close() error
}

// dgramIn is a port's receiving side, shared between its reader and the
// main thread.
type dgramIn struct {
	r         *Reactor
	h         *handle
	pool      pool[dgram] // the reader's pool
	q         queue.SPSC[*dgram]
	refused   atomic.Bool
	dgramsIn  atomic.Uint64
	bytesIn   atomic.Uint64
	dropQueue atomic.Uint64
	dropKern  atomic.Uint64
	dropTrunc atomic.Uint64
}

// maxDatagram is the largest datagram a UDP port delivers; longer ones are
// dropped and counted as truncated. Game datagrams stay under the path MTU
// (about 1200 bytes), so this leaves room without wasting memory on the
// port's queue.
const maxDatagram = 2048

// dgram is one received datagram, recycled through its reader's pool.
type dgram struct {
	buf  [maxDatagram]byte
	n    int
	from netip.AddrPort
}

func newDgram() *dgram { return new(dgram) }

// dgramQueueCap bounds how many datagrams a UDP port keeps for the main
// thread; beyond it they are dropped and counted.
const dgramQueueCap = 1024

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
	ap = netip.AddrPortFrom(ip.Unmap(), ap.Port())
	u := &UDPPort{r: r, proto: p, v6: ap.Addr().Is6()}
	u.h = &handle{fd: -1, owner: u, want: evRead}
	u.in = dgramIn{r: r, h: u.h, q: queue.NewSPSC[*dgram](dgramQueueCap)}
	if fds := r.fdTransports(); fds != nil {
		// Descriptor-backed: registered only once u.io is set, since the
		// poll thread reads it as soon as the socket is registered.
		if u.io, u.local, err = fds.udp(&u.in, ap); err == nil {
			if err = r.register(u.h); err != nil {
				u.io.close()
			}
		}
	} else {
		u.io, u.local, err = listenUDPGo(&u.in, ap)
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
	if err := u.io.connect(peer); err != nil {
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
	return u.sent(len(b), u.io.writeTo(b, addr))
}

// Write sends one datagram to the connected peer.
func (u *UDPPort) Write(b []byte) error {
	if u.closed {
		return ErrClosed
	}
	if !u.connected {
		return fmt.Errorf("%w: Write on an unconnected UDP port (use WriteTo or Connect)", ErrInvalidArgument)
	}
	return u.sent(len(b), u.io.write(b))
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
	err := u.io.close()
	for d := u.in.q.Peek(); d != nil; d = u.in.q.Peek() {
		u.in.q.Pop()
		u.in.pool.put(d)
	}
	return err
}

// Stats returns the port's counters.
func (u *UDPPort) Stats() UDPStats {
	in := &u.in
	return UDPStats{
		DatagramsIn: in.dgramsIn.Load(), DatagramsOut: u.dgramsOut,
		BytesIn: in.bytesIn.Load(), BytesOut: u.bytesOut,
		DroppedQueue: in.dropQueue.Load(), DroppedKernel: in.dropKern.Load(),
		DroppedOut: u.dropOut, DroppedTruncated: in.dropTrunc.Load(),
	}
}

func (u *UDPPort) lose(r *Reactor, h *handle, reason error) { _ = u.Close() }

func (u *UDPPort) pollReady(l *loop, h *handle, ev interest) { u.io.pollReady(l, h, ev) }

// dispatch hands queued datagrams to the protocol on the main thread.
func (u *UDPPort) dispatch(r *Reactor, h *handle) {
	h.takeReady()
	if u.in.refused.Swap(false) && !u.closed {
		if cp, ok := u.proto.(ConnectedDatagramProtocol); ok {
			r.safeCall("ConnectionRefused", cp.ConnectionRefused)
		}
	}
	for d := u.in.q.Peek(); d != nil && !u.closed; d = u.in.q.Peek() {
		if r.budgetSpent() {
			r.again(h) // the rest in the port's next turn
			return
		}
		u.in.q.Pop()
		r.stats.msgsIn.Add(1)
		u.callDatagramReceived(d.buf[:d.n], d.from)
		u.in.pool.put(d)
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

// queued is called by the reader with a datagram read into d: it queues it
// for the main thread, or drops and counts it when the main thread is this
// far behind. It reports whether d was kept; the reader keeps one that was
// not.
func (in *dgramIn) queued(d *dgram) bool {
	if !in.q.Push(d) {
		in.dropQueue.Add(1)
		in.r.stats.dropped.Add(1)
		return false
	}
	in.dgramsIn.Add(1)
	in.bytesIn.Add(uint64(d.n))
	in.r.stats.bytesIn.Add(uint64(d.n))
	return true
}

// kernelDropped counts the datagrams the kernel dropped on the reader's
// socket since it last looked, from the socket's cumulative count
// (SO_RXQ_OVFL); last is the reader's memory of it.
func (in *dgramIn) kernelDropped(drops uint32, last *uint32) {
	if delta := drops - *last; delta > 0 {
		in.dropKern.Add(uint64(delta))
		in.r.stats.dropped.Add(uint64(delta))
	}
	*last = drops
}

// truncated counts a datagram longer than the port's buffer.
func (in *dgramIn) truncated() {
	in.dropTrunc.Add(1)
	in.r.stats.dropped.Add(1)
}
