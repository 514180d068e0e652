package core

import "testing"

// TestChannelSleepLeavesNoStaleWake: Run's main thread, sleeping on a
// channel, marks itself parked and then looks for work; a goroutine that
// hands it work in between takes the parked flag and sends a wake, which
// the main thread, finding the work, never waits for. That wake must be
// taken then: left in the channel, it would end the next sleep at once,
// with nothing to do (a spurious round, and the yields before it, per
// hand-off). The same goes for a sleep a timer ends while a wake arrives:
// both end through unpark.
func TestChannelSleepLeavesNoStaleWake(t *testing.T) {
	l := &loop{mode: modeInline, chanWake: make(chan struct{}, 1)}

	// Work found after marking parked, a waker in between.
	l.chanParked.Store(true)
	l.wakeConsumer()
	l.unpark()
	if n := len(l.chanWake); n != 0 || l.chanParked.Load() {
		t.Fatalf("after a wake that found work: %d wakes left in the channel, parked %v; want none, false", n, l.chanParked.Load())
	}

	// No waker: unpark only clears the flag.
	l.chanParked.Store(true)
	l.unpark()
	if n := len(l.chanWake); n != 0 || l.chanParked.Load() {
		t.Fatalf("with no waker: %d wakes in the channel, parked %v; want none, false", n, l.chanParked.Load())
	}
}
