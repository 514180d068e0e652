package core

import (
	"fmt"
	"net"
	"sync/atomic"
)

// stream is what the two connection implementations share: the queue of
// chunks read ahead for the main thread and its delivery, the life cycle
// (open, closing, linger, closed), flow control, pause and resume, and the
// counters. What differs — who reads the socket, how bytes are written, how
// the socket is shut and closed — is behind streamIO.
type stream struct {
	r      *Reactor
	h      *handle
	proto  Protocol
	cfg    connConfig
	local  net.Addr
	remote net.Addr
	io     streamIO

	// Shared with the reader (the poll loop, or the connection's reader
	// goroutine).
	inq     spsc[*chunk]
	unread  atomic.Int64
	flags   atomic.Uint32
	rerr    error // set by the reader before flagErr
	bytesIn atomic.Uint64

	// Main thread only.
	state      connState
	bytesOut   uint64
	msgsIn     uint64
	msgsOut    uint64
	paused     bool  // PauseProducing
	bp         bool  // held by back-pressure (WithBackpressure)
	prodPaused bool  // the Producer was told to pause
	readClosed bool  // ReadConnectionLost was called
	lost       error // why the connection ended (or is ending), for Write's error
	timer      *DelayedCall
	onLost     []func() // the reactor's own hooks (LoseAllConnections)
}

// streamIO is an implementation's part of a connection. Main thread.
type streamIO interface {
	// kickRead makes the reader look again after a pause or a full queue.
	kickRead()
	// queued is how many written bytes are not yet sent.
	queued() int
	// shutdownWrite sends end of stream after everything queued.
	shutdownWrite()
	// closeNow closes the connection now and calls ConnectionLost.
	closeNow(reason error)
	// abortConnecting abandons a connection still connecting; false if it
	// is not connecting.
	abortConnecting(reason error) bool
	// reset makes the coming close a reset (RST) rather than an orderly
	// end of stream: what is queued is being dropped.
	reset()
	// dropQueued forgets every byte written and not yet sent.
	dropQueued()
	// kernelQueued is how many sent bytes the kernel still holds, -1 if
	// unknown.
	kernelQueued() int
}

type connState uint8

const (
	stateConnecting connState = iota
	stateOpen
	stateClosing // LoseConnection: flushing
	stateLinger  // flushed and shut down for writing; waiting for the peer's end of stream
	stateClosed
)

// Reader-side flags.
const (
	flagPaused       = 1 << iota // do not read: the program paused the connection
	flagFull                     // the reader stopped: the main thread is behind
	flagEOF                      // the peer finished sending
	flagErr                      // reading failed with rerr
	flagDead                     // closed by the main thread: do not touch the socket
	flagConnecting               // a connect is in progress: report write readiness
	flagBackpressure             // do not read: the write queue is above the high-water mark (WithBackpressure)
)

const stopReading = flagPaused | flagFull | flagEOF | flagErr | flagDead | flagBackpressure

// stopArmed are the flags under which the poll loop stops watching the
// socket for reading until the main thread re-arms it.
const stopArmed = flagPaused | flagFull | flagBackpressure

// mayRead reports whether the reader may read now, setting flagFull if the
// connection has as much unread as it may. The re-check after setting the
// flag closes the race with the main thread catching up in between.
func (c *stream) mayRead() bool {
	f := c.flags.Load()
	if f&stopReading != 0 {
		return false
	}
	if c.unread.Load() < int64(c.cfg.maxUnread) && !c.inq.full() {
		return true
	}
	c.flags.Or(flagFull)
	if c.unread.Load() < int64(c.cfg.maxUnread) && !c.inq.full() {
		c.flags.And(^uint32(flagFull))
		return c.flags.Load()&stopReading == 0
	}
	return false
}

// got is called by the reader with a chunk it read.
func (c *stream) got(ch *chunk) {
	c.inq.push(ch)
	c.unread.Add(int64(ch.n))
	c.bytesIn.Add(uint64(ch.n))
	c.r.stats.bytesIn.Add(uint64(ch.n))
}

