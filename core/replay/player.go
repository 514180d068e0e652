package replay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
)

// ErrDiverged is matched by the *DivergenceError a Player reports when the
// game does something other than what the recording says it did.
var ErrDiverged = errors.New("replay: the game diverged from the recording")

// ErrEnded is the reason a Player gives for connections the game makes, and
// the ones it closes, after the recording has ended.
var ErrEnded = errors.New("replay: the recording has ended")

// DivergenceError says where a replay first differed from the recording.
type DivergenceError struct {
	Frame  uint64 // frames ended (EndFrame) before it
	Record uint64 // the record's number in the file, from 0 (the header not counted)
	Offset int64  // the file offset of the block holding it
	Want   string // what the recording says happened next
	Got    string // what the game did instead
}

func (e *DivergenceError) Error() string {
	return fmt.Sprintf("replay: the game diverged from the recording at frame %d (record %d, block at byte %d): the recording has %s; the game: %s",
		e.Frame, e.Record, e.Offset, e.Want, e.Got)
}

// Is reports whether target is ErrDiverged.
func (e *DivergenceError) Is(target error) bool { return target == ErrDiverged }

// PlayerOptions configure a Player.
type PlayerOptions struct {
	// IgnoreWrites makes the game's writes go nowhere unchecked: by
	// default each is compared with the recorded one and the first
	// difference ends the replay with a *DivergenceError.
	IgnoreWrites bool
}

// Player replays a recording to a game: it is a netio.Net with no sockets
// and a core.FakeClock (Clock), which hands the game, in the recorded
// order, every event the Recorder saw — the bytes of every stream and
// datagram, connections made, failed and lost with their reasons, timer
// firings, recordable calls — with the clock moved to the recorded time of
// each; and answers each call the game makes (a write, a dial, Input,
// EndFrame) with what it returned when recorded, checking that the game
// makes the same calls in the same order: the first difference (a write
// with other bytes, another state hash at the end of a frame) stops the
// replay with a *DivergenceError (Err).
//
// It is driven either by frames, for a game that records frames
// (BeginFrame plays what the recording says happened before the game's
// logic of the next frame; EndFrame checks the frame's state hash), or by
// Play, for a program without frames (a headless bot). Once the recording
// has ended (Done), the Player goes on as a network where nothing arrives:
// writes go nowhere, a connection the game closes reports ConnectionLost,
// through the reactor given to Attach, so that the game can shut down.
//
// Main thread only, like the reactor.
type Player struct {
	dec   *decoder
	hdr   header
	clock *core.FakeClock
	r     *core.Reactor
	opts  PlayerOptions

	cur    record
	have   bool
	index  uint64 // records taken
	frames uint64
	err    error
	ended  bool
	depth  int // game callbacks running

	conns     map[uint64]*playConn
	listeners map[uint64]*playListener
	ports     map[uint64]*playPort
	timers    map[uint64]*playTimer
	calls     map[string]func([]byte)
	nConns    uint64
	nListen   uint64
	nPorts    uint64
	nTimers   uint64
	ignored   uint64
	scratch   []byte
}

// NewPlayer reads the header of the recording src and returns a Player at
// its start; it reads the rest as it plays. A file that is not a
// recording, of another version, or damaged in its header is an error
// matching ErrNotReplay, ErrVersion, ErrCorrupt or ErrTruncated (see Scan
// to check a whole file first).
func NewPlayer(src io.Reader, opts PlayerOptions) (*Player, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: NewPlayer needs a reader", core.ErrInvalidArgument)
	}
	d := newDecoder(src)
	if err := d.readMagic(); err != nil {
		return nil, err
	}
	h, err := d.readHeader()
	if err != nil {
		return nil, err
	}
	p := &Player{
		dec: d, hdr: h, opts: opts, clock: core.NewFakeClock(h.start),
		conns: map[uint64]*playConn{}, listeners: map[uint64]*playListener{}, ports: map[uint64]*playPort{},
		timers: map[uint64]*playTimer{}, calls: map[string]func([]byte){},
	}
	return p, nil
}

// Clock returns the clock the replay moves: make the reactor with
// core.WithClock(p.Clock()), so that everything on it runs by the
// recorded time.
func (p *Player) Clock() *core.FakeClock { return p.clock }

// Attach gives the Player the reactor the game runs on, for what happens
// after the recording ends (see Player).
func (p *Player) Attach(r *core.Reactor) { p.r = r }

// Start returns when the recording began.
func (p *Player) Start() time.Time { return p.hdr.start }

