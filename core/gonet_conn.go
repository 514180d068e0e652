package core

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// goConn is a stream connection of the portable backend. A reader
// goroutine reads the net.Conn into chunks for the main thread, as the poll
// loop does for tcpConn; a writer goroutine writes what the main thread
// hands it. The main thread never blocks: Write copies into a pending
// buffer, and the two buffers change hands through an atomic flag, so a
// connection has at most two write buffers, however much is written.
type goConn struct {
	stream
	c      net.Conn
	resume chan struct{} // wakes the reader after a pause or a full queue
	wkick  chan struct{} // wakes the writer when a buffer is handed over
	quit   chan struct{} // closed when the connection is closed

	// Handed between the main thread and the writer goroutine: the writer
	// owns wbuf, wn and werr while wbusy is set.
	wbusy atomic.Bool
	wbuf  []byte
	wn    int
	werr  error

	// Main thread only.
	pend  []byte // written, not yet handed to the writer
	spare []byte // the writer's last buffer, for reuse
	inFly int    // bytes handed to the writer and not yet reported
}

func newGoConn(r *Reactor, c net.Conn, cfg connConfig) *goConn {
	g := &goConn{
		c:      c,
		resume: make(chan struct{}, 1),
		wkick:  make(chan struct{}, 1),
		quit:   make(chan struct{}),
	}
	g.stream = stream{r: r, cfg: cfg, io: g, local: c.LocalAddr(), remote: c.RemoteAddr(), inq: newSPSC[*chunk](chunkQueueCap)}
	g.h = &handle{fd: -1, owner: g, want: evRead}
	return g
}

// start registers the connection, tells the protocol, and starts its
// goroutines.
func (g *goConn) start(p Protocol) error {
	g.proto = p
	g.state = stateOpen
	if tc, ok := g.c.(*net.TCPConn); ok {
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
	g.r.stats.conns.Add(1)
	g.r.spawn(g.reader)
	g.r.spawn(g.writer)
	g.callConnectionMade(g)
	return nil
}

// reader runs on its own goroutine: it reads into chunks for the main
// thread, waiting while the connection is paused or has as much unread as
// it may.
func (g *goConn) reader() {
	r := g.r
	for {
		if !g.mayRead() {
			if g.flags.Load()&(flagDead|flagEOF|flagErr) != 0 {
				return
			}
			select {
			case <-g.resume:
			case <-g.quit:
				return
			}
			continue
		}
		ch := r.goChunks.Get().(*chunk)
		n, err := g.c.Read(ch.buf)
		if n > 0 {
			ch.n = n
			g.got(ch)
		} else {
			r.goChunks.Put(ch)
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
	}
}

// writer runs on its own goroutine: it writes each buffer handed to it and
// reports back through the ring.
func (g *goConn) writer() {
	for {
		select {
		case <-g.wkick:
		case <-g.quit:
			return
		}
		if !g.wbusy.Load() {
			continue
		}
		n, err := g.c.Write(g.wbuf)
		g.wn, g.werr = n, err
		g.wbusy.Store(false)
		g.h.markReadyAsync(g.r, evWrite)
		if err != nil {
			return
		}
	}
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
		g.deliver()
	}
}

// written takes back a buffer the writer finished with.
func (g *goConn) written() {
	if g.wbuf == nil || g.wbusy.Load() {
		return
	}
	n, err, size := g.wn, g.werr, len(g.wbuf)
	g.spare, g.wbuf = g.wbuf[:0], nil
	g.inFly -= size
	g.r.stats.queuedBytes.Add(-int64(size))
	g.wrote(n)
	if err != nil {
		g.fail(writeError(err))
		return
	}
	g.pump()
	g.sentSome()
}

// pump hands the pending bytes to the writer if it is idle.
func (g *goConn) pump() {
	if g.wbusy.Load() || g.wbuf != nil || len(g.pend) == 0 {
		return
	}
	g.wbuf, g.pend = g.pend, g.spare
	g.spare = nil
	g.inFly += len(g.wbuf)
	g.wbusy.Store(true)
	select {
	case g.wkick <- struct{}{}:
	default:
	}
}

// Write implements Transport. A goroutine-backed connection cannot write
// without blocking from the main thread, so every write is copied and
// handed to the connection's writer goroutine.
func (g *goConn) Write(p []byte) (int, error) {
	return g.Writev(p)
}

// Writev implements Transport.
func (g *goConn) Writev(bufs ...[]byte) (int, error) {
	if g.wbuf != nil && !g.wbusy.Load() && g.werr != nil {
		g.written() // the writer failed: known before anything is queued
	}
	if err := g.checkWrite(); err != nil {
		return 0, err
	}
	g.msgsOut++
	g.r.stats.msgsOut.Add(1)
	n := totalLen(bufs)
	if err := g.overLimit(n); err != nil {
		return 0, err
	}
	for _, b := range bufs {
		g.pend = append(g.pend, b...)
	}
	g.r.stats.queuedBytes.Add(int64(n))
	g.pump()
	g.queuedMore()
	return n, nil
}

func (g *goConn) queued() int { return len(g.pend) + g.inFly }

func (g *goConn) kernelQueued() int {
	sc, ok := g.c.(syscall.Conn)
	if !ok {
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

func (g *goConn) kickRead() {
	select {
	case g.resume <- struct{}{}:
	default:
	}
}

func (g *goConn) shutdownWrite() {
	if cw, ok := g.c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	// No half-close: close now; everything was sent.
	g.closeNow(ErrConnectionDone)
}

func (g *goConn) abortConnecting(error) bool { return false }

func (g *goConn) reset() {
	if tc, ok := g.c.(*net.TCPConn); ok && g.state != stateClosed {
		_ = tc.SetLinger(0)
	}
}

func (g *goConn) dropQueued() {
	g.r.stats.queuedBytes.Add(-int64(len(g.pend)))
	g.pend, g.spare = nil, nil
}

// closeNow closes the net.Conn, which ends the goroutines, and calls
// ConnectionLost exactly once.
func (g *goConn) closeNow(reason error) {
	if g.state == stateClosed {
		return
	}
	g.state = stateClosed
	g.flags.Or(flagDead)
	close(g.quit)
	g.c.Close()
	g.r.unregister(g.h)
	g.r.stats.queuedBytes.Add(-int64(len(g.pend) + g.inFly))
	g.pend, g.spare = nil, nil
	g.ended(reason, true)
}

func (g *goConn) lose(r *Reactor, h *handle, reason error) { g.closeNow(reason) }

// pollReady is never called: no poller reports on goroutine connections.
func (g *goConn) pollReady(*loop, *handle, interest) {}

// SetNoDelay implements Transport.
func (g *goConn) SetNoDelay(on bool) error {
	if g.state == stateClosed {
		return ErrClosed
	}
	if tc, ok := g.c.(*net.TCPConn); ok {
		return tc.SetNoDelay(on)
	}
	return nil
}

// acceptGo accepts from ln on a goroutine and sets each connection up on
// the main thread.
func (p *Port) acceptGo(ln net.Listener) error {
	p.ln = ln
	r := p.r
	// Registered (with no descriptor) so that the shutdown closes it.
	p.h = &handle{fd: -1, owner: p}
	if err := r.register(p.h); err != nil {
		return err
	}
	r.spawn(func() {
		backoff := 5 * time.Millisecond
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) || r.state.Load() == int32(stateStopped) {
					return
				}
				r.log.Warn("reactor: accept failed", "addr", p.addr.String(), "err", err)
				time.Sleep(backoff) // out of descriptors: let some close
				backoff = min(2*backoff, time.Second)
				continue
			}
			backoff = 5 * time.Millisecond
			if err := r.CallFromThread(func() { p.acceptedGo(c) }); err != nil {
				c.Close()
				return
			}
		}
	})
	return nil
}

