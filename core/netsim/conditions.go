package netsim

import (
	"math/rand/v2"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
)

// Conditions simulates a network for everything a program makes through
// it: it is a netio.Net that wraps another (netio.Reactor(r), usually),
// and every connection and UDP port opened through it gets the current
// Settings, until the program gives one its own (SetSettings on the
// connection or port). Change the settings at any time with Set; what is
// already in flight keeps the delay it was given.
//
// The simulation runs where work leaves the reactor for the program, on
// the main thread: a Protocol's DataReceived and a DatagramProtocol's
// DatagramReceived are held back by timers of the wrapped Net, and so are
// Write and WriteTo on the way out. The poll thread is untouched, and each
// delayed delivery is one timer callback, so the reactor's frame budget
// holds as before (a framed protocol still stops between messages when the
// budget is spent: the simulator hands its chunks on through
// core.PartialProtocol). With idle Settings (zero, or the "off" preset)
// every call goes straight through, copying nothing.
//
// Deterministic: every connection and port direction draws its delays and
// losses from its own PCG generator (math/rand/v2), seeded by the
// Conditions' seed and the order in which the connections and ports were
// made, so the same seed and the same traffic give the same drops and the
// same delays, whatever other connections do.
//
// Main thread only, like the reactor's API.
type Conditions struct {
	net     netio.Net
	seed    uint64
	set     Settings
	streams uint64 // generators handed out
	stats   Stats
	free    [][]byte // recycled buffers

	conns map[*Conn]struct{} // open connections, for FlushNow
	ports map[*Port]struct{} // open ports
}

// New returns Conditions with settings s and seed over inner. s is not
// validated here; Parse and Settings.Validate do that.
func New(inner netio.Net, s Settings, seed uint64) *Conditions {
	return &Conditions{net: inner, seed: seed, set: s, conns: map[*Conn]struct{}{}, ports: map[*Port]struct{}{}}
}

// FlushNow sends at once everything held on its way out, on every
// connection and port, in order, skipping what is left of its delay (a
// connection the program closed is closed after its bytes). Call it from
// a before-shutdown trigger, after the goodbyes are written: whatever
// closes the reactor's connections at shutdown (the Ebiten plugin's flush,
// core's LoseAllConnections) closes them right after the triggers run,
// and bytes still held by the simulator would be lost.
func (c *Conditions) FlushNow() {
	for k := range c.conns {
		k.send.flushNow()
	}
	for u := range c.ports {
		u.send.flushNow()
	}
}

// Settings returns the settings new traffic gets (except on connections
// and ports with their own).
func (c *Conditions) Settings() Settings { return c.set }

// Set changes the settings for everything without settings of its own,
// from the next datagram or chunk on.
func (c *Conditions) Set(s Settings) { c.set = s }

// Seed returns the seed the generators derive from.
func (c *Conditions) Seed() uint64 { return c.seed }

// DirStats are the simulator's counters for one direction.
type DirStats struct {
	// Delayed counts what went through the simulated link (stream chunks
	// and datagrams, duplicates included); DelaySum is the delay they were
	// given in all, and MaxDelay the longest (for a stream chunk, waiting
	// behind earlier ones and for the bandwidth included).
	Delayed  uint64
	DelaySum time.Duration
	MaxDelay time.Duration
	Bytes    uint64 // bytes that went through the simulated link
	// Dropped, Duplicated and Reordered count datagrams lost, delivered
	// twice, and held back to be overtaken.
	Dropped, Duplicated, Reordered uint64
	// Discarded counts what was in flight when its connection or port
	// closed under it (a reset, an abort, a close).
	Discarded uint64
	// InFlight is what is held now, in items and bytes.
	InFlight, InFlightBytes int
}

// AvgDelay is DelaySum / Delayed.
func (d DirStats) AvgDelay() time.Duration {
	if d.Delayed == 0 {
		return 0
	}
	return d.DelaySum / time.Duration(d.Delayed)
}

// Stats are the simulator's counters since New.
type Stats struct {
	Recv, Send DirStats
}

