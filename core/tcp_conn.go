//go:build unix

package core

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// tcpConn is a stream connection: its read side runs on the poll loop,
// which reads the socket into chunks queued for the main thread; everything
// else (delivery, writes, closing) runs on the main thread.
type tcpConn struct {
	r      *Reactor
	h      *handle
	fd     int
	proto  Protocol
	cfg    connConfig
	local  net.Addr
	remote net.Addr

	// Shared with the poll loop.
	inq     chunkQueue
	unread  atomic.Int64
	flags   atomic.Uint32
	rerr    error         // set by the poll loop before flagErr
	busy    atomic.Uint32 // the poll loop is using fd; the main thread waits before closing it
	wantW   atomic.Bool   // the main thread wants write readiness
	bytesIn atomic.Uint64

	// Main thread only.
	state      connState
	out        outQueue
	bytesOut   uint64
	msgsIn     uint64
	msgsOut    uint64
	paused     bool // PauseProducing
	prodPaused bool // the Producer was told to pause
	readClosed bool // ReadConnectionLost was called
	timer      *DelayedCall
	connecting *Connector
	failing    bool     // a write failed; the loss is scheduled
	onLost     []func() // the reactor's own hooks (LoseAllConnections)
}

type connState uint8

const (
	stateConnecting connState = iota
	stateOpen
	stateClosing // LoseConnection: flushing
	stateLinger  // flushed and shut down for writing; waiting for the peer's end of stream
	stateClosed
)

// Poll-side flags.
const (
	flagPaused     = 1 << iota // do not read: the program paused the connection
	flagFull                   // the poll loop stopped reading: the main thread is behind
	flagEOF                    // the peer finished sending
	flagErr                    // reading failed with rerr
	flagDead                   // closed by the main thread: do not touch fd
	flagConnecting             // a connect is in progress: report write readiness
)

const stopReading = flagPaused | flagFull | flagEOF | flagErr | flagDead

func newTCPConn(r *Reactor, fd int, cfg connConfig) *tcpConn {
	c := &tcpConn{r: r, fd: fd, cfg: cfg, out: outQueue{pool: &r.outPool}}
	c.h = &handle{fd: fd, owner: c, want: evRead}
	return c
}

// pollReady runs on the poll loop.
func (c *tcpConn) pollReady(l *loop, h *handle, ev interest) {
	f := c.flags.Load()
	if f&flagDead != 0 {
		return
	}
	if f&flagConnecting != 0 {
		if ev&(evWrite|evErr|evHup) != 0 {
			h.markReady(l, evWrite)
		}
		return
	}
	if ev&(evRead|evHup|evErr) != 0 {
		c.readSome(l, ev&(evHup|evErr) != 0)
	}
	if ev&(evWrite|evErr|evHup) != 0 && c.wantW.Load() {
		h.markReady(l, evWrite)
	}
}

// readSome reads what the socket has into chunks for the main thread,
// until the socket is drained or the connection has as much unread as it
// may. A read shorter than the buffer means the socket is drained (stream
// sockets), which saves the read that would return EAGAIN — unless the peer
// hung up: its end of stream arrived with the data and reports no new
// readiness, so it must be read now.
func (c *tcpConn) readSome(l *loop, hup bool) {
	c.busy.Store(1)
	defer c.busy.Store(0)
	got := false
	for {
		f := c.flags.Load()
		if f&stopReading != 0 {
			if f&(flagPaused|flagFull) != 0 {
				l.p.disarm(c.h.token()) // re-armed by the main thread when it resumes
			}
			break
		}
		if c.unread.Load() >= int64(c.cfg.maxUnread) || c.inq.full() {
			c.flags.Or(flagFull)
			// The main thread may have caught up between the check and the
			// flag; if so, take the flag back and go on.
			if c.unread.Load() < int64(c.cfg.maxUnread) && !c.inq.full() {
				c.flags.And(^uint32(flagFull))
				continue
			}
			l.p.disarm(c.h.token())
			break
		}
		ch := l.spare
		if ch == nil {
			ch = c.r.chunks.get()
		}
		l.spare = nil
		n, err := unix.Read(c.fd, ch.buf)
		if n > 0 {
			ch.n = n
			c.inq.push(ch)
			c.unread.Add(int64(n))
			c.bytesIn.Add(uint64(n))
			c.r.stats.bytesIn.Add(uint64(n))
			got = true
			if n < len(ch.buf) && !hup {
				break
			}
			continue
		}
		l.spare = ch
		switch {
		case err == nil: // n == 0: end of stream
			c.flags.Or(flagEOF)
			l.p.disarm(c.h.token())
			got = true
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
		default:
			c.rerr = err
			c.flags.Or(flagErr)
			l.p.disarm(c.h.token())
			got = true
		}
		break
	}
	if got {
		c.h.markReady(l, evRead)
	}
}