// Meta returns the metadata the recording was made with (Options.Meta).
func (p *Player) Meta(key string) (string, bool) {
	v, ok := p.hdr.meta[key]
	return v, ok
}

// Done reports whether the replay is over: the recording has ended, or it
// stopped on an error (Err).
func (p *Player) Done() bool { return p.ended || p.err != nil }

// Err returns why the replay stopped early: a *DivergenceError, or an
// error reading the file (ErrCorrupt, ErrTruncated). It is nil while the
// replay runs and after a recording played to its end.
func (p *Player) Err() error { return p.err }

// Frames returns how many recorded frames have ended.
func (p *Player) Frames() uint64 { return p.frames }

// Ignored returns how many times the game called a recordable function
// itself while replaying (those calls happen at their recorded place
// instead).
func (p *Player) Ignored() uint64 { return p.ignored }

func (p *Player) live() bool { return p.ended || p.err != nil }

func (p *Player) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// peek returns the next record, or nil at the end or on an error.
func (p *Player) peek() *record {
	for !p.have {
		if p.live() {
			return nil
		}
		p.dec.keep = p.depth > 0 // a record being delivered points into the block
		if err := p.dec.read(&p.cur); err != nil {
			p.fail(err)
			return nil
		}
		p.cur.index = p.index
		p.have = true
		if p.opts.IgnoreWrites && (p.cur.typ == recWrite || p.cur.typ == recUDPWrite) {
			p.take()
		}
	}
	return &p.cur
}

// take consumes the record peek returned and returns a copy of it.
func (p *Player) take() record {
	p.have = false
	p.index++
	return p.cur
}

func (p *Player) diverge(want *record, got string) {
	w := "the end of the file"
	var idx uint64
	off := p.dec.off
	if want != nil {
		w, idx, off = describe(want), want.index, want.off
	} else {
		idx = p.index
	}
	p.fail(&DivergenceError{Frame: p.frames, Record: idx, Offset: off, Want: w, Got: got})
}

// expect takes the next record if it is the call the game makes (type t
// on id); if not, the replay has diverged. got describes the game's call.
func (p *Player) expect(t byte, id uint64, got func() string) (record, bool) {
	if p.live() {
		return record{}, false
	}
	rec := p.peek()
	if rec == nil {
		if p.err == nil {
			p.diverge(nil, got())
		}
		return record{}, false
	}
	if rec.typ != t || rec.id != id {
		p.diverge(rec, got())
		return record{}, false
	}
	return p.take(), true
}

// BeginFrame plays what the recording says reached the game before the
// next frame's logic: every event up to the game's next call (Input, a
// write, EndFrame). Call it at the top of the game's Update, where the
// Recorder's BeginFrame was called.
func (p *Player) BeginFrame() {
	for !p.live() {
		rec := p.peek()
		if rec == nil || !pushed(rec.typ) {
			return
		}
		p.deliver(p.take())
	}
}

// Play delivers up to max recorded events, for a program without frames
// (call it from a reactor callback, again and again, until Done). It
// returns how many it delivered. A call of the game's still due when no
// callback of the game's is running means the replay has diverged.
func (p *Player) Play(max int) int {
	n := 0
	for n < max && !p.live() {
		rec := p.peek()
		if rec == nil {
			break
		}
		if !pushed(rec.typ) {
			p.diverge(rec, "made no such call")
			break
		}
		p.deliver(p.take())
		n++
	}
	return n
}

// EndFrame checks the end of a frame against the recording: the next
// record must be a frame's end, with the same state hash. It reports
// whether a recorded frame ended (false once the recording is over).
func (p *Player) EndFrame(stateHash uint64) bool {
	rec, ok := p.expect(recFrame, 0, func() string { return fmt.Sprintf("ended a frame with state hash %016x", stateHash) })
	if !ok {
		return false
	}
	p.frames++
	if rec.hash != stateHash {
		p.fail(&DivergenceError{Frame: p.frames, Record: rec.index, Offset: rec.off,
			Want: fmt.Sprintf("state hash %016x at the end of frame %d", rec.hash, p.frames),
			Got:  fmt.Sprintf("state hash %016x", stateHash)})
	}
	return true
}

// Input returns the value the game read when recorded (v once the
// recording is over).
func (p *Player) Input(v uint64) uint64 {
	rec, ok := p.expect(recInput, 0, func() string { return fmt.Sprintf("read an input (%d)", v) })
	if !ok {
		return v
	}
	return rec.val
}

