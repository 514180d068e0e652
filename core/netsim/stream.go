package netsim

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
)

// WrapFactory returns a Factory whose connections are simulated: each
// Protocol f builds is handed a *Conn as its Transport. For a program
// that calls the reactor's ListenTCP itself.
func (c *Conditions) WrapFactory(f core.Factory) core.Factory {
	return core.FactoryFunc(func(remote net.Addr) (core.Protocol, error) {
		p, err := f.BuildProtocol(remote)
		if err != nil || p == nil {
			return p, err
		}
		return c.newConn(p).proto(), nil
	})
}

// WrapClientFactory is WrapFactory for ConnectTCP's ClientFactory;
// ConnectionFailed goes straight through.
func (c *Conditions) WrapClientFactory(f core.ClientFactory) core.ClientFactory {
	return core.ClientFuncs{Build: c.WrapFactory(f).BuildProtocol, Failed: f.ConnectionFailed}
}

// WrapProtocol returns a Protocol to give the reactor (from a Factory of
// the program's own, or AdoptConn) in place of p: p sees a simulated
// connection.
func (c *Conditions) WrapProtocol(p core.Protocol) core.Protocol { return c.newConn(p).proto() }

// Conn is a simulated connection: the Transport the program's Protocol
// is given. Its methods have core.Transport's contract, with the simulated
// link in between: Write returns at once, and the bytes reach the real
// connection later.
type Conn struct {
	c     *Conditions
	t     core.Transport // the reactor's
	inner core.Protocol
	part  core.PartialProtocol // inner, if it is one
	own   *Settings            // settings of its own, or nil

	recv, send pipe

	spent     func() bool // the reactor's budget test, from DataReceivedPartial
	closing   bool        // the program called LoseConnection
	aborted   bool        // the program called AbortConnection or AbortWithError
	lostSeen  bool        // the reactor reported ConnectionLost
	delivered bool        // ConnectionLost was passed on
}

func (c *Conditions) newConn(p core.Protocol) *Conn {
	k := &Conn{c: c, inner: p}
	k.part, _ = p.(core.PartialProtocol)
	k.recv = pipe{c: c, rng: c.rng(), stream: true}
	k.send = pipe{c: c, rng: c.rng(), stream: true, send: true}
	k.recv.deliver = k.deliverRecv
	k.send.deliver = k.deliverSend
	k.recv.fire, k.send.fire = k.recv.run, k.send.run
	c.conns[k] = struct{}{}
	return k
}

func (k *Conn) proto() core.Protocol {
	if _, ok := k.inner.(core.HalfCloseProtocol); ok {
		return halfProto{connProto{k}}
	}
	return connProto{k}
}

func (k *Conn) link(send bool) *Link {
	s := &k.c.set
	if k.own != nil {
		s = k.own
	}
	if send {
		return &s.Send
	}
	return &s.Recv
}

// SetSettings gives the connection settings of its own; nil goes back to
// the Conditions' settings.
func (k *Conn) SetSettings(s *Settings) {
	if s == nil {
		k.own = nil
		return
	}
	own := *s
	k.own = &own
}

// Underlying returns the reactor's Transport under the simulation.
func (k *Conn) Underlying() core.Transport { return k.t }

// Override gives the connection or port x settings of its own (nil: back
// to its Conditions' settings). x is a Transport or netio.PacketPort that
// Conditions made; Override reports whether it was one.
func Override(x any, s *Settings) bool {
	switch v := x.(type) {
	case *Conn:
		v.SetSettings(s)
		return true
	case *Port:
		v.SetSettings(s)
		return true
	}
	return false
}

// connProto is the Protocol the reactor sees.
type connProto struct{ k *Conn }

func (p connProto) ConnectionMade(t core.Transport) {
	p.k.t = t
	p.k.inner.ConnectionMade(p.k)
}

func (p connProto) DataReceived(data []byte) { p.k.received(data, nil) }

func (p connProto) DataReceivedPartial(data []byte, spent func() bool) int {
	return p.k.received(data, spent)
}

