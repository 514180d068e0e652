//go:build unix

package core

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// TestShortReadsOfManyConnectionsAllocateNothing: a server with more
// connections than the reactor keeps large read buffers for (256), every
// one of them with a short read waiting for the main thread at once — a
// game server's clients sending their inputs in one frame. In steady state
// those reads allocate nothing: a short read is handed over in a small
// buffer, and the large one it was read into is kept for the next read.
func TestShortReadsOfManyConnectionsAllocateNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		if h.backend == portableBackend {
			t.Skip("goroutine-backed readers recycle through a sync.Pool, which the garbage collector may empty")
		}
		r := h.newReactor()
		const conns = 400
		received := 0
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			return &protoFuncs{data: func(b []byte) { received += len(b) }}, nil
		}))
		must(t, r.Start())
		defer stopAndDrain(t, r)
		clients := make([]net.Conn, conns)
		for i := range clients {
			c, err := net.Dial("tcp", port.Addr().String())
			must(t, err)
			defer c.Close()
			clients[i] = c
		}
		msg := make([]byte, 24)
		want := 0
		// round writes a short message on every connection, waits until
		// the reactor has read them all, then lets the main thread take
		// them. While connections are still being accepted (the first
		// rounds), the main thread must drain as it waits.
		round := func(accepting bool) {
			for _, c := range clients {
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
			}
			want += conns * len(msg)
			deadline := time.Now().Add(10 * time.Second)
			for r.Stats().BytesIn < uint64(want) {
				if time.Now().After(deadline) {
					t.Fatalf("the reactor read %d of %d bytes", r.Stats().BytesIn, want)
				}
				if accepting {
					r.Drain(0)
				}
				runtime.Gosched()
			}
			for received < want {
				if time.Now().After(deadline) {
					t.Fatalf("the program got %d of %d bytes", received, want)
				}
				r.Drain(time.Millisecond)
			}
		}
		round(true)
		round(true)
		// Now every read is made before the main thread takes any: all
		// 400 wait at once, every round.
		round(false)
		round(false)
		if allocs := testing.AllocsPerRun(20, func() { round(false) }); allocs >= 1 {
			t.Fatalf("%.1f allocations per round of %d short reads", allocs, conns)
		}
	})
}
