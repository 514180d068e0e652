//go:build unix || js

package core

import (
	"runtime"
	"testing"
	"time"
)

// The frame budget with thread calls only (no sockets: it runs under
// GOOS=js too). See budget_test.go for the mixes with connections.

// drainUntil drains frames of the given budget until cond holds, failing
// after the watchdog. each is called with every frame's stats.
func drainUntil(t *testing.T, r *Reactor, budget time.Duration, cond func() bool, each func(DrainStats)) {
	t.Helper()
	deadline := time.Now().Add(watchdog)
	for !cond() {
		st := r.Drain(budget)
		if each != nil {
			each(st)
		}
		if time.Now().After(deadline) {
			t.Fatal("condition not reached before the watchdog")
		}
	}
}

// TestDrainBudgetCheapThenExpensive: cheap thread calls then expensive
// ones. A Drain that reads the clock at a stride learned from the cheap
// calls runs all the expensive ones; the budget must stop after the first.
//
// Under GOOS=js (Node) the cheap calls are several times slower and a
// garbage collection may take the whole millisecond, so there the first
// frame may not get through all the cheap calls: what is checked on every
// platform is that no frame runs more than one expensive call, in queue
// order (every cheap call before the first expensive one).
func TestDrainBudgetCheapThenExpensive(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		must(t, r.Start())
		defer stopAndDrain(t, r)
		const cheap, expensive = 200, 10
		const cost = 5 * time.Millisecond
		ranCheap, ranExpensive := 0, 0
		for i := 0; i < cheap; i++ {
			must(t, r.CallFromThread(func() { ranCheap++ }))
		}
		for i := 0; i < expensive; i++ {
			must(t, r.CallFromThread(func() {
				if ranCheap != cheap {
					t.Errorf("an expensive call ran after %d of %d cheap ones", ranCheap, cheap)
				}
				ranExpensive++
				spin(cost)
			}))
		}
		frames, before := 0, 0
		drainUntil(t, r, time.Millisecond, func() bool { return ranExpensive == expensive }, func(st DrainStats) {
			frames++
			if frames == 1 && runtime.GOOS != "js" && (ranCheap != cheap || ranExpensive != 1 || st.Ran != cheap+1) {
				t.Fatalf("first 1ms frame ran %d cheap and %d expensive calls (%+v), want %d and 1",
					ranCheap, ranExpensive, st, cheap)
			}
			if n := ranExpensive - before; n > 1 {
				t.Fatalf("frame %d ran %d calls of %v in a 1ms budget (%+v)", frames, n, cost, st)
			}
			before = ranExpensive
		})
	})
}