// Recordable registers fn under name and returns the function the game
// calls instead (see Recorder.Recordable): the replay calls fn where the
// recording has the call. While the replay runs, the game's own calls of
// the returned function are ignored, unless the recording has that call
// next; once it is over, they call fn.
func (p *Player) Recordable(name string, fn func()) func() {
	p.calls[name] = func([]byte) { fn() }
	return func() {
		if p.live() {
			fn()
			return
		}
		if rec := p.peek(); rec != nil && rec.typ == recCall && rec.str == name {
			p.take()
			p.call(fn)
			return
		}
		p.ignored++
	}
}

// RecordableData is Recordable for a call that carries bytes: the replay
// passes fn the recorded bytes (valid during the call only).
func (p *Player) RecordableData(name string, fn func([]byte)) func([]byte) {
	p.calls[name] = fn
	return func(b []byte) {
		if p.live() {
			fn(b)
			return
		}
		if rec := p.peek(); rec != nil && rec.typ == recCall && rec.str == name {
			r := p.take()
			p.depth++
			defer func() { p.depth-- }()
			fn(r.data)
			return
		}
		p.ignored++
	}
}

// call runs a game callback, counting the depth.
func (p *Player) call(f func()) {
	p.depth++
	defer func() { p.depth-- }()
	f()
}

// deliver hands the game one recorded event.
func (p *Player) deliver(rec record) {
	p.depth++
	defer func() { p.depth-- }()
	switch rec.typ {
	case recClock:
		_ = p.clock.Advance(time.Duration(rec.val))
	case recEnd:
		p.ended = true
	case recBuild:
		p.build(&rec)
	case recMade:
		c := p.conn(&rec)
		if c == nil || c.proto == nil {
			return
		}
		c.local, c.remote, c.open = rec.a1, rec.a2, true
		c.proto.ConnectionMade(c)
	case recFailed:
		c := p.conns[rec.id]
		if c == nil || c.cf == nil {
			p.diverge(&rec, "dialed no such connection")
			return
		}
		c.cf.ConnectionFailed(rec.err)
	case recData:
		c := p.conn(&rec)
		if c == nil || c.proto == nil {
			return
		}
		if c.part != nil {
			c.passes = 0
			c.part.DataReceivedPartial(rec.data, c.spentFn)
		} else {
			c.proto.DataReceived(rec.data)
		}
	case recLost:
		c := p.conn(&rec)
		if c == nil || c.proto == nil {
			return
		}
		reason := rec.err
		if c.abortReason != nil && reason != nil && c.abortReason.Error() == reason.Error() {
			reason = c.abortReason // the game's own error value, as the reactor gives it back
		}
		c.open = false
		c.proto.ConnectionLost(reason)
	case recReadLost:
		c := p.conn(&rec)
		if c == nil {
			return
		}
		if hp, ok := c.proto.(core.HalfCloseProtocol); ok {
			hp.ReadConnectionLost()
		}
	case recProducer:
		c := p.conn(&rec)
		if c == nil {
			return
		}
		if pr, ok := c.proto.(core.Producer); ok {
			if rec.id2 == 1 {
				pr.PauseProducing()
			} else {
				pr.ResumeProducing()
			}
		}
	case recDatagram:
		u := p.ports[rec.id]
		if u == nil {
			p.diverge(&rec, "opened no such port")
			return
		}
		if rec.flag == 1 {
			u.from = rec.ap
		}
		if !u.closed {
			u.proto.DatagramReceived(rec.data, u.from)
		}
	case recRefused:
		u := p.ports[rec.id]
		if u == nil {
			p.diverge(&rec, "opened no such port")
			return
		}
		if cp, ok := u.proto.(core.ConnectedDatagramProtocol); ok && !u.closed {
			cp.ConnectionRefused()
		}
	case recTimer:
		t := p.timers[rec.id]
		switch {
		case t == nil:
			p.diverge(&rec, fmt.Sprintf("had set %d timers", p.nTimers))
		case t.state != callPending:
			p.diverge(&rec, fmt.Sprintf("had cancelled timer %d", rec.id))
		default:
			if t.every == 0 {
				t.state = callCalled
			}
			t.fn()
		}
	case recCall:
		fn := p.calls[rec.str]
		if fn == nil {
			p.diverge(&rec, fmt.Sprintf("has no recordable call %q", rec.str))
			return
		}
		fn(rec.data)
	default:
		// A call of the game's (recStop, recReturn) where none is running.
		p.diverge(&rec, "made no such call")
	}
}