func (p connProto) ConnectionLost(reason error) { p.k.reactorLost(reason) }

// PauseProducing implements core.Producer: passed on if the program's
// Protocol is one.
func (p connProto) PauseProducing() {
	if pr, ok := p.k.inner.(core.Producer); ok {
		pr.PauseProducing()
	}
}

// ResumeProducing implements core.Producer.
func (p connProto) ResumeProducing() {
	if pr, ok := p.k.inner.(core.Producer); ok {
		pr.ResumeProducing()
	}
}

type halfProto struct{ connProto }

func (p halfProto) ReadConnectionLost() {
	k := p.k
	if k.recv.empty() && k.link(false).streamIdle() {
		k.inner.(core.HalfCloseProtocol).ReadConnectionLost()
		return
	}
	k.recv.pushStream(item{kind: itemReadLost}, k.link(false))
}

// received takes bytes from the reactor: straight to the program when the
// link is idle and nothing is held, else held.
func (k *Conn) received(data []byte, spent func() bool) int {
	if spent != nil {
		k.spent = spent
	}
	if k.aborted {
		return len(data)
	}
	l := k.link(false)
	if k.recv.empty() && l.streamIdle() {
		if k.part != nil && spent != nil {
			return k.part.DataReceivedPartial(data, spent)
		}
		k.inner.DataReceived(data)
		return len(data)
	}
	k.recv.pushStream(item{kind: itemData, buf: k.c.copyOf(data)}, l)
	return len(data)
}

func (k *Conn) reactorLost(reason error) {
	k.lostSeen = true
	k.send.discard()
	if k.aborted || (k.recv.empty() && k.link(false).streamIdle()) {
		k.recv.discard()
		k.lose(reason)
		return
	}
	k.recv.pushStream(item{kind: itemLost, err: reason}, k.link(false))
}

func (k *Conn) lose(reason error) {
	if k.delivered {
		return
	}
	k.delivered = true
	delete(k.c.conns, k)
	k.inner.ConnectionLost(reason)
}

func (k *Conn) budgetSpent() bool { return k.spent != nil && k.spent() }

// deliverRecv hands one held item to the program. It reports whether the
// item is done (a partial protocol may take only part of a chunk).
func (k *Conn) deliverRecv(it *item) bool {
	switch it.kind {
	case itemData:
		data := it.buf[it.off:]
		if k.part != nil && k.spent != nil {
			n := k.part.DataReceivedPartial(data, k.spent)
			if n > 0 && n < len(data) {
				it.off += n
				return false
			}
			if n <= 0 && !k.budgetSpent() {
				k.inner.DataReceived(data) // no progress: hand it all over
			} else if n <= 0 {
				return false
			}
			return true
		}
		k.inner.DataReceived(data)
	case itemReadLost:
		k.inner.(core.HalfCloseProtocol).ReadConnectionLost()
	case itemLost:
		k.lose(it.err)
	}
	return true
}

func (k *Conn) deliverSend(it *item) bool {
	if k.t == nil {
		return true
	}
	switch it.kind {
	case itemData:
		_, _ = k.t.Write(it.buf)
	case itemLose:
		_ = k.t.LoseConnection()
	}
	return true
}

// Write implements core.Transport: the bytes go through the simulated
// link. It copies p.
func (k *Conn) Write(p []byte) (int, error) {
	if err := k.writable(); err != nil {
		return 0, err
	}
	l := k.link(true)
	if k.send.empty() && l.streamIdle() {
		return k.t.Write(p)
	}
	k.send.pushStream(item{kind: itemData, buf: k.c.copyOf(p)}, l)
	return len(p), nil
}

// Writev implements core.Transport: the buffers go through the link as
// one chunk.
func (k *Conn) Writev(bufs ...[]byte) (int, error) {
	if err := k.writable(); err != nil {
		return 0, err
	}
	l := k.link(true)
	if k.send.empty() && l.streamIdle() {
		return k.t.Writev(bufs...)
	}
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	buf := k.c.copyOf(nil)
	for _, b := range bufs {
		buf = append(buf, b...)
	}
	k.send.pushStream(item{kind: itemData, buf: buf}, l)
	return n, nil
}