// deliver hands queued chunks to the protocol, one DataReceived call at a
// time, until the queue is empty, the connection is paused or the Drain's
// budget is spent; then it acts on end of stream or a read error, which
// the reader only flags after queueing every chunk read before it. Work a
// budget cut short is queued again behind the work already queued.
func (c *stream) deliver() {
	r := c.r
	for !c.holding() {
		f := c.flags.Load()
		for ch := c.inq.peek(); ch != nil && !c.holding(); ch = c.inq.peek() {
			if r.budgetSpent() {
				r.again(c.h)
				return
			}
			data := ch.buf[ch.off:ch.n]
			used := len(data)
			if c.state == stateOpen || c.state == stateClosing {
				c.msgsIn++
				r.stats.msgsIn.Add(1)
				used = c.callDataReceived(data, true)
				if c.state == stateClosed {
					// The protocol closed it: ended released the queue, this
					// chunk included; it must not be touched (or put back
					// twice, and read into by two connections at once).
					return
				}
			}
			c.unread.Add(-int64(used))
			if used < len(data) {
				// A PartialProtocol stopped at a message boundary.
				ch.off += used
				if c.state != stateClosed && !c.holding() {
					r.again(c.h)
				}
				return
			}
			c.inq.pop()
			r.putChunk(ch)
		}
		if c.holding() {
			return
		}
		if c.flags.Load()&flagFull != 0 {
			c.flags.And(^uint32(flagFull))
			c.io.kickRead()
		}
		if f&(flagEOF|flagErr) == 0 {
			return
		}
		if !c.inq.empty() {
			continue // chunks queued before the flag came in meanwhile
		}
		if f&flagErr != 0 {
			c.io.closeNow(readError(c.rerr))
			return
		}
		c.peerClosed()
		return
	}
}