func (p *Player) conn(rec *record) *playConn {
	c := p.conns[rec.id]
	if c == nil {
		p.diverge(rec, "has no such connection")
	}
	return c
}

// build makes the game's protocol for a recorded connection.
func (p *Player) build(rec *record) {
	var f core.Factory
	c := p.conns[rec.id]
	if rec.id2 == 0 {
		if c == nil {
			p.diverge(rec, "dialed no such connection")
			return
		}
		f = c.cf
	} else {
		l := p.listeners[rec.id2]
		if l == nil {
			p.diverge(rec, "listens on no such port")
			return
		}
		p.nConns++
		if rec.id != p.nConns {
			p.diverge(rec, fmt.Sprintf("expected connection %d", p.nConns))
			return
		}
		c = &playConn{p: p, id: rec.id}
		c.spentFn = c.spent
		p.conns[rec.id] = c
		f = l.f
	}
	proto, err := f.BuildProtocol(rec.a1)
	if err != nil || proto == nil {
		return
	}
	c.proto = proto
	c.part, _ = proto.(core.PartialProtocol)
}

// Now implements netio.Net: the recorded time of the event being played.
func (p *Player) Now() time.Time { return p.clock.Now() }

// CallLater implements netio.Net: the timer fires where the recording
// says it did (after the recording, on the reactor's clock).
func (p *Player) CallLater(d time.Duration, f func()) (netio.Timer, error) {
	return p.timer(d, 0, f)
}

// CallEvery implements netio.Net, like CallLater.
func (p *Player) CallEvery(interval time.Duration, f func()) (netio.Timer, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("%w: CallEvery needs a positive interval (got %v)", core.ErrInvalidArgument, interval)
	}
	return p.timer(interval, interval, f)
}

func (p *Player) timer(d, every time.Duration, f func()) (netio.Timer, error) {
	p.nTimers++
	if f == nil {
		return nil, fmt.Errorf("%w: nil function for a timer", core.ErrInvalidArgument)
	}
	if p.live() && p.r != nil {
		if every > 0 {
			return netio.Reactor(p.r).CallEvery(every, f)
		}
		return netio.Reactor(p.r).CallLater(d, f)
	}
	t := &playTimer{fn: f, every: every}
	p.timers[p.nTimers] = t
	return t, nil
}

type callState uint8

const (
	callPending callState = iota
	callCalled
	callCancelled
)

type playTimer struct {
	fn    func()
	every time.Duration
	state callState
}

func (t *playTimer) Cancel() error {
	switch t.state {
	case callCalled:
		return core.ErrAlreadyCalled
	case callCancelled:
		return core.ErrAlreadyCancelled
	}
	t.state = callCancelled
	return nil
}

func (t *playTimer) Active() bool { return t.state == callPending }

// later runs f on the reactor's main thread soon, for what happens after
// the recording (a connection the game closes reports it lost).
func (p *Player) later(f func()) {
	if p.r != nil {
		_ = p.r.CallFromThread(func() { p.call(f) })
	}
}

// ConnectTCP implements netio.Net: the recorded connection, made or
// failed as recorded.
func (p *Player) ConnectTCP(addr string, f core.ClientFactory, timeout time.Duration, opts ...core.ListenOption) (netio.Dialing, error) {
	p.nConns++
	id := p.nConns
	if f == nil {
		return nil, fmt.Errorf("%w: nil ClientFactory", core.ErrInvalidArgument)
	}
	c := &playConn{p: p, id: id, cf: f}
	c.spentFn = c.spent
	if p.live() {
		p.later(func() { f.ConnectionFailed(fmt.Errorf("%w: %w", core.ErrAborted, ErrEnded)) })
		return c, nil
	}
	rec, ok := p.expect(recDial, id, func() string { return fmt.Sprintf("dialed %s", addr) })
	if ok && rec.err != nil {
		return nil, rec.err
	}
	p.conns[id] = c
	return c, nil
}

// ListenTCP implements netio.Net: the recorded listener, whose
// connections arrive as recorded.
func (p *Player) ListenTCP(addr string, f core.Factory, opts ...core.ListenOption) (netio.Listener, error) {
	p.nListen++
	id := p.nListen
	if f == nil {
		return nil, fmt.Errorf("%w: nil Factory", core.ErrInvalidArgument)
	}
	l := &playListener{p: p, id: id, f: f}
	if p.live() {
		return nil, ErrEnded
	}
	rec, ok := p.expect(recListen, id, func() string { return fmt.Sprintf("listened on %s", addr) })
	if ok {
		if rec.err != nil {
			return nil, rec.err
		}
		l.addr = rec.a1
	}
	p.listeners[id] = l
	return l, nil
}

