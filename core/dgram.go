package core

import (
	"net/netip"
	"sync/atomic"
)

// maxDatagram is the largest datagram a UDP port delivers; longer ones are
// dropped and counted as truncated. Game datagrams stay under the path MTU
// (about 1200 bytes), so this leaves room without wasting memory on the
// port's queue.
const maxDatagram = 2048

// dgram is one received datagram, recycled through the reactor's pool.
type dgram struct {
	buf  [maxDatagram]byte
	raw  rawSockaddr
	n    int
	from netip.AddrPort
}

// dgramPool recycles datagram buffers: the poll loop takes, the main thread
// gives back.
type dgramPool struct{ free *ring[*dgram] }

func (p *dgramPool) get() *dgram {
	if d, ok := p.free.peek(0); ok {
		x := *d
		p.free.releaseClear(1)
		return x
	}
	return new(dgram)
}

func (p *dgramPool) put(d *dgram) { p.free.push(d) }

// dgramQueue is a port's single-producer (poll loop), single-consumer (main
// thread) queue of datagrams.
type dgramQueue struct {
	head  atomic.Uint32
	tail  atomic.Uint32
	slots [dgramQueueCap]*dgram
}

const dgramQueueCap = 1024

func (q *dgramQueue) push(d *dgram) bool {
	t := q.tail.Load()
	if t-q.head.Load() >= dgramQueueCap {
		return false
	}
	q.slots[t%dgramQueueCap] = d
	q.tail.Store(t + 1)
	return true
}

func (q *dgramQueue) peek() *dgram {
	h := q.head.Load()
	if h == q.tail.Load() {
		return nil
	}
	return q.slots[h%dgramQueueCap]
}

func (q *dgramQueue) pop() {
	h := q.head.Load()
	q.slots[h%dgramQueueCap] = nil
	q.head.Store(h + 1)
}
