package core

import (
	"fmt"
	"net"
	"sync/atomic"

	"github.com/threadedselect/reactor/core/internal/queue"
)

// A stream connection is one of two implementations, chosen per
// connection: descriptor-backed (fdConn, unix: the poll loop reads the
// socket, the main thread writes it) or goroutine-backed (goConn, any
// net.Conn: a reader and a writer goroutine on the Go runtime's poller).
// Both own a stream, the logic they share: the queue of chunks read ahead
// for the main thread and its delivery, the life cycle (open, closing,
// linger, closed), flow control, pause and resume, and the counters.
//
// Calls go one way, from the connection to its stream, as Go's net.conn
// calls poll.FD: the stream never calls its connection. A step of the
// stream that needs the connection to act (watch the socket again, shut it
// down for writing, close it) returns an act, and the connection does what
// it says.
type stream struct {
	r      *Reactor
	h      *handle
	proto  Protocol
	cfg    connConfig
	local  net.Addr
	remote net.Addr
	pool   pool[chunk] // where read chunks go back: the reader's own pool

	// Shared with the reader (the poll loop, or the connection's reader
	// goroutine).
	inq     queue.SPSC[*chunk]
	unread  atomic.Int64
	flags   atomic.Uint32
	rerr    error // set by the reader before flagErr
	bytesIn atomic.Uint64

	// Main thread only.
	state      connState
	queued     int // bytes written and not yet sent, kept by the connection
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

func newStream(r *Reactor, cfg connConfig, chunks pool[chunk]) stream {
	return stream{r: r, cfg: cfg, pool: chunks, inq: queue.NewSPSC[*chunk](chunkQueueCap)}
}

// recycle gives a chunk back to the pool its reader takes from.
func (c *stream) recycle(ch *chunk) {
	ch.n, ch.off = 0, 0
	c.pool.put(ch)
}

// act is what a step of the stream asks its connection to do, in the
// order of the bits; the connection stops once it is closed.
type act struct {
	do     actBits
	reason error // for actFail and actClose
}

type actBits uint8

const (
	// actReset: the coming close is a reset (RST), not an orderly end of
	// stream: what is queued is being dropped.
	actReset actBits = 1 << iota
	// actFail: writing failed (or must not go on) with reason: drop what is
	// queued now, and after the running callback deliver what was read and
	// close (see stream.failed).
	actFail
	// actShutWrite: send end of stream after everything queued.
	actShutWrite
	// actClose: end the connection now with reason (a connection still
	// connecting fails to connect).
	actClose
	// actLinger: start the linger timer, which ends with stream.lingerExpired.
	actLinger
	// actWatch: watch the connection again for what it wants now (reading
	// was stopped by a pause, a full queue or back-pressure).
	actWatch
)

func (a act) with(b act) act {
	a.do |= b.do
	if b.reason != nil {
		a.reason = b.reason
	}
	return a
}

func closeWith(reason error) act { return act{do: actClose, reason: reason} }

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
	if c.unread.Load() < int64(c.cfg.maxUnread) && !c.inq.Full() {
		return true
	}
	c.flags.Or(flagFull)
	if c.unread.Load() < int64(c.cfg.maxUnread) && !c.inq.Full() {
		c.flags.And(^uint32(flagFull))
		return c.flags.Load()&stopReading == 0
	}
	return false
}

// got is called by the reader with a chunk it read; from the push on, the
// chunk is the main thread's.
func (c *stream) got(ch *chunk) {
	n := ch.n
	c.unread.Add(int64(n))
	c.bytesIn.Add(uint64(n))
	c.r.stats.bytesIn.Add(uint64(n))
	c.inq.Push(ch)
}

// deliver hands queued chunks to the protocol, one DataReceived call at a
// time, until the queue is empty, the connection is paused or the Drain's
// budget is spent; then it acts on end of stream or a read error, which
// the reader only flags after queueing every chunk read before it. Work a
// budget cut short is queued again behind the work already queued.
func (c *stream) deliver() (a act) {
	r := c.r
	for !c.holding() {
		f := c.flags.Load()
		for ch := c.inq.Peek(); ch != nil && !c.holding(); ch = c.inq.Peek() {
			if r.budgetSpent() {
				r.again(c.h)
				return a
			}
			data := ch.buf[ch.off:ch.n]
			used := len(data)
			if c.state == stateOpen || c.state == stateClosing {
				c.msgsIn++
				r.stats.msgsIn.Add(1)
				var failed act
				if used, failed = c.callDataReceived(data, true); failed.do != 0 {
					return a.with(failed) // closing releases the chunk
				}
				if c.state == stateClosed {
					// The protocol closed it: ended released the queue, this
					// chunk included; it must not be touched (or put back
					// twice, and read into by two connections at once).
					return a
				}
			}
			c.unread.Add(-int64(used))
			if used < len(data) {
				// A PartialProtocol stopped at a message boundary.
				ch.off += used
				if c.state != stateClosed && !c.holding() {
					r.again(c.h)
				}
				return a
			}
			c.inq.Pop()
			c.recycle(ch)
		}
		if c.holding() {
			return a
		}
		if c.flags.Load()&flagFull != 0 {
			c.flags.And(^uint32(flagFull))
			a.do |= actWatch
		}
		if f&(flagEOF|flagErr) == 0 {
			return a
		}
		if !c.inq.Empty() {
			continue // chunks queued before the flag came in meanwhile
		}
		if f&flagErr != 0 {
			return a.with(closeWith(readError(c.rerr)))
		}
		return a.with(c.peerClosed())
	}
	return a
}

