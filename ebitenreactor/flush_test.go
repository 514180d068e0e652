//go:build unix

package ebitenreactor_test

// The flush on shutdown (WithFlushOnShutdown): a game with a TCP
// connection whose peer has not read yet queues 50 MB and its window is
// closed (a real WM_DELETE_WINDOW). With the default, the peer — reading
// slowly from the moment the shutdown begins — receives every byte and
// then end of stream before the window closes, although the game added no
// trigger of its own to flush. With the flush turned off, the reactor
// closes the connection when the shutdown goes on, and the peer gets less.

import (
	"context"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"golang.org/x/sys/unix"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/ebitenreactor"
)

const (
	flushTotal   = 50 << 20
	flushTimeout = 30 * time.Second
)

// flushConn is the game's side: it records how the connection ended.
type flushConn struct {
	rep  *report
	t    core.Transport
	lost error
}

func (c *flushConn) ConnectionMade(t core.Transport) { c.t = t }
func (c *flushConn) DataReceived([]byte)             {}
func (c *flushConn) ConnectionLost(reason error) {
	c.lost = reason
	c.rep.event("lost")
}

// slowPeer reads from c once start is closed, at most 64 KiB a
// millisecond, until end of stream or an error; the caller closes c. Its
// receive buffer is small (set when it connected), so what the game queued
// stays in the game's queue until it is read.
func slowPeer(c net.Conn, start <-chan struct{}) (n int64, crc uint32, err error) {
	select {
	case <-start:
	case <-time.After(flushTimeout):
		return 0, 0, errors.New("the shutdown never began")
	}
	_ = c.SetReadDeadline(time.Now().Add(flushTimeout))
	buf := make([]byte, 64<<10)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		k, rerr := c.Read(buf)
		n += int64(k)
		crc = crc32.Update(crc, crcTable, buf[:k])
		if errors.Is(rerr, io.EOF) {
			return n, crc, nil
		}
		if rerr != nil {
			return n, crc, rerr
		}
		<-tick.C
	}
}

