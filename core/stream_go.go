package core

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// goConn is a goroutine-backed stream connection: any net.Conn (a TCP
// socket on the portable backend, a *tls.Conn, a net.Pipe end, a
// WebSocket's connection), on the Go runtime's poller. A reader goroutine
// reads the net.Conn into chunks for the main thread, as the poll loop does
// for fdConn; a writer goroutine writes what the main thread hands it, and
// closes the net.Conn at the end, so that a Close or CloseWrite that sends
// something (TLS's close_notify) never blocks the main thread. When the
// main thread answers a read at once, the reader often writes the answer
// itself (see offer). The main thread never blocks: Write copies into a
// pending buffer, and the two buffers change hands through an atomic flag,
// so a connection has at most two write buffers, however much is written.
type goConn struct {
	stream
	c     net.Conn
	rkick chan struct{} // wakes the reader after a pause or a full queue
	wkick chan struct{} // wakes the writer when work is handed over
	quit  chan struct{} // closed when the connection is closed

	// Handed between the main thread and the writer goroutine: the writer
	// owns wbuf, wshut, wn and werr while wbusy is set.
	wbusy atomic.Bool
	wbuf  []byte
	wshut bool // shut down for writing after wbuf
	wn    int
	werr  error
	// abortive is set by the main thread before quit is closed: the close is
	// a reset, so nothing more is sent (no TLS close_notify).
	abortive bool
	// urgent is set by the main thread while it needs to hear at once that
	// the writer finished (more is pending, a Producer or the reader waits
	// for the queue to drain, the connection is closing); otherwise the
	// writer's report waits on the ring, unannounced, for the main thread's
	// next wake (see markReadyQuiet), which saves a wake per write.
	urgent atomic.Bool
	// assist is the reader's offer to write the main thread's answer
	// itself (see offer): assistWaiting while the reader waits for it,
	// assistTaken once the main thread gave the job to the reader instead
	// of waking the writer.
	assist atomic.Int32
	// sock is the TCP socket under the net.Conn, on a platform that tells
	// how much more its send buffer takes (sendRoom); nil otherwise, and
	// then the reader never offers: it must not block in a write.
	sock syscall.RawConn
	// measureRoom reads sendRoom into room; made once, so that a check
	// allocates nothing.
	measureRoom func(fd uintptr)

	// Owned with wbuf, by whichever goroutine does the job.
	wfailed bool // a write failed: nothing more is written
	room    int  // what the send buffer takes for certain (roomFor)
	// assisted counts the jobs the reader did; tests read it once the
	// connection has ended.
	assisted int
	// The reader's own: the reads that returned bytes, and its offers.
	// Tests read them once the connection has ended.
	reads, offers int

	// Main thread only.
	pend  []byte // written, not yet handed to the writer
	spare []byte // the writer's last buffer, for reuse
	inFly int    // bytes handed to the writer and not yet reported
	// reclaimed: Write took back a buffer the writer had finished with;
	// written has not acted on it yet.
	reclaimed bool
}

func newGoConn(r *Reactor, c net.Conn, cfg connConfig) *goConn {
	g := &goConn{
		c:     c,
		rkick: make(chan struct{}, 1),
		wkick: make(chan struct{}, 1),
		quit:  make(chan struct{}),
	}
	g.stream = newStream(r, cfg, r.goChunks)
	g.local, g.remote = c.LocalAddr(), c.RemoteAddr()
	g.h = &handle{fd: -1, owner: g, want: evRead}
	// Only a TCP socket, or TLS over one: a WebSocket's write goes
	// through coder/websocket's locks and buffers, and its reader writing
	// it measured slower than its writer goroutine (0.95x and 0.98x in
	// paired runs).
	switch c.(type) {
	case *net.TCPConn, *tls.Conn:
		if tc := tcpOf(c); tc != nil && canTellSendRoom {
			if rc, err := tc.SyscallConn(); err == nil {
				g.sock = rc
				g.measureRoom = func(fd uintptr) { g.room = sendRoom(int(fd)) }
			}
		}
	}
	return g
}

