package core

import (
	"sync"

	"github.com/threadedselect/reactor/core/internal/queue"
)

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

func newChunk() *chunk { return &chunk{buf: make([]byte, chunkSize)} }

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
