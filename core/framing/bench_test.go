//go:build unix

package framing_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
)

// rawFramed decodes frames inside plain DataReceived: the budget can only
// stop it between reads (up to 64 KiB, hundreds of messages).
type rawFramed struct {
	dec  *framing.Decoder
	h    *floodHandler
	onFn func([]byte) error
}

func (p *rawFramed) ConnectionMade(core.Transport) {}
func (p *rawFramed) DataReceived(b []byte)         { p.dec.Feed(b, p.onFn) }
func (p *rawFramed) ConnectionLost(error)          {}

// BenchmarkDrainFramed: a peer floods framed messages of 16-128 bytes, each
// costing about 2µs to handle, and the game drains in frames of a quarter
// of a 60 Hz tick (4.17ms). Reported per frame: how far the drain
// overshot its budget in wall time and in the thread's CPU time, with
// framing.Protocol (stops at a message boundary) and with the same decoding
// done inside plain DataReceived (stops only between reads).
func BenchmarkDrainFramed(b *testing.B) {
	for _, mode := range []string{"framing", "raw"} {
		b.Run(mode, func(b *testing.B) { benchDrainFramed(b, mode) })
	}
}

func benchDrainFramed(b *testing.B, mode string) {
	const budget = 4170 * time.Microsecond
	const cost = 2 * time.Microsecond
	r, err := core.New()
	if err != nil {
		b.Fatal(err)
	}
	h := &floodHandler{cost: cost, t: &testing.T{}}
	h.next = 0
	port, err := r.ListenTCP("127.0.0.1:0", core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
		if mode == "raw" {
			p := &rawFramed{dec: framing.NewDecoder(0), h: h}
			p.onFn = func(m []byte) error { h.handled++; work(cost); return nil }
			return p, nil
		}
		return framing.NewProtocol(countingHandler{h}, 0), nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var burst []byte
	for i := 0; i < 20000; i++ {
		m := make([]byte, 16+rng.IntN(113))
		binary.LittleEndian.PutUint32(m, uint32(i))
		burst = framing.Append(burst, m)
	}
	stop := make(chan struct{})
	peerDone := make(chan struct{})
	go func() {
		defer close(peerDone)
		c, err := net.Dial("tcp", port.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			c.Write(burst)
		}
	}()
	if err := r.Start(); err != nil {
		b.Fatal(err)
	}
	// Warm up until the read-ahead is full: every frame then has more
	// than it can do.
	for h.handled < 50000 {
		r.Drain(budget)
	}
	// Frames at 60 Hz: between two drains the poll thread reads ahead,
	// as it does while a game draws.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tick := time.NewTicker(time.Second / 60)
	defer tick.Stop()
	var wall, cpu []time.Duration
	full := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		c0 := cpuNow()
		st := r.Drain(budget)
		cpu = append(cpu, cpuNow()-c0-budget)
		wall = append(wall, st.Elapsed-budget)
		if st.Left > 0 {
			full++
		}
	}
	b.StopTimer()
	close(stop)
	<-peerDone
	r.Stop()
	for !r.Drain(time.Millisecond).Finished {
	}
	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		q := func(p float64) float64 { return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) }
		b.ReportMetric(q(0.5), name+"-p50-µs")
		b.ReportMetric(q(0.99), name+"-p99-µs")
		b.ReportMetric(float64(d[len(d)-1].Microseconds()), name+"-max-µs")
	}
	report("overshoot-wall", wall)
	report("overshoot-cpu", cpu)
	b.ReportMetric(float64(full)/float64(b.N), "frames-with-work-left")
}

// countingHandler is a framing.Handler that counts and works, without the
// order checks of floodHandler (the burst repeats its sequence numbers).
type countingHandler struct{ h *floodHandler }

func (c countingHandler) ConnectionMade(core.Transport) {}
func (c countingHandler) MessageReceived([]byte) error {
	c.h.handled++
	work(c.h.cost)
	return nil
}
func (c countingHandler) ConnectionLost(error) {}

func cpuNow() time.Duration {
	var t testing.T
	return threadCPU(&t)
}