// dispatch runs on the main thread for the connection's ring entry.
func (c *tcpConn) dispatch(r *Reactor, h *handle) {
	ev := h.takeReady()
	switch c.state {
	case stateClosed:
		return
	case stateConnecting:
		if ev != 0 {
			c.finishConnect()
		}
		return
	}
	c.deliver()
	if c.state != stateClosed && ev&evWrite != 0 && c.wantW.Load() {
		c.flush()
	}
}

// deliver hands queued chunks to the protocol, then acts on end of stream
// or a read error, which the poll loop only flags after queueing every
// chunk read before it.
func (c *tcpConn) deliver() {
	r := c.r
	for !c.paused {
		f := c.flags.Load()
		for ch := c.inq.peek(); ch != nil && !c.paused; ch = c.inq.peek() {
			c.inq.pop()
			n := ch.n
			c.unread.Add(-int64(n))
			if c.state == stateOpen || c.state == stateClosing {
				c.msgsIn++
				r.stats.msgsIn.Add(1)
				c.callDataReceived(ch.buf[:n])
			}
			r.chunks.put(ch)
			if c.state == stateClosed {
				return
			}
		}
		if c.paused {
			return
		}
		if c.flags.Load()&flagFull != 0 {
			c.flags.And(^uint32(flagFull))
			c.rearm()
		}
		if f&(flagEOF|flagErr) == 0 {
			return
		}
		if !c.inq.empty() {
			continue // chunks queued before the flag came in meanwhile
		}
		if f&flagErr != 0 {
			c.closeNow(readError(c.rerr))
			return
		}
		c.peerClosed()
		return
	}
}

// peerClosed acts on the peer's end of stream, once every byte before it
// was delivered.
func (c *tcpConn) peerClosed() {
	switch c.state {
	case stateLinger:
		c.closeNow(ErrConnectionDone)
	case stateClosing:
		// Still flushing: close when done (the peer may still be reading).
	case stateOpen:
		if hp, ok := c.proto.(HalfCloseProtocol); ok {
			if !c.readClosed {
				c.readClosed = true
				c.r.safeCall("ReadConnectionLost", hp.ReadConnectionLost)
			}
			return
		}
		// Not half-closeable: finish what we were sending, then close.
		_ = c.LoseConnection()
	}
}

func (c *tcpConn) callDataReceived(b []byte) {
	defer func() {
		if v := recover(); v != nil {
			c.closeNow(c.r.logPanic("DataReceived", v, "remote", c.remote.String()))
		}
	}()
	c.proto.DataReceived(b)
}

// rearm asks the poller to report the connection again (after a pause or
// a full queue), and tells it whether write readiness is wanted.
func (c *tcpConn) rearm() {
	if err := c.r.rearm(c.h); err != nil && c.state != stateClosed {
		c.closeNow(fmt.Errorf("%w: re-arming: %w", ErrConnectionReset, err))
	}
}

// Write implements Transport.
func (c *tcpConn) Write(p []byte) (int, error) {
	if c.state != stateOpen {
		return 0, ErrClosed
	}
	c.msgsOut++
	c.r.stats.msgsOut.Add(1)
	if len(p) == 0 {
		return 0, nil
	}
	if c.out.n == 0 {
		n, err := c.writeNow(p)
		if err != nil {
			return n, nil // the connection is being lost; reported through ConnectionLost
		}
		p = p[n:]
		if len(p) == 0 {
			return n, nil
		}
	}
	c.queue(p)
	return len(p), nil
}

// Writev implements Transport.
func (c *tcpConn) Writev(bufs ...[]byte) (int, error) {
	if c.state != stateOpen {
		return 0, ErrClosed
	}
	c.msgsOut++
	c.r.stats.msgsOut.Add(1)
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if c.out.n == 0 && total > 0 {
		n, err := c.writevNow(bufs)
		if err != nil {
			return n, nil
		}
		for n > 0 && len(bufs) > 0 {
			if n >= len(bufs[0]) {
				n -= len(bufs[0])
				bufs = bufs[1:]
				continue
			}
			bufs[0] = bufs[0][n:]
			n = 0
		}
	}
	for _, b := range bufs {
		if len(b) > 0 {
			c.queue(b)
		}
	}
	return total, nil
}

// writeNow writes directly; a failure other than EAGAIN loses the
// connection (reported later, not inside Write).
func (c *tcpConn) writeNow(p []byte) (int, error) {
	for {
		n, err := unix.Write(c.fd, p)
		if n > 0 {
			c.wrote(n)
		}
		switch err {
		case nil, unix.EAGAIN:
			return max(n, 0), nil
		case unix.EINTR:
			continue
		}
		c.failLater(err)
		return max(n, 0), err
	}
}