// peerClosed acts on the peer's end of stream, once every byte before it
// was delivered.
func (c *stream) peerClosed() act {
	if c.lost != nil {
		return act{} // failing: closed with that reason
	}
	switch c.state {
	case stateLinger:
		return closeWith(ErrConnectionDone)
	case stateClosing:
		// Still flushing: close when done (the peer may still be reading).
	case stateOpen:
		if hp, ok := c.proto.(HalfCloseProtocol); ok {
			if !c.readClosed {
				c.readClosed = true
				c.r.safeCall("ReadConnectionLost", hp.ReadConnectionLost)
			}
			return act{}
		}
		// Not half-closeable: finish what we were sending, then close.
		return c.loseConnection()
	}
	return act{}
}

// callDataReceived hands data to the protocol and returns how much of it
// was consumed: all of it, unless partial is true and the protocol is a
// PartialProtocol that stopped early. A panic closes the connection.
func (c *stream) callDataReceived(b []byte, partial bool) (used int, a act) {
	c.r.ran++
	defer func() {
		if v := recover(); v != nil {
			used, a = len(b), closeWith(c.r.logPanic("DataReceived", v, "remote", fmt.Sprint(c.remote)))
		}
	}()
	if pp, ok := c.proto.(PartialProtocol); ok && partial {
		n := pp.DataReceivedPartial(b, c.r.spentFn)
		return min(max(n, 0), len(b)), act{}
	}
	c.proto.DataReceived(b)
	return len(b), act{}
}

// callConnectionMade tells the protocol the connection is up, with t, the
// connection, as its transport. A panic closes the connection.
func (c *stream) callConnectionMade(t Transport) (a act) {
	c.r.ran++
	defer func() {
		if v := recover(); v != nil {
			a = closeWith(c.r.logPanic("ConnectionMade", v))
		}
	}()
	c.proto.ConnectionMade(t)
	return act{}
}

