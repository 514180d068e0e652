package netsim_test

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
)

// fakeNet is a netio.Net with a clock that moves only when run says, and
// timers that fire exactly when due: every delivery happens at its due
// time, so delays are measured exactly. No sockets.
type fakeNet struct {
	now    time.Time
	seq    uint64
	timers []*fakeTimer
	fired  int
}

type fakeTimer struct {
	n      *fakeNet
	when   time.Time
	seq    uint64
	f      func()
	every  time.Duration
	active bool
}

func (t *fakeTimer) Cancel() error {
	if !t.active {
		return core.ErrAlreadyCancelled
	}
	t.active = false
	return nil
}

func (t *fakeTimer) Active() bool { return t.active }

func newFakeNet() *fakeNet { return &fakeNet{now: time.Unix(1_000_000, 0)} }

func (n *fakeNet) Now() time.Time { return n.now }

func (n *fakeNet) schedule(d time.Duration, f func(), every time.Duration) *fakeTimer {
	n.seq++
	t := &fakeTimer{n: n, when: n.now.Add(max(d, 0)), seq: n.seq, f: f, every: every, active: true}
	n.timers = append(n.timers, t)
	return t
}

func (n *fakeNet) CallLater(d time.Duration, f func()) (netio.Timer, error) {
	return n.schedule(d, f, 0), nil
}

func (n *fakeNet) CallEvery(d time.Duration, f func()) (netio.Timer, error) {
	return n.schedule(d, f, d), nil
}

var errNoSockets = errors.New("fakeNet has no sockets")

func (n *fakeNet) ConnectTCP(string, core.ClientFactory, time.Duration, ...core.ListenOption) (netio.Dialing, error) {
	return nil, errNoSockets
}

func (n *fakeNet) ListenTCP(string, core.Factory, ...core.ListenOption) (netio.Listener, error) {
	return nil, errNoSockets
}

func (n *fakeNet) ListenUDP(addr string, p core.DatagramProtocol) (netio.PacketPort, error) {
	return &fakePort{n: n, local: netip.MustParseAddrPort(addr)}, nil
}

// next returns the earliest active timer due by until, or nil.
func (n *fakeNet) next(until time.Time) *fakeTimer {
	var best *fakeTimer
	k := 0
	for _, t := range n.timers {
		if !t.active {
			continue
		}
		n.timers[k] = t
		k++
		if t.when.After(until) {
			continue
		}
		if best == nil || t.when.Before(best.when) || (t.when.Equal(best.when) && t.seq < best.seq) {
			best = t
		}
	}
	clear(n.timers[k:])
	n.timers = n.timers[:k]
	return best
}

// run fires every timer due by until, each at its own time, in order, and
// leaves the clock at until.
func (n *fakeNet) run(until time.Time) {
	for t := n.next(until); t != nil; t = n.next(until) {
		n.now = t.when
		if t.every > 0 {
			t.when = t.when.Add(t.every)
			n.seq++
			t.seq = n.seq
		} else {
			t.active = false
		}
		n.fired++
		t.f()
	}
	if until.After(n.now) {
		n.now = until
	}
}

func (n *fakeNet) advance(d time.Duration) { n.run(n.now.Add(d)) }

// fakePort is a PacketPort that keeps what is written, with the time.
type fakePort struct {
	n      *fakeNet
	local  netip.AddrPort
	sent   []sentDatagram
	closed bool
}

type sentDatagram struct {
	at   time.Time
	data []byte
	to   netip.AddrPort
}

func (p *fakePort) LocalAddr() netip.AddrPort    { return p.local }
func (p *fakePort) Connect(netip.AddrPort) error { return nil }
func (p *fakePort) Write(b []byte) error         { return p.WriteTo(b, netip.AddrPort{}) }
func (p *fakePort) Close() error                 { p.closed = true; return nil }
func (p *fakePort) Stats() core.UDPStats         { return core.UDPStats{} }
func (p *fakePort) WriteTo(b []byte, to netip.AddrPort) error {
	if p.closed {
		return core.ErrClosed
	}
	p.sent = append(p.sent, sentDatagram{at: p.n.now, data: append([]byte(nil), b...), to: to})
	return nil
}

// fakeTransport is a core.Transport that keeps what is written, with the
// time, and whether it was closed.
type fakeTransport struct {
	n      *fakeNet
	writes []sentDatagram
	all    []byte
	lostAt time.Time
	closed bool
}

func (t *fakeTransport) Write(p []byte) (int, error) {
	if t.closed {
		return 0, core.ErrClosed
	}
	t.writes = append(t.writes, sentDatagram{at: t.n.now, data: append([]byte(nil), p...)})
	t.all = append(t.all, p...)
	return len(p), nil
}

func (t *fakeTransport) Writev(bufs ...[]byte) (int, error) {
	var b []byte
	for _, x := range bufs {
		b = append(b, x...)
	}
	return t.Write(b)
}

func (t *fakeTransport) LoseConnection() error {
	if !t.closed {
		t.closed, t.lostAt = true, t.n.now
	}
	return nil
}
func (t *fakeTransport) AbortConnection() error        { return t.LoseConnection() }
func (t *fakeTransport) AbortWithError(error) error    { return t.LoseConnection() }
func (t *fakeTransport) PauseProducing()               {}
func (t *fakeTransport) ResumeProducing()              {}
func (t *fakeTransport) SetWriteBufferLimits(int, int) {}
func (t *fakeTransport) SetNoDelay(bool) error         { return nil }
func (t *fakeTransport) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
}
func (t *fakeTransport) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
}
func (t *fakeTransport) ID() core.ConnID       { return 1 }
func (t *fakeTransport) Stats() core.ConnStats { return core.ConnStats{} }

// recorder is a program's Protocol and DatagramProtocol that keeps what it
// is given, with the time.
type recorder struct {
	n      *fakeNet
	t      core.Transport
	chunks []sentDatagram
	all    []byte
	lost   error
	lostAt time.Time
}

func (r *recorder) ConnectionMade(t core.Transport) { r.t = t }
func (r *recorder) DataReceived(b []byte) {
	r.chunks = append(r.chunks, sentDatagram{at: r.n.now, data: append([]byte(nil), b...)})
	r.all = append(r.all, b...)
}
func (r *recorder) ConnectionLost(err error) { r.lost, r.lostAt = err, r.n.now }
func (r *recorder) DatagramReceived(b []byte, from netip.AddrPort) {
	r.chunks = append(r.chunks, sentDatagram{at: r.n.now, data: append([]byte(nil), b...), to: from})
}