// Total adds both directions.
func (s Stats) Total() DirStats {
	a, b := s.Recv, s.Send
	return DirStats{
		Delayed: a.Delayed + b.Delayed, DelaySum: a.DelaySum + b.DelaySum, MaxDelay: max(a.MaxDelay, b.MaxDelay),
		Bytes: a.Bytes + b.Bytes, Dropped: a.Dropped + b.Dropped, Duplicated: a.Duplicated + b.Duplicated,
		Reordered: a.Reordered + b.Reordered, Discarded: a.Discarded + b.Discarded,
		InFlight: a.InFlight + b.InFlight, InFlightBytes: a.InFlightBytes + b.InFlightBytes,
	}
}

// Stats returns the counters. It does not allocate.
func (c *Conditions) Stats() Stats { return c.stats }

func (c *Conditions) dirStats(send bool) *DirStats {
	if send {
		return &c.stats.Send
	}
	return &c.stats.Recv
}

// rng returns a generator of its own for the next connection or port
// direction.
func (c *Conditions) rng() *rand.Rand {
	c.streams++
	return rand.New(rand.NewPCG(c.seed, c.streams))
}

// delay draws one item's delay on l.
func delay(rng *rand.Rand, l *Link) time.Duration {
	d := l.Latency
	if l.Jitter > 0 {
		d += time.Duration(rng.Int64N(2*int64(l.Jitter)+1)) - l.Jitter
	}
	return max(d, 0)
}

// Buffers: what is held is copied (the reactor's slices are valid only
// during the call) into buffers recycled here, so a steady flow allocates
// nothing.
const (
	minBuf   = 2048
	maxKept  = 256
	maxSaved = 64 << 10
)

func (c *Conditions) copyOf(b []byte) []byte {
	for i := len(c.free) - 1; i >= 0; i-- {
		if cap(c.free[i]) >= len(b) {
			buf := c.free[i]
			c.free[i] = c.free[len(c.free)-1]
			c.free[len(c.free)-1] = nil
			c.free = c.free[:len(c.free)-1]
			return append(buf[:0], b...)
		}
		if i < len(c.free)-8 {
			break // do not search far for a big one
		}
	}
	return append(make([]byte, 0, max(len(b), minBuf)), b...)
}

func (c *Conditions) recycle(b []byte) {
	if b == nil || cap(b) > maxSaved || len(c.free) >= maxKept {
		return
	}
	c.free = append(c.free, b[:0])
}

// Now implements netio.Net: the wrapped Net's clock.
func (c *Conditions) Now() time.Time { return c.net.Now() }

// CallLater implements netio.Net: the wrapped Net's timer.
func (c *Conditions) CallLater(d time.Duration, f func()) (netio.Timer, error) {
	return c.net.CallLater(d, f)
}

// CallEvery implements netio.Net: the wrapped Net's timer.
func (c *Conditions) CallEvery(interval time.Duration, f func()) (netio.Timer, error) {
	return c.net.CallEvery(interval, f)
}

// ConnectTCP implements netio.Net: the connection, once made, is
// simulated (its Transport is a *Conn).
func (c *Conditions) ConnectTCP(addr string, f core.ClientFactory, timeout time.Duration, opts ...core.ListenOption) (netio.Dialing, error) {
	return c.net.ConnectTCP(addr, c.WrapClientFactory(f), timeout, opts...)
}

// ListenTCP implements netio.Net: every accepted connection is simulated.
func (c *Conditions) ListenTCP(addr string, f core.Factory, opts ...core.ListenOption) (netio.Listener, error) {
	return c.net.ListenTCP(addr, c.WrapFactory(f), opts...)
}

// ListenUDP implements netio.Net: the port's datagrams, both ways, are
// simulated. It returns a *Port.
func (c *Conditions) ListenUDP(addr string, p core.DatagramProtocol) (netio.PacketPort, error) {
	port := c.newPort(p)
	u, err := c.net.ListenUDP(addr, port.proto())
	if err != nil {
		delete(c.ports, port)
		return nil, err
	}
	port.u = u
	return port, nil
}
