// Package queue holds the reactor's two bounded queues: Ring, the
// multi-producer, single-consumer hand-off to the main thread (and the free
// lists of its buffer pools), and SPSC, a connection's queue of reads for
// the main thread.
package queue

import (
	"runtime"
	"sync/atomic"
)

// cacheLinePad keeps fields that different threads write on separate cache
// lines.
type cacheLinePad [64]byte

// Ring is a bounded multi-producer, single-consumer queue without locks.
//
// A producer claims a position by advancing claim with a compare-and-swap,
// writes its value with plain stores, then commits: it waits until the
// producers that claimed earlier positions have committed (they are in the
// middle of a few stores, so this is short) and advances commit. The
// consumer reads commit once per batch, reads every value before it with
// plain loads, and publishes its progress (head) once per batch.
//
// So the common case costs a producer one CAS and one atomic store on lines
// that stay in its own cache, plus plain stores into the cell, which the
// store buffer absorbs; and it costs the consumer two atomic operations per
// batch, not per item. Per-cell sequence numbers (Vyukov's design) would
// need a locked store into a line the consumer shares, per item, which is
// what makes such rings no faster than a channel.
//
// A producer never overwrites a cell the consumer has not released: Push
// returns false when the ring is full. Values are handed over by the
// commit store/load pair, which orders the plain writes before the
// consumer's plain reads (the Go memory model's synchronizes-before).
type Ring[T any] struct {
	_      cacheLinePad
	claim  atomic.Uint64 // next position a producer will claim
	hcache atomic.Uint64 // a recent head, so producers rarely read the consumer's line
	_      cacheLinePad
	commit atomic.Uint64 // positions before it are written and visible
	_      cacheLinePad
	head   atomic.Uint64 // next position the consumer will read (published per batch)
	_      cacheLinePad
	hw     atomic.Uint64 // high-water mark of depth, as seen by the consumer
	mask   uint64
	cells  []T
}

// NewRing returns a ring holding up to size items; size must be a power of
// two (callers validate it).
func NewRing[T any](size int) *Ring[T] {
	return &Ring[T]{mask: uint64(size - 1), cells: make([]T, size)}
}

// Cap is the number of items the ring holds.
func (r *Ring[T]) Cap() int { return len(r.cells) }

// Push appends v. It returns false, leaving the ring unchanged, when the ring
// is full. Safe from any goroutine.
func (r *Ring[T]) Push(v T) bool {
	size := uint64(len(r.cells))
	var pos uint64
	for {
		pos = r.claim.Load()
		if pos-r.hcache.Load() >= size {
			h := r.head.Load()
			r.hcache.Store(h)
			if pos-h >= size {
				return false
			}
		}
		if r.claim.CompareAndSwap(pos, pos+1) {
			break
		}
	}
	r.cells[pos&r.mask] = v
	// Commit in claim order.
	for spins := 0; r.commit.Load() != pos; spins++ {
		if spins > 64 {
			runtime.Gosched() // an earlier producer was preempted mid-push
		}
	}
	r.commit.Store(pos + 1)
	return true
}

// Depth is the number of claimed positions not yet released by the
// consumer. It may include items still being written. Safe from any
// goroutine; the answer may be stale by the time it is used.
func (r *Ring[T]) Depth() int {
	h := r.head.Load()
	t := r.claim.Load()
	if t < h {
		return 0
	}
	return int(t - h)
}

// Free is the number of pushes that would succeed now if nobody else pushed.
func (r *Ring[T]) Free() int { return len(r.cells) - r.Depth() }

// The consumer side. Only one goroutine at a time may use these; the
// reactor's main thread is that goroutine.

// Snapshot returns how many items are committed now, bounding a round:
// items committed after it belong to the next round. It also records the
// high-water mark.
func (r *Ring[T]) Snapshot() uint64 {
	d := r.commit.Load() - r.head.Load()
	if d > r.hw.Load() {
		r.hw.Store(d)
	}
	return d
}

// Head is the position of the consumer: how many items it has released
// since the ring was made.
func (r *Ring[T]) Head() uint64 { return r.head.Load() }

// Peek returns the item at head+i if it is committed. The pointer is valid
// until release.
func (r *Ring[T]) Peek(i uint64) (*T, bool) {
	pos := r.head.Load() + i
	if pos >= r.commit.Load() {
		return nil, false
	}
	return &r.cells[pos&r.mask], true
}

// At returns the item at head+i, which the caller knows is committed (it
// is before a snapshot).
func (r *Ring[T]) At(i uint64) *T { return &r.cells[(r.head.Load()+i)&r.mask] }

// Release drops the first n items and publishes the new head so producers
// can reuse the cells. It does not clear them: writing to the cells would
// pull their cache lines into the consumer's cache in the modified state,
// and every push would then wait for them to come back (the cost of
// clearing was 2-3x the whole hand-off in BenchmarkHandoff). What a released
// cell refers to stays reachable until a producer overwrites it, one lap of
// the ring later; for the reactor's ring that is at most its capacity of
// small entries. Rings of large buffers use releaseClear.
func (r *Ring[T]) Release(n uint64) {
	if n == 0 {
		return
	}
	r.head.Store(r.head.Load() + n)
}

// ReleaseClear is release for rings whose items hold memory worth giving
// back to the garbage collector at once.
func (r *Ring[T]) ReleaseClear(n uint64) {
	if n == 0 {
		return
	}
	h := r.head.Load()
	var zero T
	for i := uint64(0); i < n; i++ {
		r.cells[(h+i)&r.mask] = zero
	}
	r.head.Store(h + n)
}

// HighWater is the largest depth the consumer has seen at the start of a
// round since the ring was made.
func (r *Ring[T]) HighWater() int { return int(r.hw.Load()) }