type playListener struct {
	p    *Player
	id   uint64
	f    core.Factory
	addr net.Addr
}

func (l *playListener) Addr() net.Addr { return l.addr }

func (l *playListener) StopListening() error {
	rec, ok := l.p.expect(recStopListen, l.id, func() string { return fmt.Sprintf("stopped listener %d", l.id) })
	if ok {
		return rec.err
	}
	return nil
}

// playConn is a replayed connection: the Transport the game's protocol
// gets, and the Dialing of a dial.
type playConn struct {
	p      *Player
	id     uint64
	cf     core.ClientFactory // a dial's factory
	proto  core.Protocol
	part   core.PartialProtocol
	local  net.Addr
	remote net.Addr
	open   bool
	closed bool // the game closed it after the recording

	abortReason error
	spentFn     func() bool
	passes      uint64 // budget tests answered in this delivery
}

// spent is the budget test a partial protocol gets: true where the
// recording says the budget ran out — at the same test of the same
// delivery, after as many "not yet" answers as were recorded.
func (c *playConn) spent() bool {
	p := c.p
	if p.live() {
		return false
	}
	if rec := p.peek(); rec != nil && rec.typ == recStop && rec.id == c.id && rec.id2 == c.passes {
		p.take()
		return true
	}
	c.passes++
	return false
}

// Cancel implements netio.Dialing: what it caused when recorded is played
// before it returns.
func (c *playConn) Cancel() {
	p := c.p
	if p.live() {
		if !c.open && !c.closed && c.proto == nil {
			c.closed = true
			p.later(func() { c.cf.ConnectionFailed(fmt.Errorf("%w: connect cancelled", core.ErrAborted)) })
		}
		return
	}
	if _, ok := p.expect(recCancel, c.id, func() string { return fmt.Sprintf("cancelled the dial of connection %d", c.id) }); !ok {
		return
	}
	for !p.live() {
		rec := p.peek()
		if rec == nil {
			return
		}
		if rec.typ == recReturn {
			p.take()
			return
		}
		if !pushed(rec.typ) {
			p.diverge(rec, "made no such call while cancelling a dial")
			return
		}
		p.deliver(p.take())
	}
}

func (c *playConn) what(verb string, b []byte) func() string {
	return func() string { return fmt.Sprintf("%s %s on connection %d", verb, quote(b), c.id) }
}

// Write implements core.Transport: compared with the recorded write, it
// returns what that returned.
func (c *playConn) Write(b []byte) (int, error) {
	p := c.p
	if p.live() || p.opts.IgnoreWrites {
		if c.closed {
			return 0, core.ErrClosed
		}
		return len(b), nil
	}
	rec, ok := p.expect(recWrite, c.id, c.what("wrote", b))
	if !ok {
		return len(b), nil
	}
	if i := firstDiff(rec.data, b); i >= 0 {
		p.fail(&DivergenceError{Frame: p.frames, Record: rec.index, Offset: rec.off,
			Want: describe(&rec), Got: fmt.Sprintf("wrote %s (the first difference at byte %d)", quote(b), i)})
		return len(b), nil
	}
	return int(rec.id2), rec.err
}

// Writev implements core.Transport: like Write of the buffers joined.
func (c *playConn) Writev(bufs ...[]byte) (int, error) {
	c.p.scratch = c.p.scratch[:0]
	for _, b := range bufs {
		c.p.scratch = append(c.p.scratch, b...)
	}
	return c.Write(c.p.scratch)
}

// LoseConnection implements core.Transport.
func (c *playConn) LoseConnection() error {
	p := c.p
	if p.live() {
		c.endLive(core.ErrConnectionDone)
		return nil
	}
	rec, _ := p.expect(recLose, c.id, func() string { return fmt.Sprintf("closed connection %d", c.id) })
	return rec.err
}

func (c *playConn) abort(reason error) error {
	p := c.p
	if p.live() {
		if reason == nil {
			reason = core.ErrAborted
		}
		c.endLive(reason)
		return nil
	}
	rec, ok := p.expect(recAbort, c.id, func() string { return fmt.Sprintf("aborted connection %d (%v)", c.id, reason) })
	if ok {
		c.abortReason = reason
		if (rec.err == nil) != (reason == nil) || (reason != nil && rec.err.Error() != reason.Error()) {
			p.fail(&DivergenceError{Frame: p.frames, Record: rec.index, Offset: rec.off,
				Want: fmt.Sprintf("an abort of connection %d with %v", c.id, rec.err),
				Got:  fmt.Sprintf("aborted it with %v", reason)})
		}
	}
	return nil
}

