//go:build unix

package core

import (
	"net"
	"sort"
	"testing"
	"time"
)

// Benchmarks of the wake-up of an idle loop and the budget of Drain (the
// hand-off between threads is measured in internal/queue). `make bench`
// runs them; speed is measured here, never asserted in a timed unit test.

// BenchmarkWake measures CallFromThread from another goroutine until the
// function runs on an idle Run loop, one call at a time, and reports the
// median and 99th percentile.
func BenchmarkWake(b *testing.B) {
	for _, backend := range Backends() {
		b.Run(backend, func(b *testing.B) {
			r, err := New(WithBackend(backend))
			if err != nil {
				b.Fatal(err)
			}
			ran := make(chan time.Time, 1)
			f := func() { ran <- time.Now() }
			lat := make([]time.Duration, 0, b.N)
			started := make(chan struct{})
			r.CallWhenRunning(func() { close(started) })
			go r.Run()
			<-started
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Let the loop go idle: it is asleep in the poller when the
				// call comes.
				time.Sleep(50 * time.Microsecond)
				t0 := time.Now()
				r.CallFromThread(f)
				lat = append(lat, (<-ran).Sub(t0))
			}
			b.StopTimer()
			r.Stop()
			<-r.Done()
			reportPercentiles(b, lat, "wake")
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration, name string) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return
	}
	p := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds())
	}
	b.ReportMetric(p(0.50), name+"-p50-µs")
	b.ReportMetric(p(0.99), name+"-p99-µs")
}

// BenchmarkDrain measures how far Drain(budget) overshoots its budget with
// many small callbacks queued (each about 2µs), per Drain call.
func BenchmarkDrain(b *testing.B) {
	const budget = time.Millisecond
	const cb = 2 * time.Microsecond
	r, err := New()
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(); err != nil {
		b.Fatal(err)
	}
	work := func() { spin(cb) }
	var over []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := 0; j < 2000; j++ { // more than fits in the budget
			r.CallFromThread(work)
		}
		b.StartTimer()
		st := r.Drain(budget)
		over = append(over, max(0, st.Elapsed-budget))
		b.StopTimer()
		for r.Drain(0).Left > 0 {
		}
		b.StartTimer()
	}
	b.StopTimer()
	r.Stop()
	for !r.Drain(time.Millisecond).Finished {
	}
	reportPercentiles(b, over, "overshoot")
	b.ReportMetric(float64(cb.Microseconds()), "callback-µs")
}

// BenchmarkThreadCheck measures what WithThreadCheck costs a checked call
// on the main thread: Transport.Write of nothing on an adopted connection
// (a net.Pipe end, so goroutine-backed: a main-thread
// check and the counters, no system call), with the check off and on.
func BenchmarkThreadCheck(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			r, err := New(WithThreadCheck(on))
			if err != nil {
				b.Fatal(err)
			}
			a, peer := net.Pipe()
			defer peer.Close()
			p := &protoFuncs{}
			tr, err := r.AdoptConn(a, p)
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Start(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tr.Write(nil)
			}
			b.StopTimer()
			r.Stop()
			for !r.Drain(time.Millisecond).Finished {
			}
		})
	}
}