// opened counts a connection that is up, before its ConnectionMade.
func (c *stream) opened(p Protocol) {
	c.proto = p
	c.state = stateOpen
	c.r.stats.conns.Add(1)
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
	if c.queued <= c.cfg.high {
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
func (c *stream) sentSome() (a act) {
	if c.bp && c.queued <= c.cfg.low {
		c.bp = false
		c.flags.And(^uint32(flagBackpressure))
		a = c.resumeReading()
	}
	if pr, ok := c.proto.(Producer); ok && c.prodPaused && c.queued <= c.cfg.low {
		c.prodPaused = false
		c.r.safeCall("ResumeProducing", pr.ResumeProducing)
	}
	if c.state == stateClosing && c.queued == 0 {
		a = a.with(c.finishLose())
	}
	return a
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
// ErrWriteQueueFull (reset: what is queued is dropped): what the
// connection must do and the error for Write are returned.
func (c *stream) overLimit(n int) (act, error) {
	if c.cfg.maxQueued <= 0 || c.queued+n <= c.cfg.maxQueued {
		return act{}, nil
	}
	reason := fmt.Errorf("%w: %d bytes unsent and %d more written, limit %d: the peer is not reading fast enough",
		ErrWriteQueueFull, c.queued, n, c.cfg.maxQueued)
	return act{do: actReset}.with(c.fail(reason)), &ClosedError{Reason: reason}
}

// fail loses the connection because writing to it failed (or must not go
// on): nothing more is written and what is queued is dropped at once; the
// bytes the peer sent that were already read are still delivered (failed),
// then the connection is closed with reason, after the callback running
// now.
func (c *stream) fail(reason error) act {
	if c.lost != nil || c.state == stateClosed {
		return act{}
	}
	c.lost = reason
	return act{do: actFail, reason: reason}
}

// failed is the end of fail, after the callback that failed: it delivers
// what was read, all of it, and says to close.
func (c *stream) failed(reason error) act {
	for ch := c.inq.Peek(); ch != nil && c.state != stateClosed && !c.paused; ch = c.inq.Peek() {
		if c.state == stateOpen || c.state == stateClosing {
			data := ch.buf[ch.off:ch.n]
			c.msgsIn++
			c.r.stats.msgsIn.Add(1)
			if _, a := c.callDataReceived(data, false); a.do != 0 {
				return a
			}
		}
		if c.state == stateClosed {
			return act{}
		}
		c.inq.Pop()
		c.unread.Add(-int64(ch.n - ch.off))
		c.recycle(ch)
	}
	return closeWith(reason)
}

// loseConnection is LoseConnection's logic.
func (c *stream) loseConnection() act {
	switch c.state {
	case stateOpen:
		c.state = stateClosing
		if c.queued == 0 {
			return c.finishLose()
		}
		// A peer that stops reading must not hold the connection open for
		// ever: the linger time bounds the flush too.
		return act{do: actLinger}
	case stateConnecting:
		return closeWith(ErrAborted)
	}
	return act{} // already closing or closed
}

// finishLose runs once everything queued was sent: it shuts down the
// writing side (the peer sees end of stream after the last byte) and waits,
// still reading and discarding, for the peer to close its side, so that
// closing never resets a connection whose peer is still reading.
func (c *stream) finishLose() act {
	if c.queued != 0 {
		return act{} // not everything is sent yet: sentSome comes back
	}
	c.state = stateLinger
	a := act{do: actShutWrite}
	if c.flags.Load()&flagEOF != 0 && c.inq.Empty() {
		return a.with(closeWith(ErrConnectionDone))
	}
	if c.holding() {
		c.paused, c.bp = false, false
		c.flags.And(^uint32(flagPaused | flagBackpressure))
		a = a.with(c.resumeReading())
	}
	if c.timer == nil { // else the deadline set by LoseConnection stands
		a.do |= actLinger
	}
	return a
}

// lingerExpired ends a LoseConnection that took longer than the linger
// time: cleanly if everything was sent, else as a timeout.
func (c *stream) lingerExpired() act {
	c.timer = nil
	if c.state == stateLinger {
		return closeWith(ErrConnectionDone)
	}
	return act{do: actReset | actClose, reason: fmt.Errorf("%w: %d bytes still unsent after %v: the peer stopped reading", ErrTimeout, c.queued, c.cfg.linger)}
}

// abort is AbortConnection's logic: reset and close (or stop connecting).
func (c *stream) abort(reason error) act {
	if c.state == stateClosed {
		return act{}
	}
	if reason == nil {
		reason = ErrAborted
	}
	return act{do: actReset | actClose, reason: reason}
}

// ended is the common part of closing: release what was read, cancel the
// linger timer, and run ConnectionLost and the reactor's hooks, once — after
// the callback running now returns, so that ConnectionLost never runs
// inside the program's own call into the transport. connected is false for
// a connection that never connected, whose factory hears of it through
// ConnectionFailed instead.
func (c *stream) ended(reason error, connected bool) {
	c.state = stateClosed
	c.lost = reason
	c.queued = 0
	if c.timer != nil {
		_ = c.timer.Cancel()
		c.timer = nil
	}
	for ch := c.inq.Peek(); ch != nil; ch = c.inq.Peek() {
		c.inq.Pop()
		c.unread.Add(-int64(ch.n - ch.off))
		c.recycle(ch)
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
	if c.paused || c.state == stateClosed || c.state == stateLinger {
		return
	}
	c.paused = true
	c.flags.Or(flagPaused)
}

// resume is ResumeProducing's logic. What was read before the pause is
// delivered in the connection's turn, not inside the call.
func (c *stream) resume() act {
	if !c.paused || c.state == stateClosed {
		return act{}
	}
	c.paused = false
	c.flags.And(^uint32(flagPaused))
	if c.bp {
		return act{}
	}
	return c.resumeReading()
}

// resumeReading delivers what was read while the connection was held, in
// the connection's turn, and lets the reader read again.
func (c *stream) resumeReading() act {
	if !c.inq.Empty() || c.flags.Load()&(flagEOF|flagErr|flagFull) != 0 {
		c.r.again(c.h) // deliver clears flagFull once the queue is empty
	}
	return act{do: actWatch}
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

// LocalAddr implements Transport.
func (c *stream) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements Transport.
func (c *stream) RemoteAddr() net.Addr { return c.remote }

// ID implements Transport.
func (c *stream) ID() ConnID { return ConnID(c.h.token()) }

// stats is Transport.Stats but for KernelQueued, which only the
// connection can tell.
func (c *stream) stats(kernelQueued int) ConnStats {
	return ConnStats{
		BytesIn:      c.bytesIn.Load(),
		BytesOut:     c.bytesOut,
		MessagesIn:   c.msgsIn,
		MessagesOut:  c.msgsOut,
		Queued:       c.queued,
		Unread:       int(c.unread.Load()),
		KernelQueued: kernelQueued,
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

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