func (c *tcpConn) writevNow(bufs [][]byte) (int, error) {
	for {
		n, err := writev(c.fd, bufs)
		if n > 0 {
			c.wrote(n)
		}
		switch err {
		case nil, unix.EAGAIN:
			return max(n, 0), nil
		case unix.EINTR:
			continue
		}
		c.failLater(err)
		return max(n, 0), err
	}
}

func (c *tcpConn) wrote(n int) {
	c.bytesOut += uint64(n)
	c.r.stats.bytesOut.Add(uint64(n))
}

// failLater loses the connection on the next round, so that ConnectionLost
// never runs inside the protocol's own Write.
func (c *tcpConn) failLater(err error) {
	if c.state == stateClosed || c.failing {
		return
	}
	c.failing = true
	c.out.reset()
	reason := writeError(err)
	c.r.CallLater(0, func() { c.closeNow(reason) })
}

// queue keeps p for flush and asks for write readiness.
func (c *tcpConn) queue(p []byte) {
	c.out.append(p)
	c.r.stats.queuedBytes.Add(int64(len(p)))
	c.wantWrite(true)
	if pr, ok := c.proto.(Producer); ok && !c.prodPaused && c.out.n > c.cfg.high {
		c.prodPaused = true
		c.r.safeCall("PauseProducing", pr.PauseProducing)
	}
}

func (c *tcpConn) wantWrite(on bool) {
	if c.wantW.Load() == on {
		return
	}
	c.wantW.Store(on)
	if on {
		c.h.want |= evWrite
	} else {
		c.h.want &^= evWrite
	}
	c.rearm()
}

// flush writes what is queued, as far as the socket takes it.
func (c *tcpConn) flush() {
	var iov [16][]byte
	for c.out.n > 0 {
		bufs := c.out.gather(iov[:0])
		n, err := c.writevNow(bufs)
		c.out.consume(n)
		c.r.stats.queuedBytes.Add(-int64(n))
		if err != nil {
			return
		}
		if n < totalLen(bufs) {
			return // the socket is full: wait for write readiness
		}
	}
	c.wantWrite(false)
	if pr, ok := c.proto.(Producer); ok && c.prodPaused && c.out.n <= c.cfg.low {
		c.prodPaused = false
		c.r.safeCall("ResumeProducing", pr.ResumeProducing)
	}
	if c.state == stateClosing {
		c.finishLose()
	}
}

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// LoseConnection implements Transport.
func (c *tcpConn) LoseConnection() error {
	switch c.state {
	case stateOpen:
		c.state = stateClosing
		if c.out.n == 0 {
			c.finishLose()
		}
		return nil
	case stateConnecting:
		c.failConnect(ErrAborted)
		return nil
	}
	return nil // already closing or closed
}

// finishLose runs once everything queued was sent: it shuts down the
// writing side (the peer sees end of stream after the last byte) and waits,
// still reading and discarding, for the peer to close its side, so that
// closing never resets a connection whose peer is still reading.
func (c *tcpConn) finishLose() {
	c.state = stateLinger
	_ = unix.Shutdown(c.fd, unix.SHUT_WR)
	if c.flags.Load()&flagEOF != 0 && c.inq.empty() {
		c.closeNow(ErrConnectionDone)
		return
	}
	if c.readClosed || c.paused {
		c.paused = false
		c.flags.And(^uint32(flagPaused))
		c.rearm()
	}
	c.timer, _ = c.r.CallLater(c.cfg.linger, func() {
		c.timer = nil
		c.closeNow(ErrConnectionDone)
	})
}

// AbortConnection implements Transport.
func (c *tcpConn) AbortConnection() error { return c.AbortWithError(ErrAborted) }

// AbortWithError implements Transport.
func (c *tcpConn) AbortWithError(reason error) error {
	if c.state == stateClosed {
		return nil
	}
	if reason == nil {
		reason = ErrAborted
	}
	if c.state == stateConnecting {
		c.failConnect(reason)
		return nil
	}
	// Reset rather than close gracefully: drop what is queued on both ends.
	_ = unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	c.closeNow(reason)
	return nil
}