func (k *Conn) writable() error {
	if k.t == nil || k.closing || k.aborted {
		return core.ErrClosed
	}
	if k.lostSeen {
		// What the reactor's transport says: closed, with the reason.
		_, err := k.t.Write(nil)
		if err == nil {
			err = core.ErrClosed
		}
		return err
	}
	return nil
}

// LoseConnection implements core.Transport: the connection closes once
// everything written before has gone through the link.
func (k *Conn) LoseConnection() error {
	if k.t == nil {
		return core.ErrClosed
	}
	if k.closing || k.aborted || k.lostSeen {
		return k.t.LoseConnection()
	}
	k.closing = true
	if k.send.empty() {
		return k.t.LoseConnection()
	}
	k.send.pushStream(item{kind: itemLose}, k.link(true))
	return nil
}

// AbortConnection implements core.Transport: at once, dropping what is
// held either way.
func (k *Conn) AbortConnection() error {
	k.aborted = true
	k.send.discard()
	k.recv.discard()
	return k.t.AbortConnection()
}

// AbortWithError implements core.Transport, like AbortConnection.
func (k *Conn) AbortWithError(reason error) error {
	k.aborted = true
	k.send.discard()
	k.recv.discard()
	return k.t.AbortWithError(reason)
}

// PauseProducing implements core.Transport.
func (k *Conn) PauseProducing() { k.t.PauseProducing() }

// ResumeProducing implements core.Transport.
func (k *Conn) ResumeProducing() { k.t.ResumeProducing() }

// SetWriteBufferLimits implements core.Transport.
func (k *Conn) SetWriteBufferLimits(high, low int) { k.t.SetWriteBufferLimits(high, low) }

// SetNoDelay implements core.Transport.
func (k *Conn) SetNoDelay(noDelay bool) error { return k.t.SetNoDelay(noDelay) }

// LocalAddr implements core.Transport.
func (k *Conn) LocalAddr() net.Addr { return k.t.LocalAddr() }

// RemoteAddr implements core.Transport.
func (k *Conn) RemoteAddr() net.Addr { return k.t.RemoteAddr() }

// ID implements core.Transport: the reactor's connection's.
func (k *Conn) ID() core.ConnID { return k.t.ID() }

// Stats implements core.Transport: the reactor's counters, with what the
// simulator holds added to Queued (sent) and Unread (received).
func (k *Conn) Stats() core.ConnStats {
	st := k.t.Stats()
	st.Queued += k.send.bytes
	st.Unread += k.recv.bytes
	return st
}

// The kinds of held items.
const (
	itemData     uint8 = iota
	itemLost           // ConnectionLost(err)
	itemReadLost       // ReadConnectionLost
	itemLose           // LoseConnection (sending side)
)

// item is something held in a pipe.
type item struct {
	due  time.Time
	at   time.Time // when it was taken, for the stats
	seq  uint64
	kind uint8
	buf  []byte
	off  int // bytes of buf already delivered
	err  error
	addr netip.AddrPort // datagrams: the source (received) or destination (WriteTo)
	to   bool           // datagrams sent: WriteTo rather than Write
}

// pipe is one direction of one connection or port: what is held, in
// delivery order, and the one timer that delivers the next.
type pipe struct {
	c      *Conditions
	rng    *rand.Rand
	stream bool // FIFO (a stream) or by due time (datagrams)
	send   bool

	q     []item // streams: FIFO from head; datagrams: a heap
	head  int
	seq   uint64
	bytes int

	busy time.Time // streams: the link is sending earlier chunks until then
	last time.Time // streams: due time of the last chunk (order is kept)

	timer   netio.Timer
	timerAt time.Time
	fire    func()           // run, bound once
	deliver func(*item) bool // hands an item on; false: not finished with it
}

