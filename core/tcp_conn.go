//go:build unix

package core

import (
	"fmt"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// tcpConn is a stream connection of the descriptor implementation: its
// read side runs on the poll loop, which reads the socket into chunks
// queued for the main thread; writes go straight to the socket from the
// main thread when nothing is queued.
type tcpConn struct {
	stream
	fd int

	// Shared with the poll loop.
	busy  atomic.Uint32 // the poll loop is using fd; the main thread waits before closing it
	wantW atomic.Bool   // the main thread wants write readiness

	// Main thread only.
	out        outQueue
	connecting *Connector
}

func newTCPConn(r *Reactor, fd int, cfg connConfig) *tcpConn {
	c := &tcpConn{fd: fd, out: outQueue{pool: &r.outPool}}
	c.stream = stream{r: r, cfg: cfg, io: c, inq: newSPSC[*chunk](chunkQueueCap)}
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
		if !c.mayRead() {
			if c.flags.Load()&stopArmed != 0 {
				l.p.disarmRead(c.h.token()) // re-armed by the main thread when it resumes
			}
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
			c.got(ch)
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
			l.p.disarmRead(c.h.token())
			got = true
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
		default:
			c.rerr = err
			c.flags.Or(flagErr)
			l.p.disarmRead(c.h.token())
			got = true
		}
		break
	}
	if got {
		c.h.markReady(l, evRead)
	}
}

// dispatch runs on the main thread for the connection's ring entry. Write
// readiness is acted on first: a budget may cut the delivery of what was
// read short, and the readiness must not be lost with it.
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
	if ev&evWrite != 0 && c.wantW.Load() {
		c.flush()
		if c.state == stateClosed {
			return
		}
	}
	c.deliver()
}

// kickRead asks the poller to report the connection again (after a pause
// or a full queue), with the interests the connection has now.
func (c *tcpConn) kickRead() {
	if err := c.r.rearm(c.h); err != nil && c.state != stateClosed {
		c.closeNow(fmt.Errorf("%w: re-arming: %w", ErrConnectionReset, err))
	}
}

func (c *tcpConn) queued() int { return c.out.n }

func (c *tcpConn) kernelQueued() int {
	if c.state == stateClosed {
		return -1
	}
	return unsentInKernel(c.fd)
}

// setConnOptions applies a connection's socket options.
func setConnOptions(fd int, cfg connConfig) {
	if cfg.noDelay {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if cfg.sndBuf > 0 {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.sndBuf)
	}
}

func (c *tcpConn) shutdownWrite() { _ = unix.Shutdown(c.fd, unix.SHUT_WR) }

func (c *tcpConn) abortConnecting(reason error) bool {
	if c.state != stateConnecting {
		return false
	}
	c.failConnect(reason)
	return true
}

func (c *tcpConn) reset() {
	if c.state != stateClosed && c.state != stateConnecting {
		_ = unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
}

func (c *tcpConn) dropQueued() {
	c.r.stats.queuedBytes.Add(-int64(c.out.n))
	c.out.reset()
	if c.state != stateClosed {
		c.wantWrite(false)
	}
}

// Write implements Transport: directly to the socket if nothing is queued;
// only what the socket does not take is queued, and only then is write
// readiness requested.
func (c *tcpConn) Write(p []byte) (int, error) {
	if err := c.checkWrite(); err != nil {
		return 0, err
	}
	c.msgsOut++
	c.r.stats.msgsOut.Add(1)
	if len(p) == 0 {
		return 0, nil
	}
	total := len(p)
	if c.out.n == 0 {
		n, err := c.writeNow(p)
		if err != nil {
			return n, err
		}
		p = p[n:]
		if len(p) == 0 {
			return total, nil
		}
	}
	if err := c.overLimit(len(p)); err != nil {
		return total - len(p), err
	}
	c.queue(p)
	return total, nil
}

// Writev implements Transport.
func (c *tcpConn) Writev(bufs ...[]byte) (int, error) {
	if err := c.checkWrite(); err != nil {
		return 0, err
	}
	c.msgsOut++
	c.r.stats.msgsOut.Add(1)
	total := totalLen(bufs)
	written := 0
	if c.out.n == 0 && total > 0 {
		n, err := c.writevNow(bufs)
		if err != nil {
			return n, err
		}
		written = n
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
	if err := c.overLimit(total - written); err != nil {
		return written, err
	}
	for _, b := range bufs {
		if len(b) > 0 {
			c.queue(b)
		}
	}
	return total, nil
}

// writeNow writes directly; a failure other than EAGAIN loses the
// connection and is returned (ConnectionLost follows after the callback).
func (c *tcpConn) writeNow(p []byte) (int, error) {
	for {
		n, err := unix.Write(c.fd, p)
		if n, err, again := c.wroteNow(n, err); !again {
			return n, err
		}
	}
}

func (c *tcpConn) writevNow(bufs [][]byte) (int, error) {
	for {
		n, err := writev(c.fd, bufs)
		if n, err, again := c.wroteNow(n, err); !again {
			return n, err
		}
	}
}

// wroteNow accounts for a direct write: what the socket took, whether to
// retry (interrupted), and the error that loses the connection, if any.
func (c *tcpConn) wroteNow(n int, err error) (int, error, bool) {
	if n > 0 {
		c.wrote(n)
	}
	n = max(n, 0)
	switch err {
	case nil, unix.EAGAIN:
		return n, nil, false
	case unix.EINTR:
		return n, nil, true
	}
	reason := writeError(err)
	c.fail(reason)
	return n, &ClosedError{Reason: reason}, false
}

// queue keeps p for flush and asks for write readiness.
func (c *tcpConn) queue(p []byte) {
	c.out.append(p)
	c.r.stats.queuedBytes.Add(int64(len(p)))
	c.wantWrite(true)
	c.queuedMore()
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
	c.kickRead()
}

// flush writes what is queued, as far as the socket takes it.
func (c *tcpConn) flush() {
	var iov [16][]byte
	for c.out.n > 0 {
		bufs := c.out.gather(iov[:0])
		n, err := c.writevNow(bufs)
		if err != nil {
			return // failed: the queue is dropped
		}
		c.out.consume(n)
		c.r.stats.queuedBytes.Add(-int64(n))
		if n < totalLen(bufs) {
			return // the socket is full: wait for write readiness
		}
	}
	c.wantWrite(false)
	c.sentSome()
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
	c.flags.Or(flagDead)
	c.r.unregister(c.h)
	for c.busy.Load() != 0 {
		runtime.Gosched() // the poll loop is inside one non-blocking read of fd
	}
	_ = unix.Close(c.fd)
	c.r.stats.queuedBytes.Add(-int64(c.out.n))
	c.out.reset()
	c.ended(reason, !wasConnecting)
}

// lose is called by the reactor's shutdown.
func (c *tcpConn) lose(r *Reactor, h *handle, reason error) {
	if c.state == stateConnecting {
		c.failConnect(reason)
		return
	}
	c.closeNow(reason)
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
