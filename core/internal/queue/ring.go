// Package queue holds the reactor's two bounded queues: Ring, the
// multi-producer, single-consumer hand-off to the main thread (and the free
// lists of its buffer pools), and SPSC, a connection's queue of reads for
// the main thread.
package queue

import "sync/atomic"

// cacheLinePad keeps fields that different threads write on separate cache
// lines.
type cacheLinePad [64]byte

// Ring is a bounded multi-producer, single-consumer queue on which no
// producer ever waits for another: Push finishes in a bounded number of its
// own steps unless another producer's claim succeeded meanwhile (lock-free
// for producers). The consumer is not lock-free: it takes positions in
// order and stops at one claimed but not yet published.
//
// A producer claims a position by advancing claim with a compare-and-swap,
// writes its value into the cell with plain stores, and publishes it by
// storing the cell's sequence number (position+1). The consumer takes
// cells in position order and stops at the first one not yet published.
// So a producer preempted between claim and publication delays only the
// consumer's view of the positions after its own (they are delivered, in
// order, once it publishes); it never stalls another producer — the poll
// thread, other goroutines' CallFromThread, the main thread itself. (An
// earlier design committed in claim order through one shared counter, so a
// preempted producer made every later producer spin and yield, the poll
// thread included.)
//
// The common case costs a producer one CAS on the claim counter, plain
// stores into the cell and one atomic store of its sequence, all on lines
// that the consumer then reads once; and it costs the consumer one atomic
// load per item, on the line it reads the value from anyway, plus one
// atomic store per batch to publish its progress (head). Producers read
// head rarely: they keep a recent copy (hcache).
//
// A producer never overwrites a cell the consumer has not released: Push
// returns false when the ring is full. Values are handed over by the
// sequence store/load pair, which orders the plain writes before the
// consumer's plain reads (the Go memory model's synchronizes-before).
type Ring[T any] struct {
	_      cacheLinePad
	claim  atomic.Uint64 // next position a producer will claim
	hcache atomic.Uint64 // a recent head, so producers rarely read the consumer's line
	_      cacheLinePad
	head   atomic.Uint64 // next position the consumer will read (published per batch)
	_      cacheLinePad
	hw     atomic.Uint64 // high-water mark of depth, as seen by the consumer
	mask   uint64
	cells  []cell[T]
}

// cell is one slot of a Ring.
type cell[T any] struct {
	seq atomic.Uint64 // position+1 once the value of that position is written
	v   T
}

// NewRing returns a ring holding up to size items; size must be a power of
// two (callers validate it).
func NewRing[T any](size int) *Ring[T] {
	return &Ring[T]{mask: uint64(size - 1), cells: make([]cell[T], size)}
}

// Cap is the number of items the ring holds.
func (r *Ring[T]) Cap() int { return len(r.cells) }

// Push appends v. It returns false, leaving the ring unchanged, when the ring
// is full. Safe from any goroutine; it never waits for another producer.
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
	c := &r.cells[pos&r.mask]
	c.v = v
	c.seq.Store(pos + 1)
	return true
}

// ready reports whether the value of pos is written. Consumer.
func (r *Ring[T]) ready(pos uint64) bool { return r.cells[pos&r.mask].seq.Load() == pos+1 }

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

// Snapshot returns how many items, from the head on, are written now,
// bounding a round: items written after it belong to the next round, and
// so do items after one still being written. It also records the
// high-water mark.
func (r *Ring[T]) Snapshot() uint64 {
	// The scan reads the cells' sequences only, never claim: claim's line
	// stays in the producers' caches, so an uncontended push's
	// compare-and-swap does not have to fetch it back from the consumer.
	h := r.head.Load()
	size := uint64(len(r.cells))
	n := uint64(0)
	for n < size && r.ready(h+n) {
		n++
	}
	if n > r.hw.Load() {
		r.hw.Store(n)
	}
	return n
}

// Head is the position of the consumer: how many items it has released
// since the ring was made.
func (r *Ring[T]) Head() uint64 { return r.head.Load() }

// Peek returns the item at head+i if it and every item before it are
// written. The pointer is valid until release.
func (r *Ring[T]) Peek(i uint64) (*T, bool) {
	h := r.head.Load()
	for k := uint64(0); k <= i; k++ {
		if !r.ready(h + k) {
			return nil, false
		}
	}
	return &r.cells[(h+i)&r.mask].v, true
}

// At returns the item at head+i, which the caller knows is written (it is
// before a snapshot).
func (r *Ring[T]) At(i uint64) *T { return &r.cells[(r.head.Load()+i)&r.mask].v }

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
		r.cells[(h+i)&r.mask].v = zero
	}
	r.head.Store(h + n)
}

// HighWater is the largest depth the consumer has seen at the start of a
// round since the ring was made.
func (r *Ring[T]) HighWater() int { return int(r.hw.Load()) }
