package netsim

import (
	"net/netip"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
)

// Port is a simulated UDP port: the netio.PacketPort that
// Conditions.ListenUDP returns. Datagrams it receives reach the program's
// DatagramProtocol through the simulated link, and Write and WriteTo send
// through it: a lost datagram is never sent (and Write says nil, as a real
// network would not tell either).
type Port struct {
	c     *Conditions
	u     netio.PacketPort
	inner core.DatagramProtocol
	own   *Settings

	recv, send pipe
	closed     bool
}

func (c *Conditions) newPort(p core.DatagramProtocol) *Port {
	u := &Port{c: c, inner: p}
	u.recv = pipe{c: c, rng: c.rng()}
	u.send = pipe{c: c, rng: c.rng(), send: true}
	u.recv.deliver = u.deliverRecv
	u.send.deliver = u.deliverSend
	u.recv.fire, u.send.fire = u.recv.run, u.send.run
	c.ports[u] = struct{}{}
	return u
}

// WrapDatagramProtocol returns a DatagramProtocol to give the reactor's
// ListenUDP in place of p, and the Port to send through: call Attach with
// the port ListenUDP made. For a program that calls ListenUDP itself.
func (c *Conditions) WrapDatagramProtocol(p core.DatagramProtocol) (core.DatagramProtocol, *Port) {
	port := c.newPort(p)
	return port.proto(), port
}

// Attach sets the real port p sends through (see WrapDatagramProtocol).
func (u *Port) Attach(p netio.PacketPort) { u.u = p }

func (u *Port) proto() core.DatagramProtocol { return portProto{u} }

func (u *Port) link(send bool) *Link {
	s := &u.c.set
	if u.own != nil {
		s = u.own
	}
	if send {
		return &s.Send
	}
	return &s.Recv
}

// SetSettings gives the port settings of its own; nil goes back to the
// Conditions' settings.
func (u *Port) SetSettings(s *Settings) {
	if s == nil {
		u.own = nil
		return
	}
	own := *s
	u.own = &own
}

// portProto is the DatagramProtocol the reactor sees.
type portProto struct{ u *Port }

func (p portProto) DatagramReceived(data []byte, from netip.AddrPort) {
	u := p.u
	if u.closed {
		return
	}
	l := u.link(false)
	if l.datagramIdle() {
		u.inner.DatagramReceived(data, from)
		return
	}
	u.recv.pushDatagram(data, from, false, l)
}

// ConnectionRefused implements core.ConnectedDatagramProtocol: passed on
// at once if the program's protocol is one.
func (p portProto) ConnectionRefused() {
	if cp, ok := p.u.inner.(core.ConnectedDatagramProtocol); ok && !p.u.closed {
		cp.ConnectionRefused()
	}
}

func (u *Port) deliverRecv(it *item) bool {
	if !u.closed {
		u.inner.DatagramReceived(it.buf, it.addr)
	}
	return true
}

func (u *Port) deliverSend(it *item) bool {
	if u.closed || u.u == nil {
		return true
	}
	if it.to {
		_ = u.u.WriteTo(it.buf, it.addr)
	} else {
		_ = u.u.Write(it.buf)
	}
	return true
}

// pushDatagram rolls the dice for one datagram and holds what survives.
func (p *pipe) pushDatagram(b []byte, addr netip.AddrPort, to bool, l *Link) {
	st := p.c.dirStats(p.send)
	// Always draw the same numbers per datagram, so that one datagram's
	// fate does not shift the next one's.
	lost := p.rng.Float64() < l.Loss
	dup := p.rng.Float64() < l.Duplicate
	if lost {
		st.Dropped++
		return
	}
	n := 1
	if dup {
		n = 2
		st.Duplicated++
	}
	now := p.c.net.Now()
	for range n {
		d := delay(p.rng, l)
		if p.rng.Float64() < l.Reorder {
			d += l.reorderDelay()
			st.Reordered++
		}
		p.seq++
		it := item{kind: itemData, at: now, due: now.Add(d), seq: p.seq, buf: p.c.copyOf(b), addr: addr, to: to}
		p.hold(it)
		heapPush(p, it)
	}
	p.arm()
}

// LocalAddr implements netio.PacketPort.
func (u *Port) LocalAddr() netip.AddrPort { return u.u.LocalAddr() }

// Connect implements netio.PacketPort.
func (u *Port) Connect(peer netip.AddrPort) error { return u.u.Connect(peer) }

// Write implements netio.PacketPort: the datagram goes through the
// simulated link. Errors are the real port's when the link is idle; a
// datagram held is sent later, and what the real port says then is lost
// with it.
func (u *Port) Write(b []byte) error {
	if u.closed {
		return core.ErrClosed
	}
	l := u.link(true)
	if l.datagramIdle() && u.send.empty() {
		return u.u.Write(b)
	}
	u.send.pushDatagram(b, netip.AddrPort{}, false, l)
	return nil
}

// WriteTo implements netio.PacketPort, like Write.
func (u *Port) WriteTo(b []byte, addr netip.AddrPort) error {
	if u.closed {
		return core.ErrClosed
	}
	l := u.link(true)
	if l.datagramIdle() && u.send.empty() {
		return u.u.WriteTo(b, addr)
	}
	u.send.pushDatagram(b, addr, true, l)
	return nil
}

// Close implements netio.PacketPort: what is held either way is dropped.
func (u *Port) Close() error {
	if u.closed {
		return nil
	}
	u.closed = true
	delete(u.c.ports, u)
	u.recv.discard()
	u.send.discard()
	return u.u.Close()
}

// Stats implements netio.PacketPort: the real port's counters.
func (u *Port) Stats() core.UDPStats { return u.u.Stats() }

// Underlying returns the real port under the simulation.
func (u *Port) Underlying() netio.PacketPort { return u.u }

// The datagram pipes keep a binary min-heap ordered by (due, seq).

func less(a, b *item) bool {
	if a.due.Equal(b.due) {
		return a.seq < b.seq
	}
	return a.due.Before(b.due)
}

func heapPush(p *pipe, it item) {
	p.q = append(p.q, it)
	i := len(p.q) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !less(&p.q[i], &p.q[parent]) {
			break
		}
		p.q[i], p.q[parent] = p.q[parent], p.q[i]
		i = parent
	}
}

func heapPop(p *pipe) {
	n := len(p.q) - 1
	p.released(&p.q[0])
	p.q[0] = p.q[n]
	p.q[n] = item{}
	p.q = p.q[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && less(&p.q[l], &p.q[m]) {
			m = l
		}
		if r < n && less(&p.q[r], &p.q[m]) {
			m = r
		}
		if m == i {
			return
		}
		p.q[i], p.q[m] = p.q[m], p.q[i]
		i = m
	}
}
