//go:build unix

package core

import (
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"
)

// Benchmarks of the hand-off between threads, the wake-up of an idle loop
// and the budget of Drain. `make bench` runs them; speed is measured here,
// never asserted in a timed unit test.

const handoffBatch = 4096

// minBatch: a consumer that found fewer items than this yields before
// looking again, as a frame-driven or woken consumer does, rather than
// chasing the producer one item at a time. Every variant uses the same
// policy.
const minBatch = 64

// BenchmarkHandoff hands b.N items from one producer goroutine to a
// consumer that drains in batches, through the reactor's ring, a buffered
// channel, and a mutex-guarded slice.
func BenchmarkHandoff(b *testing.B) {
	b.Run("ring", func(b *testing.B) {
		r := newRing[entry](handoffBatch)
		fn := func() {}
		b.ReportAllocs()
		b.ResetTimer()
		go func() {
			for i := 0; i < b.N; i++ {
				for !r.push(entry{fn: fn}) {
					runtime.Gosched()
				}
			}
		}()
		got := 0
		for got < b.N {
			n := r.snapshot() - r.head.Load()
			for k := uint64(0); k < n; k++ {
				_ = r.at(k).fn
			}
			r.release(n)
			got += int(n)
			if n < minBatch {
				runtime.Gosched()
			}
		}
	})
	b.Run("chan", func(b *testing.B) {
		ch := make(chan entry, handoffBatch)
		fn := func() {}
		b.ReportAllocs()
		b.ResetTimer()
		go func() {
			for i := 0; i < b.N; i++ {
				ch <- entry{fn: fn}
			}
		}()
		for got := 0; got < b.N; {
			e := <-ch
			_ = e.fn
			got++
			n := len(ch)
			for i := 0; i < n && got < b.N; i++ {
				e = <-ch
				_ = e.fn
				got++
			}
			if n+1 < minBatch {
				runtime.Gosched()
			}
		}
	})
	b.Run("mutex", func(b *testing.B) {
		var mu sync.Mutex
		var q, spare []entry
		fn := func() {}
		b.ReportAllocs()
		b.ResetTimer()
		go func() {
			for i := 0; i < b.N; i++ {
				for {
					mu.Lock()
					if len(q) < handoffBatch {
						q = append(q, entry{fn: fn})
						mu.Unlock()
						break
					}
					mu.Unlock()
					runtime.Gosched()
				}
			}
		}()
		for got := 0; got < b.N; {
			mu.Lock()
			q, spare = spare[:0], q
			mu.Unlock()
			for _, e := range spare {
				_ = e.fn
			}
			got += len(spare)
			if len(spare) < minBatch {
				runtime.Gosched()
			}
		}
	})
}

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
