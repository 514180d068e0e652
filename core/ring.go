package core

import "sync/atomic"

// cacheLinePad keeps the producer and consumer indices on separate cache
// lines so that producers claiming slots do not invalidate the line the
// consumer reads on every item.
type cacheLinePad [64]byte

// ring is a bounded multi-producer, single-consumer queue without locks.
//
// Producers claim a position with a compare-and-swap on tail, write the
// value, then publish it by storing position+1 into the cell's sequence.
// The single consumer reads cells in order, checking each sequence, and
// publishes its progress (head) once per batch rather than per item, which
// is what makes batch draining cheap: per item the consumer does one atomic
// load and no atomic store.
//
// A producer never overwrites a cell the consumer has not released: it
// refuses (returns false) when tail-head reaches the capacity. Values are
// handed over by the sequence store/load pair, which orders the plain write
// of the value before the consumer's plain read of it.
type ring[T any] struct {
	_     cacheLinePad
	tail  atomic.Uint64 // next position a producer will claim
	_     cacheLinePad
	head  atomic.Uint64 // next position the consumer will read (published per batch)
	_     cacheLinePad
	hw    atomic.Uint64 // high-water mark of depth, as seen by the consumer
	mask  uint64
	cells []ringCell[T]
}

type ringCell[T any] struct {
	seq atomic.Uint64 // position+1 once the value at position is written
	val T
}

// newRing returns a ring holding up to size items; size must be a power of
// two (callers validate it).
func newRing[T any](size int) *ring[T] {
	r := &ring[T]{mask: uint64(size - 1), cells: make([]ringCell[T], size)}
	return r
}

// capacity is the number of items the ring holds.
func (r *ring[T]) capacity() int { return len(r.cells) }

// push appends v. It returns false, leaving the ring unchanged, when the ring
// is full. Safe from any goroutine.
func (r *ring[T]) push(v T) bool {
	for {
		pos := r.tail.Load()
		if pos-r.head.Load() >= uint64(len(r.cells)) {
			return false
		}
		if r.tail.CompareAndSwap(pos, pos+1) {
			c := &r.cells[pos&r.mask]
			c.val = v
			c.seq.Store(pos + 1)
			return true
		}
	}
}

// depth is the number of claimed positions not yet released by the
// consumer. It may include items still being written. Safe from any
// goroutine; the answer may be stale by the time it is used.
func (r *ring[T]) depth() int {
	h := r.head.Load()
	t := r.tail.Load()
	if t < h {
		return 0
	}
	return int(t - h)
}

// free is the number of pushes that would succeed now if nobody else pushed.
func (r *ring[T]) free() int { return len(r.cells) - r.depth() }

// The consumer side. Only one goroutine at a time may use these; the
// reactor's main thread is that goroutine.

// snapshot returns the current tail, bounding a round: items pushed after it
// belong to the next round. It also records the high-water mark.
func (r *ring[T]) snapshot() uint64 {
	t := r.tail.Load()
	h := r.head.Load()
	if d := t - h; d > r.hw.Load() {
		r.hw.Store(d)
	}
	return t
}

// peek returns the item at head+i if a producer has finished writing it.
// The pointer is valid until release.
func (r *ring[T]) peek(i uint64) (*T, bool) {
	pos := r.head.Load() + i
	c := &r.cells[pos&r.mask]
	if c.seq.Load() != pos+1 {
		return nil, false
	}
	return &c.val, true
}

// release drops the first n items, clearing them so that the ring keeps no
// references alive, and publishes the new head so producers can reuse the
// cells.
func (r *ring[T]) release(n uint64) {
	if n == 0 {
		return
	}
	h := r.head.Load()
	var zero T
	for i := uint64(0); i < n; i++ {
		r.cells[(h+i)&r.mask].val = zero
	}
	r.head.Store(h + n)
}

// highWater is the largest depth the consumer has seen at the start of a
// round since the ring was made.
func (r *ring[T]) highWater() int { return int(r.hw.Load()) }