func (p *Port) acceptedGo(c net.Conn) {
	r := p.r
	if p.closed {
		c.Close()
		return
	}
	proto, err := r.buildProtocol(p.factory, c.RemoteAddr())
	if err != nil || proto == nil {
		c.Close()
		r.log.Debug("reactor: connection refused by factory", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	if err := newGoConn(r, c, p.cfg.conn).start(proto); err != nil {
		r.log.Warn("reactor: cannot register accepted connection", "err", err)
	}
}

// dialGo connects on a goroutine (net.Dialer resolves names and tries each
// address) and finishes on the main thread.
func (c *Connector) dialGo(timeout time.Duration) {
	r := c.r
	ctx, cancel := contextWithTimeout(timeout)
	c.cancel = cancel
	r.spawn(func() {
		d := net.Dialer{}
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		cancel()
		if r.CallFromThread(func() { c.dialedGo(conn, err) }) != nil && conn != nil {
			conn.Close()
		}
	})
}

func (c *Connector) dialedGo(conn net.Conn, err error) {
	if c.done {
		if conn != nil {
			conn.Close()
		}
		return
	}
	if err != nil {
		c.fail(dialError(c.addr, err))
		return
	}
	c.connected()
	proto, perr := c.r.buildProtocol(c.f, conn.RemoteAddr())
	if perr != nil || proto == nil {
		conn.Close()
		if perr == nil {
			perr = ErrRefusedByFactory
		}
		c.r.safeCall("ConnectionFailed", func() { c.f.ConnectionFailed(perr) })
		return
	}
	if err := newGoConn(c.r, conn, c.cfg).start(proto); err != nil {
		c.r.safeCall("ConnectionFailed", func() { c.f.ConnectionFailed(err) })
	}
}
