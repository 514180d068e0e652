//go:build unix

package core

import (
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestQuietWriteReportDoesNotHideARead: a goroutine-backed connection's
// writer reports a finished write without waking the main thread
// (markReadyQuiet). If the reader queues a read in the window between the
// writer marking the entry queued and pushing it, the reader's wake comes
// before the entry is on the ring: the main thread finds nothing and
// sleeps again. The writer must wake it after its push, or the read waits
// for whatever wakes the main thread next (with nothing else going on,
// forever). The test stops the writer in that window and makes the read
// happen there.
func TestQuietWriteReportDoesNotHideARead(t *testing.T) {
	var pipe connKind
	for _, k := range connKinds {
		if k.name == "pipe" {
			pipe = k
		}
	}
	forEach(t, func(t *testing.T, h *harness) {
		a := newAdopted(t, h, pipe)
		hit := make(chan struct{})
		var paused atomic.Bool
		a.r.testHookQueued = func(hd *handle, ev interest) {
			if ev != evWrite || !paused.CompareAndSwap(false, true) {
				return
			}
			close(hit) // the writer's report of "x", marked queued, not pushed
			deadline := time.Now().Add(watchdog)
			for interest(hd.pending.Load())&evRead == 0 && time.Now().Before(deadline) {
				runtime.Gosched() // until the reader has queued "y" (and woken the main thread)
			}
			// Then until the main thread, woken early, has gone back to
			// sleep, where the driver says so (Run with no descriptor
			// watched, Interleave); a Drain loop never sleeps.
			if h.drv.name == "drain" {
				return
			}
			deadline = time.Now().Add(500 * time.Millisecond)
			for !mainAsleep(a.r) && time.Now().Before(deadline) {
				runtime.Gosched()
			}
		}
		got := make(chan struct{})
		a.p.made = func(tr Transport) { tr.Write([]byte("x")) }
		a.p.data = func(b []byte) {
			if string(b) == "y" {
				close(got)
				a.p.t.LoseConnection()
			}
		}
		a.start(t)
		done := a.peer(func(c net.Conn) {
			var b [1]byte
			if _, err := io.ReadFull(c, b[:]); err != nil {
				t.Errorf("peer: %v", err)
				return
			}
			select {
			case <-hit:
			case <-time.After(watchdog):
				t.Error("the writer's report never came")
				return
			}
			if _, err := c.Write([]byte("y")); err != nil {
				t.Errorf("peer: %v", err)
				return
			}
			io.Copy(io.Discard, c)
		})
		go func() {
			select {
			case <-got:
			case <-time.After(5 * time.Second):
				t.Error("the read queued while the writer's report was being queued was not delivered: the main thread was not woken")
				_ = a.r.Stop()
			}
		}()
		h.runReactor(a.r)
		<-done
		<-got
	})
}

// mainAsleep reports whether the main thread is parked waiting to be
// woken: Run's wait on a channel (no descriptor watched), or Interleave's
// host waiting for the waker.
func mainAsleep(r *Reactor) bool {
	l := r.loop.Load()
	return l != nil && (l.chanParked.Load() || l.parked.Load())
}
