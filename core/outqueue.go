package core

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
