package replay

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
)

// Options configure a Recorder.
type Options struct {
	// Meta is stored in the file's header, for the program that replays
	// it (the flags the recording was made with, say); Player.Meta reads
	// it back.
	Meta map[string]string
}

// Recorder records every event a game observes through it to a file: it
// is a netio.Net over another (the reactor, or a netsim.Conditions), and
// writes down, in the order the game sees them, the bytes of every stream
// and every datagram, connections made, failed and lost (with their
// reasons), the firings of the game's timers, recordable calls
// (Recordable), values the game reads from the outside world (Input), the
// clock the game sees, and frame boundaries with a hash of the game's
// state (EndFrame). It also writes down what the game sends, so that a
// replay can check it.
//
// The game sees the clock move only when an event reaches it and at
// BeginFrame: Now is the time of the event being handled (or of the
// frame), the same value for the whole callback, so a replay can show the
// game exactly the same times.
//
// Recording runs on the main thread, inside the callbacks, and allocates
// nothing per event: records are appended to a buffer that is handed to a
// writer goroutine a block (32 KiB) at a time and at least once a second
// of recording, so that the main thread never waits for the disk and a
// crash loses at most about a second. Main thread only, like the reactor.
type Recorder struct {
	inner netio.Net
	enc   encoder

	start time.Time     // the inner clock when recording began (monotonic)
	base  time.Time     // the same, as written in the file
	off   time.Duration // the clock offset recorded so far
	now   time.Time     // base + off: the time the game sees
	flush time.Duration // off at the last block written

	conns, listeners, ports, timers uint64
	frames                          uint64
	closed                          bool
}

// NewRecorder writes a file header to w and returns a Recorder that
// records what passes through it to inner. w is written a block at a
// time, on the main thread; give it a *os.File or a bufio.Writer you
// flush. Close the Recorder to finish the file.
func NewRecorder(w io.Writer, inner netio.Net, opts Options) (*Recorder, error) {
	if w == nil || inner == nil {
		return nil, fmt.Errorf("%w: NewRecorder needs a writer and a Net", core.ErrInvalidArgument)
	}
	if len(opts.Meta) > maxMetaEntries {
		return nil, fmt.Errorf("%w: %d metadata entries (limit %d)", core.ErrInvalidArgument, len(opts.Meta), maxMetaEntries)
	}
	start := inner.Now()
	r := &Recorder{inner: inner, start: start, base: time.Unix(0, start.UnixNano())}
	r.now = r.base
	if err := writeMagic(w); err != nil {
		return nil, err
	}
	r.enc.bw = newBlockWriter(w)
	r.enc.buf = make([]byte, 0, blockTarget+4096)
	r.enc.writeHeader(header{start: r.base, meta: opts.Meta})
	return r, nil
}

// Close writes the end of the file and waits until everything is written.
// It does not close the writer. Events after Close go through unrecorded.
// A Recorder writes its file on a goroutine of its own, which Close ends:
// always call it.
func (r *Recorder) Close() error {
	if r.closed {
		return r.enc.err
	}
	r.tick()
	if r.on() {
		r.enc.typ(recEnd)
	}
	r.enc.flush()
	r.closed = true
	if err := r.enc.bw.close(); err != nil && r.enc.err == nil {
		r.enc.err = err
	}
	return r.enc.err
}

// Err returns the first error writing the file, if any (seen when a block
// is handed over); the game goes on regardless, unrecorded from there.
func (r *Recorder) Err() error { return r.enc.err }

// Stats says how much has been recorded.
type Stats struct {
	Records uint64 // records written
	Bytes   int64  // bytes written to the file so far (what is buffered or being written not included)
	Frames  uint64 // EndFrame calls
}

// Stats returns what the recorder has done so far.
func (r *Recorder) Stats() Stats {
	return Stats{Records: r.enc.records, Bytes: int64(len(magic)+1) + r.enc.bw.bytes(), Frames: r.frames}
}

// on reports whether records are being written.
func (r *Recorder) on() bool { return !r.closed && r.enc.err == nil }

