package core

import "sync/atomic"

// chunk is a buffer the poll loop reads into and the main thread hands to
// DataReceived / DatagramReceived. Chunks are recycled through the
// reactor's chunkPool, so steady-state traffic allocates nothing.
type chunk struct {
	buf []byte
	n   int
}

const chunkSize = 64 << 10

// chunkPool recycles chunks. The poll loop takes (the ring's single
// consumer); the main thread gives back (a producer). Beyond its capacity,
// returned chunks are left to the garbage collector, so the pool bounds
// what the reactor keeps around after a burst.
type chunkPool struct {
	free *ring[*chunk]
}

func newChunkPool(n int) chunkPool { return chunkPool{free: newRing[*chunk](n)} }

// get returns a chunk. Poll loop only.
func (p *chunkPool) get() *chunk {
	if c, ok := p.free.peek(0); ok {
		ch := *c
		p.free.releaseClear(1)
		ch.n = 0
		return ch
	}
	return &chunk{buf: make([]byte, chunkSize)}
}

// put gives a chunk back. Any goroutine.
func (p *chunkPool) put(c *chunk) {
	p.free.push(c)
}

// chunkQueue is a bounded single-producer (the poll loop), single-consumer
// (the main thread) queue of chunks, one per connection. Its capacity
// bounds how many reads a connection can have waiting for the main thread,
// along with the connection's byte limit.
type chunkQueue struct {
	head  atomic.Uint32 // consumer
	tail  atomic.Uint32 // producer
	slots [32]*chunk
}

const chunkQueueCap = 32

// push appends c; false if full. Poll loop only.
func (q *chunkQueue) push(c *chunk) bool {
	t := q.tail.Load()
	if t-q.head.Load() >= chunkQueueCap {
		return false
	}
	q.slots[t%chunkQueueCap] = c
	q.tail.Store(t + 1)
	return true
}

// full reports whether push would fail. Poll loop only.
func (q *chunkQueue) full() bool { return q.tail.Load()-q.head.Load() >= chunkQueueCap }

// peek returns the oldest chunk, or nil. Main thread only.
func (q *chunkQueue) peek() *chunk {
	h := q.head.Load()
	if h == q.tail.Load() {
		return nil
	}
	return q.slots[h%chunkQueueCap]
}

// pop drops the oldest chunk. Main thread only.
func (q *chunkQueue) pop() {
	h := q.head.Load()
	q.slots[h%chunkQueueCap] = nil
	q.head.Store(h + 1)
}

// empty reports whether nothing is queued. Any goroutine.
func (q *chunkQueue) empty() bool { return q.head.Load() == q.tail.Load() }
