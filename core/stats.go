package core

import (
	"sync/atomic"

	"github.com/threadedselect/reactor/internal/goid"
)

// Stats is a snapshot of the reactor's counters, cheap enough to read every
// frame (the Ebiten net graph does). Counters only grow; take differences
// between two snapshots for rates.
type Stats struct {
	RingDepth     int    // entries queued for the main thread now
	RingHighWater int    // most entries ever queued at once
	RingCapacity  int    // size of the ring
	Ran           uint64 // callbacks run on the main thread
	BytesIn       uint64 // bytes read from connections and datagram ports
	BytesOut      uint64 // bytes written to connections and datagram ports
	MessagesIn    uint64 // DataReceived / DatagramReceived calls
	MessagesOut   uint64 // Write / WriteTo calls
	QueuedBytes   int64  // bytes written by the program and not yet sent, over all connections
	Conns         int    // open TCP connections
	Dropped       uint64 // datagrams dropped (full queue or kernel drops), never silently
	CutOff        uint64 // before triggers whose channel the reactor gave up waiting for (shutdown timeout, poller failure)
}

// counters are the shared, atomically updated figures behind Stats.
type counters struct {
	ran         atomic.Uint64
	bytesIn     atomic.Uint64
	bytesOut    atomic.Uint64
	msgsIn      atomic.Uint64
	msgsOut     atomic.Uint64
	queuedBytes atomic.Int64
	conns       atomic.Int64
	dropped     atomic.Uint64
	cutOff      atomic.Uint64
}

// Stats returns the reactor's counters. Safe from any goroutine.
func (r *Reactor) Stats() Stats {
	c := &r.stats
	return Stats{
		RingDepth:     r.ring.Depth(),
		RingHighWater: r.ring.HighWater(),
		RingCapacity:  r.ring.Cap(),
		Ran:           c.ran.Load(),
		BytesIn:       c.bytesIn.Load(),
		BytesOut:      c.bytesOut.Load(),
		MessagesIn:    c.msgsIn.Load(),
		MessagesOut:   c.msgsOut.Load(),
		QueuedBytes:   c.queuedBytes.Load(),
		Conns:         int(c.conns.Load()),
		Dropped:       c.dropped.Load(),
		CutOff:        c.cutOff.Load(),
	}
}

// InMainThread reports whether the caller is the reactor's main thread:
// the goroutine that last drove it (Run, Drain, or the Interleave waker's
// function) or, before it started, the one that made it (Twisted's
// isInIOThread). It costs about a microsecond; use it in assertions, not
// on hot paths.
func (r *Reactor) InMainThread() bool { return goid.Read(nil) == r.mainG.Load() }