// tick reads the inner clock at the start of an event or frame and
// records it if it moved.
func (r *Recorder) tick() {
	if !r.on() {
		return
	}
	off := r.inner.Now().Sub(r.start)
	if off <= r.off {
		return // clocks do not go back; the same reading needs no record
	}
	r.enc.typ(recClock)
	r.enc.u(uint64(off - r.off))
	r.off = off
	r.now = r.base.Add(off)
	if off-r.flush >= time.Second {
		r.flush = off
		r.enc.flush()
	}
	r.enc.end()
}

// Now implements netio.Net: the time of the event the game is handling,
// or of the frame.
func (r *Recorder) Now() time.Time { return r.now }

// BeginFrame marks the start of a frame's game logic (a game calls it at
// the top of its Update, after the reactor's work for the frame ran): the
// clock the game sees moves to now.
func (r *Recorder) BeginFrame() { r.tick() }

// EndFrame marks the end of a frame, with a hash of the game's state then;
// a replay checks its own hash against it. It returns true.
func (r *Recorder) EndFrame(stateHash uint64) bool {
	r.frames++
	if r.on() {
		r.enc.typ(recFrame)
		r.enc.u64le(stateHash)
		r.enc.end()
	}
	return true
}

// Input records v, a value the game takes from outside the network (the
// keys held, a random seed), and returns it; a replay returns the recorded
// value instead.
func (r *Recorder) Input(v uint64) uint64 {
	if r.on() {
		r.enc.typ(recInput)
		r.enc.u(v)
		r.enc.end()
	}
	return v
}

// Recordable returns a function that records that it was called, then
// calls fn: for the calls that reach the game from outside the network and
// its timers — a system event trigger (the shutdown's goodbye), a function
// another goroutine hands the main thread with CallFromThread. A replay
// calls fn at the same point of the recorded events, and ignores the
// game's own calls of the returned function until the recording has
// ended. name identifies it in the file; give each its own. The clock the
// game sees does not move for such a call: Now stays the time of the last
// event or frame.
func (r *Recorder) Recordable(name string, fn func()) func() {
	return func() {
		if r.on() {
			r.enc.typ(recCall)
			r.enc.s(name)
			r.enc.b(nil)
			r.enc.end()
		}
		fn()
	}
}

// RecordableData is Recordable for a call that carries bytes (a
// goroutine's result): the bytes are recorded, and a replay calls fn with
// them.
func (r *Recorder) RecordableData(name string, fn func([]byte)) func([]byte) {
	return func(p []byte) {
		if r.on() {
			r.enc.typ(recCall)
			r.enc.s(name)
			r.enc.b(p)
			r.enc.end()
		}
		fn(p)
	}
}

// CallLater implements netio.Net: the timer's firings are recorded.
func (r *Recorder) CallLater(d time.Duration, f func()) (netio.Timer, error) {
	return r.inner.CallLater(d, r.timerFunc(f))
}

// CallEvery implements netio.Net: every firing is recorded.
func (r *Recorder) CallEvery(interval time.Duration, f func()) (netio.Timer, error) {
	return r.inner.CallEvery(interval, r.timerFunc(f))
}

func (r *Recorder) timerFunc(f func()) func() {
	r.timers++
	id := r.timers
	if f == nil {
		return nil // the inner Net says what is wrong
	}
	return func() {
		if r.on() {
			r.tick()
			r.enc.typ(recTimer)
			r.enc.u(id)
			r.enc.end()
		}
		f()
	}
}

// ConnectTCP implements netio.Net.
func (r *Recorder) ConnectTCP(addr string, f core.ClientFactory, timeout time.Duration, opts ...core.ListenOption) (netio.Dialing, error) {
	r.conns++
	id := r.conns
	var wf core.ClientFactory
	if f != nil {
		wf = &recFactory{r: r, f: f, cf: f, dial: id}
	}
	d, err := r.inner.ConnectTCP(addr, wf, timeout, opts...)
	if r.on() {
		r.enc.typ(recDial)
		r.enc.u(id)
		r.enc.s(addr)
		r.enc.error(err)
		r.enc.end()
	}
	if err != nil {
		return nil, err
	}
	return &recDialing{r: r, d: d, id: id}, nil
}

type recDialing struct {
	r  *Recorder
	d  netio.Dialing
	id uint64
}