// closeNow is the one way a connection ends: unregister, close the
// descriptor once the poll loop is done with it, release buffers, and call
// ConnectionLost exactly once.
func (c *tcpConn) closeNow(reason error) {
	if c.state == stateClosed {
		return
	}
	wasConnecting := c.state == stateConnecting
	c.state = stateClosed
	if c.timer != nil {
		_ = c.timer.Cancel()
		c.timer = nil
	}
	c.flags.Or(flagDead)
	c.r.unregister(c.h)
	for c.busy.Load() != 0 {
		runtime.Gosched() // the poll loop is inside one non-blocking read of fd
	}
	_ = unix.Close(c.fd)
	for ch := c.inq.peek(); ch != nil; ch = c.inq.peek() {
		c.inq.pop()
		c.unread.Add(-int64(ch.n))
		c.r.chunks.put(ch)
	}
	c.r.stats.queuedBytes.Add(-int64(c.out.n))
	c.out.reset()
	hooks := c.onLost
	c.onLost = nil
	// A connection that never connected has no protocol: its factory hears
	// of it through ConnectionFailed.
	if !wasConnecting {
		c.r.stats.conns.Add(-1)
		p := c.proto
		c.r.safeCall("ConnectionLost", func() { p.ConnectionLost(reason) })
	}
	for _, f := range hooks {
		f()
	}
}

// lose is called by the reactor's shutdown.
func (c *tcpConn) lose(r *Reactor, h *handle, reason error) {
	if c.state == stateConnecting {
		c.failConnect(reason)
		return
	}
	c.closeNow(reason)
}

// PauseProducing implements Transport.
func (c *tcpConn) PauseProducing() {
	if c.paused || c.state == stateClosed {
		return
	}
	c.paused = true
	c.flags.Or(flagPaused)
}

// ResumeProducing implements Transport.
func (c *tcpConn) ResumeProducing() {
	if !c.paused || c.state == stateClosed {
		return
	}
	c.paused = false
	c.flags.And(^uint32(flagPaused))
	c.deliver() // what was read before the pause
	if c.state != stateClosed {
		c.rearm()
	}
}

// SetWriteBufferLimits implements Transport.
func (c *tcpConn) SetWriteBufferLimits(high, low int) {
	if low > high {
		low = high
	}
	c.cfg.high, c.cfg.low = high, max(low, 0)
}

// SetNoDelay implements Transport.
func (c *tcpConn) SetNoDelay(on bool) error {
	if c.state == stateClosed {
		return ErrClosed
	}
	v := 0
	if on {
		v = 1
	}
	return unix.SetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, v)
}

func (c *tcpConn) LocalAddr() net.Addr  { return c.local }
func (c *tcpConn) RemoteAddr() net.Addr { return c.remote }
func (c *tcpConn) ID() ConnID           { return ConnID(c.h.token()) }

// Stats implements Transport.
func (c *tcpConn) Stats() ConnStats {
	return ConnStats{
		BytesIn:     c.bytesIn.Load(),
		BytesOut:    c.bytesOut,
		MessagesIn:  c.msgsIn,
		MessagesOut: c.msgsOut,
		Queued:      c.out.n,
		Unread:      int(c.unread.Load()),
	}
}

// Conn returns the open connection id names, or nil if it is closed (or
// never existed). Main thread: other goroutines hold ConnIDs and call
// Conn inside CallFromThread.
func (r *Reactor) Conn(id ConnID) Transport {
	h := r.slots.lookup(token(id))
	if h == nil {
		return nil
	}
	if c, ok := h.owner.(*tcpConn); ok && c.state != stateClosed && c.state != stateConnecting {
		return c
	}
	return nil
}

// LoseAllConnections calls LoseConnection on every open TCP connection and
// returns a channel closed once all of them are gone. It suits a
// Before-shutdown trigger: everything queued is sent and the peers see a
// clean end of stream before the reactor stops. Main thread.
func (r *Reactor) LoseAllConnections() <-chan struct{} {
	done := make(chan struct{})
	var conns []*tcpConn
	r.slots.each(func(h *handle) {
		if c, ok := h.owner.(*tcpConn); ok && c.state != stateClosed {
			conns = append(conns, c)
		}
	})
	left := len(conns)
	if left == 0 {
		close(done)
		return done
	}
	for _, c := range conns {
		c.onLost = append(c.onLost, func() {
			if left--; left == 0 {
				close(done)
			}
		})
	}
	for _, c := range conns {
		_ = c.LoseConnection()
	}
	return done
}

func readError(err error) error {
	switch {
	case errors.Is(err, unix.ECONNRESET), errors.Is(err, unix.EPIPE):
		return fmt.Errorf("%w: %w", ErrConnectionReset, err)
	case errors.Is(err, unix.ETIMEDOUT):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: read: %w", ErrConnectionReset, err)
}

func writeError(err error) error {
	switch {
	case errors.Is(err, unix.ECONNRESET), errors.Is(err, unix.EPIPE):
		return fmt.Errorf("%w: %w", ErrConnectionReset, err)
	case errors.Is(err, unix.ETIMEDOUT):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: write: %w", ErrConnectionReset, err)
}