func (p *pipe) empty() bool { return len(p.q)-p.head == 0 }

// pushStream holds it on a stream pipe: after the link's delay, never
// before what is ahead of it, and after the link has had time to send it.
func (p *pipe) pushStream(it item, l *Link) {
	now := p.c.net.Now()
	it.at = now
	tx := now
	if l.Bandwidth > 0 && len(it.buf) > 0 {
		start := now
		if p.busy.After(start) {
			start = p.busy
		}
		p.busy = start.Add(time.Duration(int64(len(it.buf)) * int64(time.Second) / int64(l.Bandwidth)))
		tx = p.busy
	}
	it.due = tx.Add(delay(p.rng, l))
	if it.due.Before(p.last) {
		it.due = p.last
	}
	p.last = it.due
	p.hold(it)
	p.q = append(p.q, it)
	p.arm()
}

func (p *pipe) hold(it item) {
	st := p.c.dirStats(p.send)
	st.InFlight++
	st.InFlightBytes += len(it.buf)
	p.bytes += len(it.buf)
	d := it.due.Sub(it.at)
	st.Delayed++
	st.DelaySum += d
	st.MaxDelay = max(st.MaxDelay, d)
	st.Bytes += uint64(len(it.buf))
}

func (p *pipe) released(it *item) {
	st := p.c.dirStats(p.send)
	st.InFlight--
	st.InFlightBytes -= len(it.buf)
	p.bytes -= len(it.buf)
	p.c.recycle(it.buf)
	*it = item{}
}

// front returns the next item to deliver, or nil.
func (p *pipe) front() *item {
	if p.empty() {
		return nil
	}
	return &p.q[p.head]
}

// pop removes the front item.
func (p *pipe) pop() {
	if p.stream {
		p.released(&p.q[p.head])
		p.head++
		if p.head == len(p.q) {
			p.q, p.head = p.q[:0], 0
		} else if p.head > 64 && p.head*2 > len(p.q) {
			n := copy(p.q, p.q[p.head:])
			clear(p.q[n:])
			p.q, p.head = p.q[:n], 0
		}
		return
	}
	heapPop(p)
}

// arm makes sure the timer will fire when the front item is due.
func (p *pipe) arm() {
	f := p.front()
	if f == nil {
		return
	}
	if p.timer != nil && p.timer.Active() {
		if !p.timerAt.After(f.due) {
			return
		}
		_ = p.timer.Cancel()
	}
	p.timerAt = f.due
	p.timer, _ = p.c.net.CallLater(f.due.Sub(p.c.net.Now()), p.fire)
}

// run is the timer's callback: it delivers the front item if it is due
// (one item per callback, so the frame budget is checked between them) and
// re-arms for the next.
func (p *pipe) run() {
	p.timer = nil
	f := p.front()
	if f == nil {
		return
	}
	if !f.due.After(p.c.net.Now()) {
		if p.deliver(f) {
			// deliver may have discarded everything (an abort inside it).
			if g := p.front(); g == f {
				p.pop()
			}
		}
	}
	p.arm()
}

// flushNow delivers everything held, in order, at once.
func (p *pipe) flushNow() {
	if p.timer != nil {
		_ = p.timer.Cancel()
		p.timer = nil
	}
	for f := p.front(); f != nil; f = p.front() {
		if !p.deliver(f) {
			break // a partial protocol stopped; the timer takes the rest
		}
		if p.front() == f {
			p.pop()
		}
	}
	p.busy, p.last = time.Time{}, time.Time{}
	p.arm()
}

// discard drops everything held (the connection or port is gone).
func (p *pipe) discard() {
	if p.timer != nil {
		_ = p.timer.Cancel()
		p.timer = nil
	}
	st := p.c.dirStats(p.send)
	for i := p.head; i < len(p.q); i++ {
		if p.q[i].kind == itemData {
			st.Discarded++
		}
		p.released(&p.q[i])
	}
	p.q, p.head = p.q[:0], 0
}