// Cancel records the call, then what it causes at once (ConnectionFailed),
// then the end of the call.
func (d *recDialing) Cancel() {
	r := d.r
	if r.on() {
		r.enc.typ(recCancel)
		r.enc.u(d.id)
		r.enc.end()
	}
	d.d.Cancel()
	if r.on() {
		r.enc.typ(recReturn)
		r.enc.end()
	}
}

// ListenTCP implements netio.Net: every connection accepted is recorded.
func (r *Recorder) ListenTCP(addr string, f core.Factory, opts ...core.ListenOption) (netio.Listener, error) {
	r.listeners++
	id := r.listeners
	var wf core.Factory
	if f != nil {
		wf = &recFactory{r: r, f: f, listener: id}
	}
	l, err := r.inner.ListenTCP(addr, wf, opts...)
	if r.on() {
		r.enc.typ(recListen)
		r.enc.u(id)
		r.enc.s(addr)
		r.enc.error(err)
		var a net.Addr
		if err == nil {
			a = l.Addr()
		}
		r.enc.addr(a)
		r.enc.end()
	}
	if err != nil {
		return nil, err
	}
	return &recListener{r: r, l: l, id: id}, nil
}

type recListener struct {
	r  *Recorder
	l  netio.Listener
	id uint64
}

func (l *recListener) Addr() net.Addr { return l.l.Addr() }

func (l *recListener) StopListening() error {
	err := l.l.StopListening()
	if l.r.on() {
		l.r.enc.typ(recStopListen)
		l.r.enc.u(l.id)
		l.r.enc.error(err)
		l.r.enc.end()
	}
	return err
}

// recFactory builds recorded connections: for a dial (dial != 0) or a
// listener.
type recFactory struct {
	r        *Recorder
	f        core.Factory
	cf       core.ClientFactory
	dial     uint64
	listener uint64
}

func (f *recFactory) BuildProtocol(remote net.Addr) (core.Protocol, error) {
	r := f.r
	id := f.dial
	if id == 0 {
		r.conns++
		id = r.conns
	}
	if r.on() {
		r.tick()
		r.enc.typ(recBuild)
		r.enc.u(id)
		r.enc.u(f.listener)
		r.enc.addr(remote)
		r.enc.end()
	}
	p, err := f.f.BuildProtocol(remote)
	if err != nil || p == nil {
		return p, err
	}
	c := &recConn{r: r, id: id, inner: p}
	c.part, _ = p.(core.PartialProtocol)
	c.spentFn = c.checkSpent
	if _, ok := p.(core.HalfCloseProtocol); ok {
		return recHalfProto{recProto{c}}, nil
	}
	return recProto{c}, nil
}

func (f *recFactory) ConnectionFailed(err error) {
	r := f.r
	if r.on() {
		r.tick()
		r.enc.typ(recFailed)
		r.enc.u(f.dial)
		r.enc.error(err)
		r.enc.end()
	}
	f.cf.ConnectionFailed(err)
}

// recConn is a recorded connection: the game's Protocol sees it as its
// Transport.
type recConn struct {
	r       *Recorder
	id      uint64
	t       core.Transport
	inner   core.Protocol
	part    core.PartialProtocol
	spent   func() bool // the reactor's budget test, during DataReceivedPartial
	spentFn func() bool // checkSpent, bound once
	passes  uint64      // budget tests answered "not yet" in this delivery
}

// checkSpent is the budget test the game's partial protocol is given: a
// spent budget is recorded where the protocol asked, so that a replay
// stops it at the same message. The "not yet" answers are counted, not
// recorded (a protocol may ask after every message); the stop records how
// many came before it, so the replay answers "not yet" as often.
func (c *recConn) checkSpent() bool {
	if c.spent == nil || !c.spent() {
		c.passes++
		return false
	}
	if c.r.on() {
		c.r.enc.typ(recStop)
		c.r.enc.u(c.id)
		c.r.enc.u(c.passes)
		c.r.enc.end()
	}
	return true
}

type recProto struct{ c *recConn }

func (p recProto) ConnectionMade(t core.Transport) {
	c := p.c
	c.t = t
	r := c.r
	if r.on() {
		r.tick()
		r.enc.typ(recMade)
		r.enc.u(c.id)
		r.enc.addr(t.LocalAddr())
		r.enc.addr(t.RemoteAddr())
		r.enc.end()
	}
	c.inner.ConnectionMade(c)
}