// AbortConnection implements core.Transport.
func (c *playConn) AbortConnection() error { return c.abort(nil) }

// AbortWithError implements core.Transport.
func (c *playConn) AbortWithError(reason error) error { return c.abort(reason) }

// endLive ends an open connection after the recording: ConnectionLost,
// soon, on the reactor.
func (c *playConn) endLive(reason error) {
	if !c.open || c.closed {
		return
	}
	c.closed = true
	c.p.later(func() {
		c.open = false
		if c.proto != nil {
			c.proto.ConnectionLost(fmt.Errorf("%w (%w)", reason, ErrEnded))
		}
	})
}

func (c *playConn) PauseProducing()               {}
func (c *playConn) ResumeProducing()              {}
func (c *playConn) SetWriteBufferLimits(int, int) {}
func (c *playConn) SetNoDelay(bool) error         { return nil }
func (c *playConn) LocalAddr() net.Addr           { return c.local }
func (c *playConn) RemoteAddr() net.Addr          { return c.remote }

// ID implements core.Transport: the connection's number in the recording
// (no reactor connection has it).
func (c *playConn) ID() core.ConnID { return core.ConnID(c.id) }

// Stats implements core.Transport: zero; nothing moves on a replay.
func (c *playConn) Stats() core.ConnStats { return core.ConnStats{KernelQueued: -1} }

// ListenUDP implements netio.Net: the recorded port.
func (p *Player) ListenUDP(addr string, proto core.DatagramProtocol) (netio.PacketPort, error) {
	p.nPorts++
	id := p.nPorts
	if proto == nil {
		return nil, fmt.Errorf("%w: nil DatagramProtocol", core.ErrInvalidArgument)
	}
	u := &playPort{p: p, id: id, proto: proto}
	if !p.live() {
		rec, ok := p.expect(recUDPOpen, id, func() string { return fmt.Sprintf("opened a UDP port on %s", addr) })
		if ok {
			if rec.err != nil {
				return nil, rec.err
			}
			u.local = rec.ap
		}
	}
	p.ports[id] = u
	return u, nil
}

type playPort struct {
	p      *Player
	id     uint64
	proto  core.DatagramProtocol
	local  netip.AddrPort
	from   netip.AddrPort
	closed bool
}

func (u *playPort) LocalAddr() netip.AddrPort { return u.local }
func (u *playPort) Stats() core.UDPStats      { return core.UDPStats{} }

func (u *playPort) Connect(peer netip.AddrPort) error {
	p := u.p
	if p.live() {
		return nil
	}
	rec, ok := p.expect(recUDPConnect, u.id, func() string { return fmt.Sprintf("connected port %d to %v", u.id, peer) })
	if ok && rec.ap != peer {
		p.fail(&DivergenceError{Frame: p.frames, Record: rec.index, Offset: rec.off, Want: describe(&rec),
			Got: fmt.Sprintf("connected it to %v", peer)})
	}
	return rec.err
}

func (u *playPort) write(b []byte, to bool, addr netip.AddrPort) error {
	p := u.p
	if p.live() || p.opts.IgnoreWrites {
		if u.closed {
			return core.ErrClosed
		}
		return nil
	}
	rec, ok := p.expect(recUDPWrite, u.id, func() string { return fmt.Sprintf("sent a datagram of %s on port %d", quote(b), u.id) })
	if !ok {
		return nil
	}
	if !bytes.Equal(rec.data, b) || (rec.flag == 1) != to || (to && rec.ap != addr) {
		p.fail(&DivergenceError{Frame: p.frames, Record: rec.index, Offset: rec.off, Want: describe(&rec),
			Got: fmt.Sprintf("sent %s (to %v)", quote(b), addr)})
	}
	return rec.err
}

func (u *playPort) Write(b []byte) error { return u.write(b, false, netip.AddrPort{}) }

func (u *playPort) WriteTo(b []byte, addr netip.AddrPort) error { return u.write(b, true, addr) }

func (u *playPort) Close() error {
	if u.closed {
		return nil
	}
	u.closed = true
	p := u.p
	if p.live() {
		return nil
	}
	rec, _ := p.expect(recUDPClose, u.id, func() string { return fmt.Sprintf("closed port %d", u.id) })
	return rec.err
}
