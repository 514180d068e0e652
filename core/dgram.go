package core

import "net/netip"

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

// dgramQueueCap bounds how many datagrams a UDP port keeps for the main
// thread; beyond it they are dropped and counted.
const dgramQueueCap = 1024
