//go:build unix

package core

import (
	"errors"
	"io"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/threadedselect/reactor/core/internal/poller"
)

// How a goroutine-backed connection's goroutines reach a Run whose poller
// watches no descriptor: the main thread sleeps on a channel, not in the
// poller, and a descriptor registered later is watched by the poller again.

// pingPong has the peer send n one-byte messages, each after the echo of
// the one before.
func pingPong(t *testing.T, c net.Conn, n int) {
	t.Helper()
	b := []byte{0}
	for i := 0; i < n; i++ {
		b[0] = byte(i)
		if _, err := c.Write(b); err != nil {
			t.Errorf("peer write %d: %v", i, err)
			return
		}
		if _, err := io.ReadFull(c, b); err != nil || b[0] != byte(i) {
			t.Errorf("peer read %d: %v, %d", i, err, b[0])
			return
		}
	}
}

func TestRunWithoutDescriptorsSleepsOffThePoller(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var cp *countingPoller
		r.cfg.wrapPoller = func(p poller.Poller) poller.Poller { cp = &countingPoller{Poller: p}; return cp }
		mine, theirs := net.Pipe()
		p := &protoFuncs{}
		p.data = func(b []byte) { p.t.Write(b) }
		const msgs = 200
		var waits int64
		fd, other := -1, -1
		desc := &testDesc{}
		descRead := make(chan struct{})
		desc.read = func() error {
			var buf [8]byte
			if _, err := unix.Read(desc.fd, buf[:]); err == nil {
				close(descRead)
				r.RemoveReader(desc)
			}
			return nil
		}
		var lost []error
		p.lost = func(err error) {
			lost = append(lost, err)
			must(t, r.Stop())
		}
		r.CallWhenRunning(func() {
			_, err := r.AdoptConn(mine, p)
			must(t, err)
			before := cp.waits.Load()
			go func() {
				pingPong(t, theirs, msgs)
				r.CallFromThread(func() {
					waits = cp.waits.Load() - before
					// A descriptor now: the poller must watch it, though the
					// main thread slept on its channel until this call.
					if h.backend == portableBackend {
						close(descRead)
						return
					}
					fd, other = socketPair(t)
					desc.fd = fd
					must(t, r.AddReader(desc))
					go func() {
						if _, err := unix.Write(other, []byte("x")); err != nil {
							t.Errorf("write to the descriptor: %v", err)
						}
					}()
				})
				<-descRead
				theirs.Close()
			}()
		})
		h.runReactor(r)
		if len(lost) != 1 || !errors.Is(lost[0], ErrConnectionDone) {
			t.Fatalf("ConnectionLost calls %v, want one ErrConnectionDone", lost)
		}
		if h.backend != portableBackend && waits != 0 {
			t.Fatalf("%d poller waits while the only connection was goroutine-backed", waits)
		}
		if h.backend != portableBackend && desc.reads == 0 {
			t.Fatal("the descriptor added later was never read")
		}
	})
}

// A write the writer finished quietly (nothing urgent then) still lets a
// LoseConnection that comes later, from a thread call, finish at once and
// cleanly: the report on the ring is seen before the main thread sleeps.
func TestAdoptedLoseAfterQuietWrite(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k connKind) {
		a := newAdopted(t, h, k)
		a.p.data = func(b []byte) { a.p.t.Write(b) }
		a.start(t, WithLinger(watchdog)) // a stalled close would trip the watchdog
		var tail []byte
		var rerr error
		done := a.peer(func(c net.Conn) {
			pingPong(t, c, 50)
			a.r.CallFromThread(func() { a.p.t.LoseConnection() })
			tail, rerr = io.ReadAll(c)
		})
		h.runReactor(a.r)
		<-done
		if len(tail) != 0 || rerr != nil {
			t.Fatalf("after the echoes the peer read %q, then %v; want end of stream", tail, rerr)
		}
		a.lostOnce(t, ErrConnectionDone)
	})
}
