package queue

import (
	"runtime"
	"sync"
	"testing"
)

// entry has the shape of the reactor's ring entries: a pointer and a
// function.
type entry struct {
	_  *int
	fn func()
}

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
		r := NewRing[entry](handoffBatch)
		fn := func() {}
		b.ReportAllocs()
		b.ResetTimer()
		go func() {
			for i := 0; i < b.N; i++ {
				for !r.Push(entry{fn: fn}) {
					runtime.Gosched()
				}
			}
		}()
		got := 0
		for got < b.N {
			n := r.Snapshot()
			for k := uint64(0); k < n; k++ {
				_ = r.At(k).fn
			}
			r.Release(n)
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
