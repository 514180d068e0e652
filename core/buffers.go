package core

import (
	"sync"

	"github.com/threadedselect/reactor/core/internal/queue"
)

// Buffers: chunks that stream readers read into, the datagram buffers'
// pools (see udp.go for dgram), and the write queue of descriptor-backed
// connections. Each implementation of a transport recycles into its own
// pool.

// chunk is a buffer a stream's reader reads into and the main thread hands
// to DataReceived. Chunks are recycled through the pool of the
// implementation that read them, so steady-state traffic allocates
// nothing.
type chunk struct {
	buf []byte
	n   int
	off int // bytes already consumed (a PartialProtocol stopped part-way)
}

const chunkSize = 64 << 10

// A read of at most 16 KiB is copied out of the 64 KiB buffer it was read
// into, which the poll loop keeps for the next read, into a buffer of its
// size class: 4 KiB or 16 KiB. A game's connections mostly read a few small
// messages at a time; without the copy, every connection with a read
// waiting for the main thread would hold 64 KiB, and a server with more
// such connections than the pool keeps would allocate 64 KiB buffers
// every frame. Bulk transfers read whole 64 KiB buffers, never copied.
const (
	smallChunkSize  = 4 << 10
	mediumChunkSize = 16 << 10
)

func newChunk() *chunk { return &chunk{buf: make([]byte, chunkSize)} }

// chunkPools are the descriptor-backed readers' chunks, in three sizes.
// Each pool keeps a bounded number of free chunks (8 MiB of small ones,
// 8 MiB of medium ones, 16 MiB of large ones at most), so what the reactor
// keeps after a burst is bounded; beyond that, chunks are left to the
// garbage collector.
type chunkPools struct {
	small, medium, large *ringPool[chunk]
}

func newChunkPools() *chunkPools {
	sized := func(n int) func() *chunk { return func() *chunk { return &chunk{buf: make([]byte, n)} } }
	return &chunkPools{
		small:  newRingPool(2048, sized(smallChunkSize)),
		medium: newRingPool(512, sized(mediumChunkSize)),
		large:  newRingPool(256, newChunk),
	}
}

// get returns a large chunk, to read into. Poll loop only.
func (p *chunkPools) get() *chunk { return p.large.get() }

// fitted returns a chunk holding a copy of b, of the smallest size that
// holds it, or nil if b is longer than mediumChunkSize. Poll loop only.
func (p *chunkPools) fitted(b []byte) *chunk {
	var ch *chunk
	switch {
	case len(b) <= smallChunkSize:
		ch = p.small.get()
	case len(b) <= mediumChunkSize:
		ch = p.medium.get()
	default:
		return nil
	}
	ch.n = copy(ch.buf, b)
	return ch
}

// put gives a chunk of any size back. Any goroutine.
func (p *chunkPools) put(ch *chunk) {
	switch len(ch.buf) {
	case smallChunkSize:
		p.small.put(ch)
	case mediumChunkSize:
		p.medium.put(ch)
	default:
		p.large.put(ch)
	}
}

// chunkQueueCap bounds how many reads a connection can have waiting for
// the main thread, along with its byte limit (WithMaxUnread).
const chunkQueueCap = 32

// pool recycles buffers of one kind (chunks, datagrams). Each
// implementation of a transport has its own: the descriptor-backed ones a
// ringPool, which the poll loop takes from; the goroutine-backed ones a
// syncPool, which any goroutine takes from.
type pool[T any] interface {
	get() *T
	put(*T)
}

// ringPool is a pool with one taker, the poll loop (the ring's single
// consumer), and any number of givers. Beyond its capacity, returned
// buffers are left to the garbage collector, so the pool bounds what the
// reactor keeps around after a burst.
type ringPool[T any] struct {
	free  *queue.Ring[*T]
	fresh func() *T
}

func newRingPool[T any](n int, fresh func() *T) *ringPool[T] {
	return &ringPool[T]{free: queue.NewRing[*T](n), fresh: fresh}
}

// get returns a buffer. Poll loop only.
func (p *ringPool[T]) get() *T {
	if x, ok := p.free.Peek(0); ok {
		v := *x
		p.free.ReleaseClear(1)
		return v
	}
	return p.fresh()
}

// put gives a buffer back. Any goroutine.
func (p *ringPool[T]) put(v *T) { p.free.Push(v) }

// syncPool is a pool any goroutine takes from and gives to.
type syncPool[T any] struct{ p sync.Pool }

func newSyncPool[T any](fresh func() *T) *syncPool[T] {
	s := &syncPool[T]{}
	s.p.New = func() any { return fresh() }
	return s
}

func (s *syncPool[T]) get() *T  { return s.p.Get().(*T) }
func (s *syncPool[T]) put(v *T) { s.p.Put(v) }

// outQueue holds the bytes a connection's program wrote that the socket
// did not take at once, copied into blocks that are recycled through the
// reactor's main-thread pool. Main thread only.
type outQueue struct {
	pool   *outPool
	blocks []*outBlock
	n      int // bytes queued
}

type outBlock struct {
	buf        []byte
	start, end int
}

const outBlockSize = 64 << 10

// outPool recycles write blocks between connections, keeping at most max.
type outPool struct {
	free []*outBlock
	max  int
}

func (p *outPool) get() *outBlock {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b
	}
	return &outBlock{buf: make([]byte, outBlockSize)}
}

func (p *outPool) put(b *outBlock) {
	b.start, b.end = 0, 0
	if len(p.free) < p.max {
		p.free = append(p.free, b)
	}
}

func (q *outQueue) append(p []byte) {
	q.n += len(p)
	for len(p) > 0 {
		var b *outBlock
		if k := len(q.blocks); k > 0 && q.blocks[k-1].end < len(q.blocks[k-1].buf) {
			b = q.blocks[k-1]
		} else {
			b = q.pool.get()
			q.blocks = append(q.blocks, b)
		}
		c := copy(b.buf[b.end:], p)
		b.end += c
		p = p[c:]
	}
}

// gather appends the queued slices, oldest first, up to cap(iov).
func (q *outQueue) gather(iov [][]byte) [][]byte {
	for _, b := range q.blocks {
		if len(iov) == cap(iov) {
			break
		}
		iov = append(iov, b.buf[b.start:b.end])
	}
	return iov
}

// consume drops the first n bytes.
func (q *outQueue) consume(n int) {
	q.n -= n
	i := 0
	for i < len(q.blocks) && n > 0 {
		b := q.blocks[i]
		if k := b.end - b.start; n < k {
			b.start += n
			break
		} else {
			n -= k
		}
		q.pool.put(b)
		i++
	}
	k := copy(q.blocks, q.blocks[i:])
	clear(q.blocks[k:])
	q.blocks = q.blocks[:k]
}

func (q *outQueue) reset() {
	for _, b := range q.blocks {
		q.pool.put(b)
	}
	clear(q.blocks)
	q.blocks = q.blocks[:0]
	q.n = 0
}
