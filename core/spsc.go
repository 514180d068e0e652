package core

import "sync/atomic"

// spsc is a bounded single-producer, single-consumer queue: the reader of a
// socket (the poll loop, or a reader goroutine) produces, the main thread
// consumes. Each side publishes its index with one atomic store.
type spsc[T any] struct {
	head  atomic.Uint32 // consumer
	tail  atomic.Uint32 // producer
	slots []T
}

func newSPSC[T any](n int) spsc[T] { return spsc[T]{slots: make([]T, n)} }

// push appends v; false if full. Producer only.
func (q *spsc[T]) push(v T) bool {
	t := q.tail.Load()
	if int(t-q.head.Load()) >= len(q.slots) {
		return false
	}
	q.slots[int(t)%len(q.slots)] = v
	q.tail.Store(t + 1)
	return true
}

// full reports whether push would fail. Producer only.
func (q *spsc[T]) full() bool { return int(q.tail.Load()-q.head.Load()) >= len(q.slots) }

// peek returns the oldest item, or the zero value (nil, for the pointers
// it holds) if there is none. Consumer only.
func (q *spsc[T]) peek() T {
	h := q.head.Load()
	if h == q.tail.Load() {
		var zero T
		return zero
	}
	return q.slots[int(h)%len(q.slots)]
}

// pop drops the oldest item. Consumer only.
func (q *spsc[T]) pop() {
	h := q.head.Load()
	var zero T
	q.slots[int(h)%len(q.slots)] = zero
	q.head.Store(h + 1)
}

// empty reports whether nothing is queued. Any goroutine.
func (q *spsc[T]) empty() bool { return q.head.Load() == q.tail.Load() }