func (p recProto) recData(data []byte) {
	r := p.c.r
	if r.on() {
		r.tick()
		r.enc.typ(recData)
		r.enc.u(p.c.id)
		r.enc.b(data)
		r.enc.end()
	}
}

func (p recProto) DataReceived(data []byte) {
	p.recData(data)
	p.c.inner.DataReceived(data)
}

// DataReceivedPartial implements core.PartialProtocol for every game
// protocol: a partial one stops where the budget says (and that is
// recorded), a plain one takes everything.
func (p recProto) DataReceivedPartial(data []byte, spent func() bool) int {
	p.recData(data)
	c := p.c
	if c.part == nil {
		c.inner.DataReceived(data)
		return len(data)
	}
	c.spent, c.passes = spent, 0
	n := c.part.DataReceivedPartial(data, c.spentFn)
	c.spent = nil
	return n
}

func (p recProto) ConnectionLost(reason error) {
	r := p.c.r
	if r.on() {
		r.tick()
		r.enc.typ(recLost)
		r.enc.u(p.c.id)
		r.enc.error(reason)
		r.enc.end()
	}
	p.c.inner.ConnectionLost(reason)
}

func (p recProto) producer(pause bool) {
	pr, ok := p.c.inner.(core.Producer)
	if !ok {
		return
	}
	r := p.c.r
	if r.on() {
		r.tick()
		r.enc.typ(recProducer)
		r.enc.u(p.c.id)
		if pause {
			r.enc.u(1)
		} else {
			r.enc.u(0)
		}
		r.enc.end()
	}
	if pause {
		pr.PauseProducing()
	} else {
		pr.ResumeProducing()
	}
}

// PauseProducing implements core.Producer, for a game protocol that is one.
func (p recProto) PauseProducing() { p.producer(true) }

// ResumeProducing implements core.Producer.
func (p recProto) ResumeProducing() { p.producer(false) }

type recHalfProto struct{ recProto }

func (p recHalfProto) ReadConnectionLost() {
	r := p.c.r
	if r.on() {
		r.tick()
		r.enc.typ(recReadLost)
		r.enc.u(p.c.id)
		r.enc.end()
	}
	p.c.inner.(core.HalfCloseProtocol).ReadConnectionLost()
}

func (c *recConn) recWrite(p []byte, n int, err error) {
	r := c.r
	if r.on() {
		r.enc.typ(recWrite)
		r.enc.u(c.id)
		r.enc.b(p)
		r.enc.u(uint64(n))
		r.enc.error(err)
		r.enc.end()
	}
}

func (c *recConn) Write(p []byte) (int, error) {
	n, err := c.t.Write(p)
	c.recWrite(p, n, err)
	return n, err
}

// Writev is recorded as one write of the buffers joined.
func (c *recConn) Writev(bufs ...[]byte) (int, error) {
	n, err := c.t.Writev(bufs...)
	r := c.r
	if r.on() {
		total := 0
		for _, b := range bufs {
			total += len(b)
		}
		r.enc.typ(recWrite)
		r.enc.u(c.id)
		r.enc.u(uint64(total))
		for _, b := range bufs {
			r.enc.buf = append(r.enc.buf, b...)
		}
		r.enc.u(uint64(n))
		r.enc.error(err)
		r.enc.end()
	}
	return n, err
}

func (c *recConn) LoseConnection() error {
	err := c.t.LoseConnection()
	if c.r.on() {
		c.r.enc.typ(recLose)
		c.r.enc.u(c.id)
		c.r.enc.error(err)
		c.r.enc.end()
	}
	return err
}

func (c *recConn) recAbort(reason error) {
	if c.r.on() {
		c.r.enc.typ(recAbort)
		c.r.enc.u(c.id)
		c.r.enc.error(reason)
		c.r.enc.end()
	}
}

func (c *recConn) AbortConnection() error {
	c.recAbort(nil)
	return c.t.AbortConnection()
}

func (c *recConn) AbortWithError(reason error) error {
	c.recAbort(reason)
	return c.t.AbortWithError(reason)
}