// peerClosed acts on the peer's end of stream, once every byte before it
// was delivered.
func (c *stream) peerClosed() {
	switch c.state {
	case stateLinger:
		c.io.closeNow(ErrConnectionDone)
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

// callDataReceived hands data to the protocol and returns how much of it
// was consumed: all of it, unless partial is true and the protocol is a
// PartialProtocol that stopped early.
func (c *stream) callDataReceived(b []byte, partial bool) (used int) {
	c.r.ran++
	defer func() {
		if v := recover(); v != nil {
			c.io.closeNow(c.r.logPanic("DataReceived", v, "remote", fmt.Sprint(c.remote)))
			used = len(b)
		}
	}()
	if pp, ok := c.proto.(PartialProtocol); ok && partial {
		n := pp.DataReceivedPartial(b, c.r.spentFn)
		return min(max(n, 0), len(b))
	}
	c.proto.DataReceived(b)
	return len(b)
}

func (c *stream) callConnectionMade(t Transport) {
	c.r.ran++
	defer func() {
		if v := recover(); v != nil {
			c.io.closeNow(c.r.logPanic("ConnectionMade", v))
		}
	}()
	c.proto.ConnectionMade(t)
}

// wrote counts bytes the socket took.
func (c *stream) wrote(n int) {
	c.bytesOut += uint64(n)
	c.r.stats.bytesOut.Add(uint64(n))
}

// queuedMore tells a Producer to pause when the write queue passes the
// high-water mark, and stops reading from the peer if the connection was
// made WithBackpressure.
func (c *stream) queuedMore() {
	q := c.io.queued()
	if q <= c.cfg.high {
		return
	}
	if c.cfg.backpressure && !c.bp {
		c.bp = true
		c.flags.Or(flagBackpressure)
	}
	if pr, ok := c.proto.(Producer); ok && !c.prodPaused {
		c.prodPaused = true
		c.r.safeCall("PauseProducing", pr.PauseProducing)
	}
}

// sentSome tells a paused Producer to resume at the low-water mark, reads
// from the peer again if back-pressure had stopped it, and finishes a
// LoseConnection once everything is sent. The queue is looked at again
// after each callback: ResumeProducing may write, and even call
// LoseConnection, and what it wrote must go out before the end of stream.
func (c *stream) sentSome() {
	if c.bp && c.io.queued() <= c.cfg.low {
		c.bp = false
		c.flags.And(^uint32(flagBackpressure))
		c.resumeReading()
	}
	if pr, ok := c.proto.(Producer); ok && c.prodPaused && c.io.queued() <= c.cfg.low {
		c.prodPaused = false
		c.r.safeCall("ResumeProducing", pr.ResumeProducing)
	}
	if c.state == stateClosing && c.io.queued() == 0 {
		c.finishLose()
	}
}

// checkWrite is the common start of Write and Writev: whether the program
// may write, and if not, the error to return. Every backend says the same:
// once the main thread knows the connection is broken (a write failed, the
// reader saw a reset) or the program closed it, Write returns an error that
// matches ErrClosed and carries the reason.
func (c *stream) checkWrite() error {
	if c.lost != nil {
		return &ClosedError{Reason: c.lost}
	}
	if c.state != stateOpen {
		return ErrClosed
	}
	if c.flags.Load()&flagErr != 0 {
		// The reader saw the connection break; the main thread closes it
		// once everything read before that is delivered.
		return &ClosedError{Reason: readError(c.rerr)}
	}
	return nil
}

// overLimit reports whether queueing n more bytes would pass the
// connection's limit on unsent bytes; if so the connection fails with
// ErrWriteQueueFull (reset: what is queued is dropped) and the error for
// Write is returned.
func (c *stream) overLimit(n int) error {
	q := c.io.queued()
	if c.cfg.maxQueued <= 0 || q+n <= c.cfg.maxQueued {
		return nil
	}
	reason := fmt.Errorf("%w: %d bytes unsent and %d more written, limit %d: the peer is not reading fast enough",
		ErrWriteQueueFull, q, n, c.cfg.maxQueued)
	c.io.reset()
	c.fail(reason)
	return &ClosedError{Reason: reason}
}

// fail loses the connection because writing to it failed (or must not go
// on): nothing more is written and what is queued is dropped at once; the
// bytes the peer sent that were already read are still delivered, then
// the connection is closed with reason, after the callback running now.
func (c *stream) fail(reason error) {
	if c.lost != nil || c.state == stateClosed {
		return
	}
	c.lost = reason
	c.io.dropQueued()
	c.r.later(func() {
		for ch := c.inq.peek(); ch != nil && c.state != stateClosed && !c.paused; ch = c.inq.peek() {
			if c.state == stateOpen || c.state == stateClosing {
				data := ch.buf[ch.off:ch.n]
				c.msgsIn++
				c.r.stats.msgsIn.Add(1)
				c.callDataReceived(data, false)
			}
			if c.state == stateClosed {
				return
			}
			c.inq.pop()
			c.unread.Add(-int64(ch.n - ch.off))
			c.r.putChunk(ch)
		}
		c.io.closeNow(reason)
	})
}

// LoseConnection implements Transport.
func (c *stream) LoseConnection() error {
	switch c.state {
	case stateOpen:
		c.state = stateClosing
		if c.io.queued() == 0 {
			c.finishLose()
			return nil
		}
		// A peer that stops reading must not hold the connection open for
		// ever: the linger time bounds the flush too.
		c.timer, _ = c.r.CallLater(c.cfg.linger, c.lingerExpired)
	case stateConnecting:
		c.io.abortConnecting(ErrAborted)
	}
	return nil // already closing or closed
}

// finishLose runs once everything queued was sent: it shuts down the
// writing side (the peer sees end of stream after the last byte) and waits,
// still reading and discarding, for the peer to close its side, so that
// closing never resets a connection whose peer is still reading.
func (c *stream) finishLose() {
	if c.io.queued() != 0 {
		return // not everything is sent yet: sentSome comes back
	}
	c.state = stateLinger
	c.io.shutdownWrite()
	if c.state == stateClosed {
		return
	}
	if c.flags.Load()&flagEOF != 0 && c.inq.empty() {
		c.io.closeNow(ErrConnectionDone)
		return
	}
	if c.holding() {
		c.paused, c.bp = false, false
		c.flags.And(^uint32(flagPaused | flagBackpressure))
		c.resumeReading()
	}
	if c.timer == nil { // else the deadline set by LoseConnection stands
		c.timer, _ = c.r.CallLater(c.cfg.linger, c.lingerExpired)
	}
}

// lingerExpired ends a LoseConnection that took longer than the linger
// time: cleanly if everything was sent, else as a timeout.
func (c *stream) lingerExpired() {
	c.timer = nil
	if c.state == stateLinger {
		c.io.closeNow(ErrConnectionDone)
		return
	}
	c.io.closeNow(fmt.Errorf("%w: %d bytes still unsent after %v: the peer stopped reading", ErrTimeout, c.io.queued(), c.cfg.linger))
}

// AbortConnection implements Transport.
func (c *stream) AbortConnection() error { return c.abort(ErrAborted) }

// AbortWithError implements Transport.
func (c *stream) AbortWithError(reason error) error {
	if reason == nil {
		reason = ErrAborted
	}
	return c.abort(reason)
}

func (c *stream) abort(reason error) error {
	if c.state == stateClosed {
		return nil
	}
	if c.io.abortConnecting(reason) {
		return nil
	}
	c.io.reset()
	c.io.closeNow(reason)
	return nil
}

// ended is the common part of closing: release what was read, cancel the
// linger timer, and run ConnectionLost and the reactor's hooks, once — after
// the callback running now returns, so that ConnectionLost never runs
// inside the program's own call into the transport. connected is false for
// a connection that never connected, whose factory hears of it through
// ConnectionFailed instead.
func (c *stream) ended(reason error, connected bool) {
	c.lost = reason
	if c.timer != nil {
		_ = c.timer.Cancel()
		c.timer = nil
	}
	for ch := c.inq.peek(); ch != nil; ch = c.inq.peek() {
		c.inq.pop()
		c.unread.Add(-int64(ch.n - ch.off))
		c.r.putChunk(ch)
	}
	hooks := c.onLost
	c.onLost = nil
	if connected {
		c.r.stats.conns.Add(-1)
	}
	p := c.proto
	c.r.later(func() {
		if connected {
			c.r.safeCall("ConnectionLost", func() { p.ConnectionLost(reason) })
		}
		for _, f := range hooks {
			f()
		}
	})
}

// PauseProducing implements Transport.
func (c *stream) PauseProducing() {
	if c.paused || c.state == stateClosed {
		return
	}
	c.paused = true
	c.flags.Or(flagPaused)
}

// ResumeProducing implements Transport. What was read before the pause
// is delivered in the connection's turn, not inside this call.
func (c *stream) ResumeProducing() {
	if !c.paused || c.state == stateClosed {
		return
	}
	c.paused = false
	c.flags.And(^uint32(flagPaused))
	if !c.bp {
		c.resumeReading()
	}
}

// resumeReading delivers what was read while the connection was held, in
// the connection's turn, and lets the reader read again.
func (c *stream) resumeReading() {
	if !c.inq.empty() || c.flags.Load()&(flagEOF|flagErr|flagFull) != 0 {
		c.r.again(c.h) // deliver clears flagFull once the queue is empty
	}
	c.io.kickRead()
}

// holding reports whether delivery is held: paused by the program, or by
// back-pressure.
func (c *stream) holding() bool { return c.paused || c.bp }

// SetWriteBufferLimits implements Transport.
func (c *stream) SetWriteBufferLimits(high, low int) {
	if low > high {
		low = high
	}
	c.cfg.high, c.cfg.low = high, max(low, 0)
}

func (c *stream) LocalAddr() net.Addr  { return c.local }
func (c *stream) RemoteAddr() net.Addr { return c.remote }
func (c *stream) ID() ConnID           { return ConnID(c.h.token()) }

// Stats implements Transport.
func (c *stream) Stats() ConnStats {
	return ConnStats{
		BytesIn:      c.bytesIn.Load(),
		BytesOut:     c.bytesOut,
		MessagesIn:   c.msgsIn,
		MessagesOut:  c.msgsOut,
		Queued:       c.io.queued(),
		Unread:       int(c.unread.Load()),
		KernelQueued: c.io.kernelQueued(),
	}
}

func (c *stream) open() bool { return c.state != stateClosed && c.state != stateConnecting }

func (c *stream) whenLost(f func()) {
	if c.state == stateClosed {
		f()
		return
	}
	c.onLost = append(c.onLost, f)
}

// putChunk recycles a read buffer into the pool its reader takes from.
func (r *Reactor) putChunk(ch *chunk) {
	ch.off = 0
	if r.goNet {
		r.goChunks.Put(ch)
		return
	}
	r.chunks.put(ch)
}

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
