//go:build unix

package framing_test

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// work spends d of CPU, as a handler's per-message work does.
func work(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

func threadCPU(t *testing.T) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// floodHandler checks that messages arrive whole and in order: each
// carries its sequence number, then filler.
type floodHandler struct {
	t       *testing.T
	cost    time.Duration
	next    uint32
	crc     uint32
	handled int
	made    bool
}

func (h *floodHandler) ConnectionMade(core.Transport) { h.made = true }
func (h *floodHandler) MessageReceived(p []byte) error {
	if len(p) < 4 || binary.LittleEndian.Uint32(p) != h.next {
		h.t.Errorf("message %d out of order or cut: % x", h.next, p[:min(len(p), 8)])
	}
	h.next++
	h.crc = crc32.Update(h.crc, crc32.IEEETable, p)
	h.handled++
	work(h.cost)
	return nil
}
func (h *floodHandler) ConnectionLost(error) {}

// TestFramedFloodStaysWithinBudget: thousands of small framed messages
// (16-128 bytes) in 64 KiB reads, each costing 20µs to handle, drained in
// 1ms frames. framing.Protocol stops at a message boundary once the frame's
// budget is spent, so no frame handles more than budget/cost+1 messages or
// uses more CPU than the budget plus one message plus the reactor's slack,
// and every message arrives, in order.
func TestFramedFloodStaysWithinBudget(t *testing.T) {
	for _, backend := range core.Backends() {
		t.Run(backend, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			const n, cost, budget = 20000, 20 * time.Microsecond, time.Millisecond
			r, err := core.New(core.WithBackend(backend))
			if err != nil {
				t.Fatal(err)
			}
			h := &floodHandler{t: t, cost: cost}
			port, err := r.ListenTCP("127.0.0.1:0", core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
				return framing.NewProtocol(h, 0), nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 8))
			var stream []byte
			var wantCRC uint32
			for i := 0; i < n; i++ {
				m := make([]byte, 16+rng.IntN(113))
				binary.LittleEndian.PutUint32(m, uint32(i))
				wantCRC = crc32.Update(wantCRC, crc32.IEEETable, m)
				stream = framing.Append(stream, m)
			}
			sent := make(chan error, 1)
			go func() {
				c, err := net.Dial("tcp", port.Addr().String())
				if err == nil {
					_, err = c.Write(stream)
					c.Close()
				}
				sent <- err
			}()
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			maxPerFrame := int(budget/cost) + 1
			worst, frames := 0, 0
			var worstCPU time.Duration
			var cpus []time.Duration
			deadline := time.Now().Add(30 * time.Second)
			for h.handled < n {
				before := h.handled
				c0 := threadCPU(t)
				r.Drain(budget)
				cpu := threadCPU(t) - c0
				worstCPU = max(worstCPU, cpu)
				cpus = append(cpus, cpu)
				worst = max(worst, h.handled-before)
				frames++
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d messages after %d frames", h.handled, n, frames)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if h.crc != wantCRC {
				t.Fatal("checksum differs")
			}
			if worst > maxPerFrame {
				t.Fatalf("a %v frame handled %d messages of %v, want at most %d", budget, worst, cost, maxPerFrame)
			}
			// The CPU time of a frame also holds what the runtime charges to the
			// thread (a GC assist, the race detector): the reactor's promise is
			// checked on the 95th percentile; the count above is exact.
			if limit, p95 := budget+cost+500*time.Microsecond, percentile(cpus, 0.95); p95 > limit {
				t.Fatalf("95%% of %v frames used up to %v of CPU (worst %v), want at most %v", budget, p95, worstCPU, limit)
			}
			t.Logf("%d messages in %d frames; at most %d messages and %v CPU per frame", n, frames, worst, worstCPU)
			r.Stop()
			for !r.Drain(time.Millisecond).Finished {
			}
		})
	}
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}
