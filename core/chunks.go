package core

// chunk is a buffer the poll loop reads into and the main thread hands to
// DataReceived / DatagramReceived. Chunks are recycled through the
// reactor's chunkPool, so steady-state traffic allocates nothing.
type chunk struct {
	buf []byte
	n   int
	off int // bytes already consumed (a PartialProtocol stopped part-way)
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

// chunkQueueCap bounds how many reads a connection can have waiting for
// the main thread, along with its byte limit (WithMaxUnread).
const chunkQueueCap = 32