func (c *recConn) PauseProducing()                    { c.t.PauseProducing() }
func (c *recConn) ResumeProducing()                   { c.t.ResumeProducing() }
func (c *recConn) SetWriteBufferLimits(high, low int) { c.t.SetWriteBufferLimits(high, low) }
func (c *recConn) SetNoDelay(noDelay bool) error      { return c.t.SetNoDelay(noDelay) }
func (c *recConn) LocalAddr() net.Addr                { return c.t.LocalAddr() }
func (c *recConn) RemoteAddr() net.Addr               { return c.t.RemoteAddr() }
func (c *recConn) ID() core.ConnID                    { return c.t.ID() }
func (c *recConn) Stats() core.ConnStats              { return c.t.Stats() }

// ListenUDP implements netio.Net: the port's datagrams, both ways, are
// recorded.
func (r *Recorder) ListenUDP(addr string, p core.DatagramProtocol) (netio.PacketPort, error) {
	r.ports++
	port := &recPort{r: r, id: r.ports, inner: p}
	var wp core.DatagramProtocol
	if p != nil {
		wp = recDgramProto{port}
	}
	u, err := r.inner.ListenUDP(addr, wp)
	if r.on() {
		r.enc.typ(recUDPOpen)
		r.enc.u(port.id)
		r.enc.s(addr)
		r.enc.error(err)
		var local netip.AddrPort
		if err == nil {
			local = u.LocalAddr()
		}
		r.enc.addrPort(local)
		r.enc.end()
	}
	if err != nil {
		return nil, err
	}
	port.u = u
	return port, nil
}

type recPort struct {
	r     *Recorder
	id    uint64
	u     netio.PacketPort
	inner core.DatagramProtocol
	from  netip.AddrPort // the source of the last datagram recorded
}

type recDgramProto struct{ p *recPort }

func (d recDgramProto) DatagramReceived(data []byte, from netip.AddrPort) {
	p := d.p
	r := p.r
	if r.on() {
		r.tick()
		r.enc.typ(recDatagram)
		r.enc.u(p.id)
		if from == p.from {
			r.enc.buf = append(r.enc.buf, 0)
		} else {
			r.enc.buf = append(r.enc.buf, 1)
			r.enc.addrPort(from)
			p.from = from
		}
		r.enc.b(data)
		r.enc.end()
	}
	p.inner.DatagramReceived(data, from)
}

// ConnectionRefused implements core.ConnectedDatagramProtocol, for a game
// protocol that is one.
func (d recDgramProto) ConnectionRefused() {
	cp, ok := d.p.inner.(core.ConnectedDatagramProtocol)
	if !ok {
		return
	}
	r := d.p.r
	if r.on() {
		r.tick()
		r.enc.typ(recRefused)
		r.enc.u(d.p.id)
		r.enc.end()
	}
	cp.ConnectionRefused()
}

func (p *recPort) LocalAddr() netip.AddrPort { return p.u.LocalAddr() }
func (p *recPort) Stats() core.UDPStats      { return p.u.Stats() }

func (p *recPort) Connect(peer netip.AddrPort) error {
	err := p.u.Connect(peer)
	if p.r.on() {
		p.r.enc.typ(recUDPConnect)
		p.r.enc.u(p.id)
		p.r.enc.addrPort(peer)
		p.r.enc.error(err)
		p.r.enc.end()
	}
	return err
}

func (p *recPort) recWrite(b []byte, to bool, addr netip.AddrPort, err error) {
	r := p.r
	if !r.on() {
		return
	}
	r.enc.typ(recUDPWrite)
	r.enc.u(p.id)
	if to {
		r.enc.buf = append(r.enc.buf, 1)
		r.enc.addrPort(addr)
	} else {
		r.enc.buf = append(r.enc.buf, 0)
	}
	r.enc.b(b)
	r.enc.error(err)
	r.enc.end()
}

func (p *recPort) Write(b []byte) error {
	err := p.u.Write(b)
	p.recWrite(b, false, netip.AddrPort{}, err)
	return err
}

func (p *recPort) WriteTo(b []byte, addr netip.AddrPort) error {
	err := p.u.WriteTo(b, addr)
	p.recWrite(b, true, addr, err)
	return err
}

func (p *recPort) Close() error {
	err := p.u.Close()
	if p.r.on() {
		p.r.enc.typ(recUDPClose)
		p.r.enc.u(p.id)
		p.r.enc.error(err)
		p.r.enc.end()
	}
	return err
}
