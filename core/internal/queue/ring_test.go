package queue

import (
	"fmt"
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

// BenchmarkHandoff hands b.N items from one producer goroutine (and from
// four, sharing the work) to a consumer that drains in batches, through the
// Ring, a buffered channel, and a mutex-guarded slice.
func BenchmarkHandoff(b *testing.B) {
	for _, producers := range []int{1, 4} {
		suffix := ""
		if producers > 1 {
			suffix = fmt.Sprintf("-%dproducers", producers)
		}
		b.Run("ring"+suffix, func(b *testing.B) {
			r := NewRing[entry](handoffBatch)
			fn := func() {}
			b.ReportAllocs()
			b.ResetTimer()
			produce(b.N, producers, func() {
				for !r.Push(entry{fn: fn}) {
					runtime.Gosched()
				}
			})
			for got := 0; got < b.N; {
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
		b.Run("chan"+suffix, func(b *testing.B) {
			ch := make(chan entry, handoffBatch)
			fn := func() {}
			b.ReportAllocs()
			b.ResetTimer()
			produce(b.N, producers, func() { ch <- entry{fn: fn} })
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
		b.Run("mutex"+suffix, func(b *testing.B) {
			var mu sync.Mutex
			var q, spare []entry
			fn := func() {}
			b.ReportAllocs()
			b.ResetTimer()
			produce(b.N, producers, func() {
				for {
					mu.Lock()
					if len(q) < handoffBatch {
						q = append(q, entry{fn: fn})
						mu.Unlock()
						return
					}
					mu.Unlock()
					runtime.Gosched()
				}
			})
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
}

// produce calls push n times, shared among producers goroutines.
func produce(n, producers int, push func()) {
	for p := 0; p < producers; p++ {
		share := n / producers
		if p == 0 {
			share += n % producers
		}
		go func() {
			for i := 0; i < share; i++ {
				push()
			}
		}()
	}
}

// TestRingManyProducers: every item pushed by several producers reaches
// the consumer once, each producer's in the order pushed, through a small
// ring that is often full.
func TestRingManyProducers(t *testing.T) {
	const producers, each = 4, 20000
	r := NewRing[[2]int](64)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for !r.Push([2]int{p, i}) {
					runtime.Gosched()
				}
			}
		}()
	}
	next := make([]int, producers)
	for got := 0; got < producers*each; {
		n := r.Snapshot()
		for k := uint64(0); k < n; k++ {
			v := *r.At(k)
			if v[1] != next[v[0]] {
				t.Fatalf("producer %d: got item %d, want %d", v[0], v[1], next[v[0]])
			}
			next[v[0]]++
		}
		r.Release(n)
		got += int(n)
		if n == 0 {
			runtime.Gosched()
		}
	}
	wg.Wait()
	if r.Snapshot() != 0 || r.Depth() != 0 {
		t.Fatalf("left over: snapshot %d, depth %d", r.Snapshot(), r.Depth())
	}
}

// TestRingStalledProducerStallsNoOne: a producer that claimed a position
// and has not written it yet (preempted) holds back only what comes after
// it, for the consumer; other producers push without waiting, and
// everything is delivered in order once it writes.
func TestRingStalledProducerStallsNoOne(t *testing.T) {
	r := NewRing[int](8)
	if !r.Push(1) {
		t.Fatal("push into an empty ring failed")
	}
	stalled := r.claim.Add(1) - 1 // claimed, not written
	done := make(chan bool)
	go func() { done <- r.Push(3) }() // would spin for ever behind a commit counter
	if !<-done {
		t.Fatal("push after a stalled producer failed")
	}
	if n := r.Snapshot(); n != 1 {
		t.Fatalf("snapshot %d with position %d unwritten, want 1", n, stalled)
	}
	if v, ok := r.Peek(1); ok {
		t.Fatalf("peek past the unwritten position: %d", *v)
	}
	c := &r.cells[stalled&r.mask]
	c.v = 2
	c.seq.Store(stalled + 1)
	if n := r.Snapshot(); n != 3 {
		t.Fatalf("snapshot %d once written, want 3", n)
	}
	for k := uint64(0); k < 3; k++ {
		if v := *r.At(k); v != int(k)+1 {
			t.Fatalf("item %d is %d", k, v)
		}
	}
}