func flushScenario(rep *report, flush bool) {
	title := setupWindow("flush")
	logger := slog.New(&logHandler{rep: rep})
	r, err := core.New(core.WithLogger(logger))
	if err != nil {
		rep.failf("core.New: %v", err)
		return
	}
	payload := pattern(flushTotal, 11)
	wantCRC := crc32.Update(0, crcTable, payload)
	gc := &flushConn{rep: rep}
	startReading := make(chan struct{})
	var (
		queuedAtStop  int
		ticks         int
		shutdownTicks int
		written       bool
		g             *ebitenreactor.Game
	)
	game := &testGame{w: 320, h: 240}
	game.update = func() error {
		ticks++
		if g.ShuttingDown() {
			shutdownTicks++
		}
		if !written && gc.t != nil {
			written = true
			if _, err := gc.t.Write(payload); err != nil {
				rep.failf("Write: %v", err)
			}
			rep.event("queued")
			go func() {
				if err := closeWindow(title); err != nil {
					rep.failf("closing the window: %v", err)
				}
			}()
		}
		if ticks > 60*60 {
			rep.failf("still running after %d ticks", ticks)
			return errors.New("scenario timed out")
		}
		return nil
	}
	opts := []ebitenreactor.Option{ebitenreactor.WithLogger(logger), ebitenreactor.WithShutdownTimeout(flushTimeout)}
	if !flush {
		opts = append(opts, ebitenreactor.WithFlushOnShutdown(false))
	} // else the default is under test
	g, err = ebitenreactor.Wrap(game, r, opts...)
	if err != nil {
		rep.failf("Wrap: %v", err)
		return
	}
	// The game's own Before trigger: it only notes the moment, and lets
	// the peer read. It does not flush or close anything.
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} {
		if gc.t != nil {
			queuedAtStop = gc.t.Stats().Queued
		}
		rep.event("before")
		close(startReading)
		return nil
	}); err != nil {
		rep.failf("AddSystemEventTrigger: %v", err)
	}
	if _, err := r.AddSystemEventTrigger(core.After, core.Shutdown, func() <-chan struct{} {
		rep.event("after")
		return nil
	}); err != nil {
		rep.failf("AddSystemEventTrigger: %v", err)
	}
	port, err := r.ListenTCP("127.0.0.1:0", core.FactoryFunc(func(net.Addr) (core.Protocol, error) { return gc, nil }),
		// 50 MB queued at once is above core's default limit on a
		// connection's unsent bytes (DefaultMaxQueued).
		core.WithLinger(flushTimeout), core.WithMaxQueued(2*flushTotal))
	if err != nil {
		rep.failf("ListenTCP: %v", err)
		return
	}
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} {
		_ = port.StopListening()
		return nil
	}); err != nil {
		rep.failf("AddSystemEventTrigger: %v", err)
	}
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10)
		})
		return errors.Join(err, serr)
	}}
	peer, err := d.DialContext(context.Background(), "tcp", port.Addr().String())
	if err != nil {
		rep.failf("dial: %v", err)
		return
	}
	type peerResult struct {
		n   int64
		crc uint32
		err error
	}
	peerDone := make(chan peerResult, 1)
	go func() {
		n, crc, err := slowPeer(peer, startReading)
		// Recorded before the peer closes its side: the close is what
		// lets the server's linger end and ConnectionLost run.
		rep.event("peer-eof")
		peer.Close()
		peerDone <- peerResult{n, crc, err}
	}()

	runErr := g.Finish(ebiten.RunGame(g.EbitenGame()))
	rep.event("rungame-returned")
	if runErr != nil {
		rep.res.RunErr = runErr.Error()
		rep.failf("run returned %v, want nil", runErr)
	}
	var pr peerResult
	select {
	case pr = <-peerDone:
	case <-time.After(flushTimeout):
		rep.failf("the peer did not finish")
	}
	if g.Cause() != ebitenreactor.CauseWindowClosed {
		rep.failf("Cause() = %v, want window closed", g.Cause())
	}
	rep.metric("peer_bytes", float64(pr.n))
	rep.metric("queued_at_shutdown", float64(queuedAtStop))
	rep.metric("ticks_during_shutdown", float64(shutdownTicks))
	if gc.lost != nil {
		rep.event("lost with: %v", gc.lost)
	}
	if pr.err != nil {
		rep.event("peer: %v", pr.err)
	}
	if flush {
		if pr.err != nil || pr.n != flushTotal || pr.crc != wantCRC {
			rep.failf("peer: got %d bytes (crc %08x) and %v, want %d bytes (crc %08x) and end of stream",
				pr.n, pr.crc, pr.err, flushTotal, wantCRC)
		}
		if !errors.Is(gc.lost, core.ErrConnectionDone) {
			rep.failf("the connection was lost with %v, want a clean close", gc.lost)
		}
	} else if pr.n >= flushTotal {
		rep.failf("with the flush off the peer still got all %d bytes: the test cannot tell the flush's work", pr.n)
	}
	if queuedAtStop < flushTotal/2 {
		rep.failf("only %d bytes were queued when the shutdown began: the test proves little", queuedAtStop)
	}
	floodLeaks(rep, r)
}

// TestWindowCloseFlushesConnections: by default every connection is
// closed gracefully when the shutdown begins, and the window stays open
// until it has sent everything: a slow peer receives all 50 MB queued
// before the window was closed, then end of stream, although the game
// added no trigger of its own.
func TestWindowCloseFlushesConnections(t *testing.T) {
	res := runScenario(t, "flush-x11")
	assertOrder(t, res.Events, "queued", "before", "peer-eof", "lost", "after", "rungame-returned")
	m := res.Metrics
	t.Logf("queued when the shutdown began: %.0f bytes; the peer received %.0f; game ticks during the shutdown: %.0f",
		m["queued_at_shutdown"], m["peer_bytes"], m["ticks_during_shutdown"])
	if m["ticks_during_shutdown"] == 0 {
		t.Errorf("the game's Update was not called while the connections flushed")
	}
}

// TestFlushOnShutdownOff: with WithFlushOnShutdown(false) the plugin
// leaves connections to the game; this one, with no trigger of the game's
// closing it, is closed by the reactor when the shutdown goes on, and the
// peer does not get everything.
func TestFlushOnShutdownOff(t *testing.T) {
	res := runScenario(t, "flush-off-x11")
	assertOrder(t, res.Events, "queued", "before", "after", "rungame-returned")
	t.Logf("queued when the shutdown began: %.0f bytes; the peer received %.0f; events %q",
		res.Metrics["queued_at_shutdown"], res.Metrics["peer_bytes"], res.Events)
}
