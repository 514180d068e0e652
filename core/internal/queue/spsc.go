package queue

import "sync/atomic"

// SPSC is a bounded single-producer, single-consumer queue: the reader of a
// socket (the poll loop, or a reader goroutine) produces, the main thread
// consumes. Each side publishes its index with one atomic store.
type SPSC[T any] struct {
	head  atomic.Uint32 // consumer
	tail  atomic.Uint32 // producer
	slots []T
}

// NewSPSC returns a queue holding up to n items.
func NewSPSC[T any](n int) SPSC[T] { return SPSC[T]{slots: make([]T, n)} }

// Push appends v; false if full. Producer only.
func (q *SPSC[T]) Push(v T) bool {
	t := q.tail.Load()
	if int(t-q.head.Load()) >= len(q.slots) {
		return false
	}
	q.slots[int(t)%len(q.slots)] = v
	q.tail.Store(t + 1)
	return true
}

// Full reports whether push would fail. Producer only.
func (q *SPSC[T]) Full() bool { return int(q.tail.Load()-q.head.Load()) >= len(q.slots) }

// Peek returns the oldest item, or the zero value (nil, for the pointers
// it holds) if there is none. Consumer only.
func (q *SPSC[T]) Peek() T {
	h := q.head.Load()
	if h == q.tail.Load() {
		var zero T
		return zero
	}
	return q.slots[int(h)%len(q.slots)]
}

// Pop drops the oldest item. Consumer only.
func (q *SPSC[T]) Pop() {
	h := q.head.Load()
	var zero T
	q.slots[int(h)%len(q.slots)] = zero
	q.head.Store(h + 1)
}

// Empty reports whether nothing is queued. Any goroutine.
func (q *SPSC[T]) Empty() bool { return q.head.Load() == q.tail.Load() }
