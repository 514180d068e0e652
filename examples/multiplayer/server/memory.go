package main

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// memRelease gives memory back to the system after a burst of allocation
// (a storm of joins and leaves, a flood of refused connections). The
// server allocates next to nothing in its steady state, so after a burst no
// garbage collection would run for minutes, and the runtime would keep the
// burst's memory mapped all that time. Every interval, if more than
// threshold bytes were allocated since the last release, it runs a
// collection and returns the free memory (debug.FreeOSMemory), and once
// more at the next interval, after the burst's tail; on its own goroutine:
// the reactor's main thread never waits for it.
type memRelease struct {
	threshold uint64
	sample    []metrics.Sample
	last      uint64 // bytes allocated, ever, at the last release
	trailing  bool   // the last check released: release once more
}

func newMemRelease(threshold uint64) *memRelease {
	m := &memRelease{threshold: threshold, sample: []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}}
	m.last = m.allocated()
	return m
}

// allocated returns the bytes allocated on the heap since the start.
func (m *memRelease) allocated() uint64 {
	metrics.Read(m.sample)
	if m.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return m.sample[0].Value.Uint64()
}

// check releases memory if threshold bytes were allocated since the last
// release, or if the previous check released, and reports whether it did.
func (m *memRelease) check() bool {
	burst := m.allocated()-m.last >= m.threshold
	if !burst && !m.trailing {
		return false
	}
	debug.FreeOSMemory()
	m.last = m.allocated()
	m.trailing = burst
	return true
}

// run checks every interval until done is closed.
func (m *memRelease) run(interval time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			m.check()
		}
	}
}