// tcpOf returns the TCP socket a net.Conn runs on, if any: c itself, or
// the connection under a wrapper that tells it (a *tls.Conn's NetConn).
func tcpOf(c net.Conn) *net.TCPConn {
	for i := 0; i < 8; i++ {
		switch x := c.(type) {
		case *net.TCPConn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// start registers the connection, tells the protocol, and starts its
// goroutines.
func (g *goConn) start(p Protocol) error {
	if tc := tcpOf(g.c); tc != nil {
		if g.cfg.noDelay {
			_ = tc.SetNoDelay(true)
		}
		if g.cfg.sndBuf > 0 {
			_ = tc.SetWriteBuffer(g.cfg.sndBuf)
		}
	}
	if err := g.r.register(g.h); err != nil {
		g.state = stateClosed
		g.c.Close()
		return err
	}
	g.opened(p)
	g.r.spawn(g.reader)
	g.r.spawn(g.writer)
	g.do(g.callConnectionMade(g))
	return nil
}

// abandon closes a connection that was never started (its factory refused
// it).
func (g *goConn) abandon() { g.c.Close() }

// do carries out what a step of the stream asked for.
func (g *goConn) do(a act) {
	defer g.setUrgent()
	if a.do == 0 {
		return
	}
	if a.do&actReset != 0 && g.state != stateClosed {
		g.abortive = true
		if tc := tcpOf(g.c); tc != nil {
			_ = tc.SetLinger(0)
		}
	}
	if a.do&actFail != 0 {
		g.dropQueued()
		reason := a.reason
		g.r.later(func() { g.do(g.failed(reason)) })
	}
	if a.do&actShutWrite != 0 {
		g.shutdownWrite()
	}
	if a.do&actClose != 0 {
		g.closeNow(a.reason)
		return
	}
	if a.do&actLinger != 0 && g.state != stateClosed {
		g.timer = g.r.callLater(g.cfg.linger, g.lingerExpired)
	}
	if a.do&actWatch != 0 {
		g.watch()
	}
}

func (g *goConn) lingerExpired() { g.do(g.stream.lingerExpired()) }

// setUrgent tells the writer whether the main thread must hear at once
// when it finishes. Main thread, after any step that may change the
// answer.
func (g *goConn) setUrgent() {
	u := len(g.pend) > 0 || g.prodPaused || g.bp || g.state != stateOpen || g.lost != nil
	if g.urgent.Load() != u {
		g.urgent.Store(u)
	}
}

// watch wakes the reader after a pause or a full queue.
func (g *goConn) watch() {
	select {
	case g.rkick <- struct{}{}:
	default:
	}
}

// reader runs on its own goroutine: it reads into chunks for the main
// thread, waiting while the connection is paused or has as much unread as
// it may.
func (g *goConn) reader() {
	r := g.r
	skip, misses := 0, 0
	for {
		if !g.mayRead() {
			if g.flags.Load()&(flagDead|flagEOF|flagErr) != 0 {
				return
			}
			select {
			case <-g.rkick:
			case <-g.quit:
				return
			}
			continue
		}
		ch := r.goChunks.get()
		n, err := g.c.Read(ch.buf)
		if n > 0 {
			ch.n = n
			g.got(ch)
		} else {
			r.goChunks.put(ch)
		}
		if err != nil {
			if g.flags.Load()&flagDead != 0 {
				return
			}
			if errors.Is(err, io.EOF) {
				g.flags.Or(flagEOF)
			} else {
				g.rerr = err
				g.flags.Or(flagErr)
			}
		}
		if n > 0 || err != nil {
			g.h.markReadyAsync(r, evRead)
		}
		if err != nil {
			return
		}
		if g.sock == nil {
			continue
		}
		// A connection whose reads go unanswered (a stream one way) is
		// offered less and less often, down to one read in maxAssistSkip.
		g.reads++
		if skip > 0 {
			skip--
		} else if g.offers++; g.offer() {
			misses = 0
		} else {
			misses = min(2*misses+1, maxAssistSkip)
			skip = misses
		}
	}
}

const (
	assistNone    = 0
	assistWaiting = 1
	assistTaken   = 2
	// assistSpins is how many times the reader yields to the scheduler
	// waiting for the main thread's answer: the main thread, woken by the
	// read, usually runs in the first.
	assistSpins = 4
	// maxAssistSkip is how many reads at most go without an offer after
	// offers that were not answered.
	maxAssistSkip = 64
)

// offer waits a moment for the main thread to answer what the reader
// just handed it with a write, and does that write itself: the writer
// goroutine is not woken for it, as a goroutine-per-connection server
// writes its answer on the goroutine that read, which saves a goroutine
// wake and sleep a message. It reports whether the main thread answered.
//
// The reader writes only what the socket's send buffer takes for certain
// (roomFor), so that it never blocks in the write: a reader blocked there
// would stop reading from a peer that waits for its own write to finish
// before it reads, and the two would wait for each other for ever. Any
// other job (more than fits, a shutdown) goes to the writer.
func (g *goConn) offer() bool {
	g.assist.Store(assistWaiting)
	for i := 0; i < assistSpins && g.assist.Load() == assistWaiting; i++ {
		runtime.Gosched()
	}
	if g.assist.CompareAndSwap(assistWaiting, assistNone) {
		return false
	}
	g.assist.Store(assistNone)
	if g.wshut || g.wbuf == nil || !g.roomFor(len(g.wbuf)) {
		g.kickWriter()
		return true
	}
	g.assisted++
	g.work()
	return true
}

// roomFor reports whether the socket's send buffer takes a write of n
// bytes without blocking, asking the kernel only when what it said last,
// less what was written since, is not enough.
func (g *goConn) roomFor(n int) bool {
	need := sendCost(n)
	if g.room >= need {
		return true
	}
	g.room = 0
	if g.sock.Control(g.measureRoom) != nil {
		return false
	}
	g.room -= roomSlack
	return g.room >= need
}

// sendCost bounds what a write of n bytes takes from a send buffer: the
// bytes, and for each system call the write may make (one per TLS record
// of up to 16 KiB; counted as one per 4 KiB) its framing and the kernel's
// bookkeeping for the packet buffer: 832 bytes a write on Linux 6.18
// whatever its size, measured with SO_MEMINFO, counted as 1 KiB.
func sendCost(n int) int { return n + (n/4096+2)*1024 }

// roomSlack is kept free of the reader's writes for what may be sent on
// the connection unannounced: a TLS key update, an alert.
const roomSlack = 4 << 10

// writer runs on its own goroutine: it writes each buffer handed to it and
// reports back through the ring, shuts the connection down for writing
// when told to, and closes it when the connection is closed.
func (g *goConn) writer() {
	defer g.closeConn()
	for {
		// One channel to wait on, not a select with quit: a select costs
		// more on every write. closeNow kicks after closing quit.
		<-g.wkick
		select {
		case <-g.quit:
			return
		default:
		}
		if !g.wbusy.Load() {
			continue
		}
		g.work()
	}
}

// work does the job the main thread handed over, on the writer goroutine
// or on the reader (offer), and reports it.
func (g *goConn) work() {
	report := g.wbuf != nil
	if report && !g.wfailed {
		g.wn, g.werr = g.c.Write(g.wbuf)
		g.wfailed = g.werr != nil
		g.room -= sendCost(len(g.wbuf))
	}
	if g.wshut && !g.wfailed {
		if cw, ok := g.c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
	failed := g.wfailed
	g.wbusy.Store(false)
	if report {
		// Queue the report, then look at urgent: a main thread that made
		// it urgent after this look sees the entry before it sleeps.
		g.h.markReadyQuiet(g.r, evWrite)
		if failed || g.urgent.Load() {
			g.r.wakeConsumer()
		}
	}
}

// closeConn closes the net.Conn, on the writer goroutine once the
// connection is closed. An abortive close sends nothing more: a connection
// that can close without its closing message does so (CloseNow, as
// core/ws's WebSocket connections and coder/websocket's do), otherwise
// what a wrapper runs on is closed (a *tls.Conn's NetConn).
func (g *goConn) closeConn() {
	c := g.c
	if g.abortive {
		if cn, ok := c.(interface{ CloseNow() error }); ok {
			cn.CloseNow()
			return
		}
		if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
			c = nc.NetConn()
		}
	}
	c.Close()
}

// dispatch runs on the main thread for the connection's ring entry: what
// the writer finished first, then what the reader read (which a budget may
// cut short).
func (g *goConn) dispatch(r *Reactor, h *handle) {
	h.takeReady()
	if g.state == stateClosed {
		return
	}
	g.written()
	if g.state != stateClosed {
		g.do(g.deliver())
	}
}

// written takes back a buffer the writer finished with, and acts on it.
func (g *goConn) written() {
	if g.state == stateClosed {
		return
	}
	if g.wbuf != nil && !g.wbusy.Load() {
		if err := g.reclaim(); err != nil {
			g.do(g.fail(writeError(err)))
			return
		}
	} else if !g.reclaimed {
		return
	}
	g.reclaimed = false
	g.pump()
	g.do(g.sentSome())
}

// reclaim takes back a buffer the writer finished with (wbuf set, the
// writer idle) and counts what it sent; it returns the writer's error.
// It calls nothing: written acts on the result, after it or, for a
// reclaim within Write, when the writer's report is dispatched.
func (g *goConn) reclaim() error {
	n, err, size := g.wn, g.werr, len(g.wbuf)
	g.spare, g.wbuf = g.wbuf[:0], nil
	g.inFly -= size
	g.queued = len(g.pend) + g.inFly
	g.r.stats.queuedBytes.Add(-int64(size))
	g.wrote(n)
	return err
}

// pump hands the pending bytes to the writer if it is idle.
func (g *goConn) pump() {
	if g.wbusy.Load() || g.wbuf != nil || len(g.pend) == 0 {
		return
	}
	g.wbuf, g.pend = g.pend, g.spare
	g.spare = nil
	g.inFly += len(g.wbuf)
	g.handOver()
}

// handOver gives the writer its work (wbuf, wshut) and wakes it, or
// gives it to the reader if the reader is waiting for it (offer).
func (g *goConn) handOver() {
	g.wbusy.Store(true)
	if g.assist.CompareAndSwap(assistWaiting, assistTaken) {
		return
	}
	g.kickWriter()
}

// kickWriter wakes the writer for the job handed over.
func (g *goConn) kickWriter() {
	select {
	case g.wkick <- struct{}{}:
	default:
	}
}

// shutdownWrite sends end of stream once everything was sent: the writer,
// idle by now, shuts the connection down for writing. A connection that
// cannot half-close is closed now, cleanly.
func (g *goConn) shutdownWrite() {
	if _, ok := g.c.(interface{ CloseWrite() error }); !ok {
		g.closeNow(ErrConnectionDone)
		return
	}
	if g.wbusy.Load() || g.wbuf != nil {
		return // cannot happen: shut down only once everything was sent
	}
	g.wshut = true
	g.handOver()
}

// Write implements Transport. A goroutine-backed connection cannot write
// without blocking from the main thread, so every write is copied and
// handed to the connection's writer goroutine.
func (g *goConn) Write(p []byte) (int, error) { return g.writev("Transport.Write", p) }

// Writev implements Transport.
func (g *goConn) Writev(bufs ...[]byte) (int, error) { return g.writev("Transport.Writev", bufs...) }

func (g *goConn) writev(call string, bufs ...[]byte) (int, error) {
	if g.wbuf != nil && !g.wbusy.Load() && g.werr != nil {
		g.written() // the writer failed: known before anything is queued
	}
	if err := g.startWrite(call); err != nil {
		return 0, err
	}
	n := totalLen(bufs)
	if a, err := g.overLimit(n); err != nil {
		g.do(a)
		return 0, err
	}
	for _, b := range bufs {
		g.pend = append(g.pend, b...)
	}
	g.queued += n
	g.r.stats.queuedBytes.Add(int64(n))
	if g.wbuf != nil && !g.wbusy.Load() && g.werr == nil && !g.prodPaused && !g.bp {
		// The writer finished quietly: take its buffer back to hand it
		// this at once. Nothing waits for the queue to drain (a paused
		// Producer or back-pressure would have made the report urgent and
		// is told by written, when the report is dispatched, so that the
		// program never sees the queue drained and itself still paused).
		_ = g.reclaim()
		g.reclaimed = true
	}
	g.pump()
	g.queuedMore()
	g.setUrgent()
	return n, nil
}

func (g *goConn) kernelQueued() int {
	var sc syscall.Conn
	if tc := tcpOf(g.c); tc != nil {
		sc = tc
	} else if s, ok := g.c.(syscall.Conn); ok {
		sc = s
	} else {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	if rc.Control(func(fd uintptr) { n = unsentInKernel(int(fd)) }) != nil {
		return -1
	}
	return n
}

// dropQueued forgets every byte written and not yet handed to the writer.
func (g *goConn) dropQueued() {
	g.r.stats.queuedBytes.Add(-int64(len(g.pend)))
	g.pend, g.spare = nil, nil
	g.queued = g.inFly
}

// closeNow ends the connection: its goroutines stop, the writer closes the
// net.Conn, and ConnectionLost is called exactly once.
func (g *goConn) closeNow(reason error) {
	if g.state == stateClosed {
		return
	}
	g.state = stateClosed
	g.flags.Or(flagDead)
	close(g.quit)
	select {
	case g.wkick <- struct{}{}:
	default:
	}
	// Wake a read or write blocked on the net.Conn; one whose deadline
	// cannot be set is closed here instead. An abortive close of a
	// connection that can close without its closing message (CloseNow)
	// does that, on a goroutine (it may wait for the connection's own): a
	// past deadline starts a WebSocket's close handshake (core/ws).
	if cn, ok := g.c.(interface{ CloseNow() error }); ok && g.abortive {
		g.r.spawn(func() { _ = cn.CloseNow() })
	} else if g.c.SetDeadline(time.Unix(1, 0)) != nil {
		g.c.Close()
	}
	g.r.unregister(g.h)
	if g.wbuf != nil && !g.wbusy.Load() {
		_ = g.reclaim() // count what the writer sent
	}
	g.r.stats.queuedBytes.Add(-int64(len(g.pend) + g.inFly))
	g.pend, g.spare = nil, nil
	g.ended(reason, true)
}

func (g *goConn) lose(r *Reactor, h *handle, reason error) { g.closeNow(reason) }

// pollReady is never called: no poller reports on goroutine connections.
func (g *goConn) pollReady(*loop, *handle, interest) {}

// LoseConnection implements Transport.
func (g *goConn) LoseConnection() error { g.do(g.loseConnection()); return nil }

// AbortConnection implements Transport.
func (g *goConn) AbortConnection() error { g.do(g.abort(ErrAborted)); return nil }

// AbortWithError implements Transport.
func (g *goConn) AbortWithError(reason error) error { g.do(g.abort(reason)); return nil }

// ResumeProducing implements Transport.
func (g *goConn) ResumeProducing() { g.do(g.resume()) }

// Stats implements Transport.
func (g *goConn) Stats() ConnStats { return g.stats(g.kernelQueued()) }

// SetNoDelay implements Transport.
func (g *goConn) SetNoDelay(on bool) error {
	if g.state == stateClosed {
		return ErrClosed
	}
	if tc := tcpOf(g.c); tc != nil {
		return tc.SetNoDelay(on)
	}
	return nil
}
