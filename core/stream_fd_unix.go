//go:build unix

package core

import (
	"fmt"
	"net"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// fdConn is a descriptor-backed stream connection: its read side runs on
// the poll loop, which reads the socket into chunks queued for the main
// thread; writes go straight to the socket from the main thread when
// nothing is queued.
type fdConn struct {
	stream
	fd int

	// Shared with the poll loop.
	busy  atomic.Uint32 // the poll loop is using fd; the main thread waits before closing it
	wantW atomic.Bool   // the main thread wants write readiness

	// Main thread only.
	out        outQueue
	connecting *fdDial // the attempt this socket is connecting for
}

func newFdConn(r *Reactor, fd int, cfg connConfig) *fdConn {
	c := &fdConn{fd: fd, out: outQueue{pool: &r.outPool}}
	c.stream = newStream(r, cfg, r.chunks)
	c.h = &handle{fd: fd, owner: c, want: evRead}
	return c
}

// stream returns the descriptor-backed connection of a socket of package
// net (a *net.TCPConn or *net.UnixConn, whose reads and writes are the
// socket's own), on a private copy of its descriptor, and closes c; ok is
// false for any other net.Conn.
func (f unixFDs) stream(c net.Conn, cfg connConfig) (sc streamConn, ok bool, err error) {
	fd, ok, err := dupSocket(c)
	if !ok || err != nil {
		return nil, ok, err
	}
	local, remote := c.LocalAddr(), c.RemoteAddr()
	c.Close()
	fc := newFdConn(f.r, fd, cfg)
	fc.local, fc.remote = local, remote
	return fc, true, nil
}

// start registers an open connection (a connected one was registered
// while it connected: it is watched for reading only now) and tells its
// protocol.
func (c *fdConn) start(p Protocol) error {
	setConnOptions(c.fd, c.cfg)
	if c.h.registered() {
		_ = c.r.rearm(c.h)
	} else if err := c.r.register(c.h); err != nil {
		c.state = stateClosed
		unix.Close(c.fd)
		return err
	}
	c.opened(p)
	c.do(c.callConnectionMade(c))
	return nil
}

// abandon closes a connection that was never started (its factory refused
// it).
func (c *fdConn) abandon() {
	if c.h.registered() {
		c.closeNow(ErrRefusedByFactory) // connected by a Connector: registered
		return
	}
	unix.Close(c.fd)
}

// do carries out what a step of the stream asked for.
func (c *fdConn) do(a act) {
	if a.do == 0 {
		return
	}
	if a.do&actReset != 0 && c.state != stateConnecting && c.state != stateClosed {
		_ = unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	if a.do&actFail != 0 {
		c.dropQueued()
		reason := a.reason
		c.r.later(func() { c.do(c.failed(reason)) })
	}
	if a.do&actShutWrite != 0 {
		_ = unix.Shutdown(c.fd, unix.SHUT_WR)
	}
	if a.do&actClose != 0 {
		c.end(a.reason)
		return
	}
	if a.do&actLinger != 0 && c.state != stateClosed {
		c.timer = c.r.callLater(c.cfg.linger, c.lingerExpired)
	}
	if a.do&actWatch != 0 {
		c.watch()
	}
}

// end ends the connection with reason: a connect in progress fails; an
// open connection closes.
func (c *fdConn) end(reason error) {
	if c.state == stateConnecting {
		c.failConnect(reason)
		return
	}
	c.closeNow(reason)
}

func (c *fdConn) lingerExpired() { c.do(c.stream.lingerExpired()) }

// watch asks the poller to report the connection again, for reading and
// for writing as it wants now: after a pause or a full queue, or when write
// interest changed.
func (c *fdConn) watch() {
	if err := c.r.rearm(c.h); err != nil && c.state != stateClosed {
		c.closeNow(fmt.Errorf("%w: re-arming: %w", ErrConnectionReset, err))
	}
}

// pollReady runs on the poll loop.
func (c *fdConn) pollReady(l *loop, h *handle, ev interest) {
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
func (c *fdConn) readSome(l *loop, hup bool) {
	c.busy.Store(1)
	defer c.busy.Store(0)
	got := false
	for {
		if !c.mayRead() {
			if c.flags.Load()&stopArmed != 0 {
				l.p.DisarmRead(c.h.token()) // re-armed by the main thread when it resumes
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
			if fc := c.r.chunks.fitted(ch.buf[:n]); fc != nil {
				// Keep the large buffer for the next read; the main thread
				// gets the bytes in one of their size.
				l.spare, ch = ch, fc
			} else {
				ch.n = n
			}
			c.got(ch)
			got = true
			if n < chunkSize && !hup {
				break
			}
			continue
		}
		l.spare = ch
		switch {
		case err == nil: // n == 0: end of stream
			c.flags.Or(flagEOF)
			l.p.DisarmRead(c.h.token())
			got = true
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
		default:
			c.rerr = err
			c.flags.Or(flagErr)
			l.p.DisarmRead(c.h.token())
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
func (c *fdConn) dispatch(r *Reactor, h *handle) {
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
	c.do(c.deliver())
}

func (c *fdConn) kernelQueued() int {
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

// dropQueued forgets every byte written and not yet sent.
func (c *fdConn) dropQueued() {
	c.r.stats.queuedBytes.Add(-int64(c.out.n))
	c.out.reset()
	c.queued = 0
	if c.state != stateClosed {
		c.wantWrite(false)
	}
}

// Write implements Transport: directly to the socket if nothing is queued;
// only what the socket does not take is queued, and only then is write
// readiness requested.
func (c *fdConn) Write(p []byte) (int, error) {
	if err := c.startWrite("Transport.Write"); err != nil {
		return 0, err
	}
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
	if a, err := c.overLimit(len(p)); err != nil {
		c.do(a)
		return total - len(p), err
	}
	c.queue(p)
	return total, nil
}

// Writev implements Transport.
func (c *fdConn) Writev(bufs ...[]byte) (int, error) {
	if err := c.startWrite("Transport.Writev"); err != nil {
		return 0, err
	}
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
	if a, err := c.overLimit(total - written); err != nil {
		c.do(a)
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
func (c *fdConn) writeNow(p []byte) (int, error) {
	for {
		n, err := unix.Write(c.fd, p)
		if n, err, again := c.wroteNow(n, err); !again {
			return n, err
		}
	}
}

func (c *fdConn) writevNow(bufs [][]byte) (int, error) {
	for {
		n, err := writev(c.fd, bufs)
		if n, err, again := c.wroteNow(n, err); !again {
			return n, err
		}
	}
}

// wroteNow accounts for a direct write: what the socket took, whether to
// retry (interrupted), and the error that loses the connection, if any.
func (c *fdConn) wroteNow(n int, err error) (int, error, bool) {
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
	c.do(c.fail(reason))
	return n, &ClosedError{Reason: reason}, false
}

// queue keeps p for flush and asks for write readiness.
func (c *fdConn) queue(p []byte) {
	c.out.append(p)
	c.queued = c.out.n
	c.r.stats.queuedBytes.Add(int64(len(p)))
	c.wantWrite(true)
	c.queuedMore()
}

func (c *fdConn) wantWrite(on bool) {
	if c.wantW.Load() == on {
		return
	}
	c.wantW.Store(on)
	if on {
		c.h.want |= evWrite
	} else {
		c.h.want &^= evWrite
	}
	c.watch()
}

// flush writes what is queued, as far as the socket takes it.
func (c *fdConn) flush() {
	var iov [16][]byte
	for c.out.n > 0 {
		bufs := c.out.gather(iov[:0])
		n, err := c.writevNow(bufs)
		if err != nil {
			return // failed: the queue is dropped
		}
		c.out.consume(n)
		c.queued = c.out.n
		c.r.stats.queuedBytes.Add(-int64(n))
		if n < totalLen(bufs) {
			return // the socket is full: wait for write readiness
		}
	}
	c.wantWrite(false)
	c.do(c.sentSome())
}

// closeNow is the one way a connection ends: unregister, close the
// descriptor once the poll loop is done with it, release buffers, and call
// ConnectionLost exactly once.
func (c *fdConn) closeNow(reason error) {
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
func (c *fdConn) lose(r *Reactor, h *handle, reason error) { c.end(reason) }

// LoseConnection implements Transport.
func (c *fdConn) LoseConnection() error { c.do(c.loseConnection()); return nil }

// AbortConnection implements Transport.
func (c *fdConn) AbortConnection() error { c.do(c.abort(ErrAborted)); return nil }

// AbortWithError implements Transport.
func (c *fdConn) AbortWithError(reason error) error { c.do(c.abort(reason)); return nil }

// ResumeProducing implements Transport.
func (c *fdConn) ResumeProducing() { c.do(c.resume()) }

// Stats implements Transport.
func (c *fdConn) Stats() ConnStats { return c.stats(c.kernelQueued()) }

// SetNoDelay implements Transport.
func (c *fdConn) SetNoDelay(on bool) error {
	if c.state == stateClosed {
		return ErrClosed
	}
	v := 0
	if on {
		v = 1
	}
	return unix.SetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, v)
}
