//go:build unix || js

package core

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// Ports of Twisted's TimeTestsBuilder (internet/test/test_time.py) and
// TimeTests (test/test_internet.py).

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	secondT      = time.Second
	millisecondT = time.Millisecond
)

func TestDelayedCallStopsReactor(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		r.CallLater(0, func() { must(t, r.Stop()) })
		h.runReactor(r)
	})
}

func TestDistantDelayedCall(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		far, err := r.CallLater(math.MaxInt64, func() { t.Error("the distant call ran") })
		must(t, err)
		r.CallLater(0, func() {
			if !far.Active() {
				t.Error("the distant call is not active")
			}
			must(t, r.Stop())
		})
		h.runReactor(r)
		if !far.Time().After(epoch.AddDate(200, 0, 0)) {
			t.Fatalf("distant call scheduled at %v", far.Time())
		}
	})
}

func TestTimersWithFakeClock(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		clk := NewFakeClock(epoch)
		r := h.newReactor(WithClock(clk))
		var got []string
		r.CallWhenRunning(func() {
			r.CallLater(5*secondT, func() {
				got = append(got, "5s")
				must(t, r.Stop())
			})
			r.CallLater(secondT, func() { got = append(got, "1s") })
			// Advanced from another goroutine: the reactor must wake for it.
			go func() { must(t, clk.Advance(10*secondT)) }()
		})
		h.runReactor(r)
		if want := []string{"1s", "5s"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func TestSameInstantRunsInScheduledOrder(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		clk := NewFakeClock(epoch)
		r := h.newReactor(WithClock(clk))
		var got []int
		for i := 0; i < 20; i++ {
			r.CallLater(secondT, func() { got = append(got, i) })
		}
		r.CallLater(secondT, func() { must(t, r.Stop()) })
		r.CallWhenRunning(func() { go clk.Advance(secondT) })
		h.runReactor(r)
		for i := range got {
			if got[i] != i {
				t.Fatalf("calls due at one instant ran as %v", got)
			}
		}
		if len(got) != 20 {
			t.Fatalf("%d calls ran, want 20", len(got))
		}
	})
}

// TestDelayedCallMethods covers cancel/reset/delay/active/time and the
// already-called and already-cancelled errors, on a reactor driven by hand.
func TestDelayedCallMethods(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		clk := NewFakeClock(epoch)
		r := h.newReactor(WithClock(clk))
		must(t, r.Start())
		defer stopAndDrain(t, r)

		var ran []string
		a, _ := r.CallLater(10*secondT, func() { ran = append(ran, "a") })
		b, _ := r.CallLater(10*secondT, func() { ran = append(ran, "b") })
		c, _ := r.CallLater(10*secondT, func() { ran = append(ran, "c") })
		if !a.Active() || !a.Time().Equal(epoch.Add(10*secondT)) {
			t.Fatalf("a: active %v time %v", a.Active(), a.Time())
		}
		must(t, b.Cancel())
		if b.Active() {
			t.Fatal("cancelled call is active")
		}
		if err := b.Cancel(); !errors.Is(err, ErrAlreadyCancelled) {
			t.Fatalf("cancel twice: %v", err)
		}
		if err := b.Reset(secondT); !errors.Is(err, ErrAlreadyCancelled) {
			t.Fatalf("reset cancelled: %v", err)
		}
		if err := b.Delay(secondT); !errors.Is(err, ErrAlreadyCancelled) {
			t.Fatalf("delay cancelled: %v", err)
		}
		must(t, c.Reset(2*secondT)) // now due at +2s
		must(t, a.Delay(5*secondT)) // now due at +15s
		if !a.Time().Equal(epoch.Add(15 * secondT)) {
			t.Fatalf("delayed a at %v", a.Time())
		}
		must(t, clk.Advance(2*secondT))
		r.Drain(0)
		if !reflect.DeepEqual(ran, []string{"c"}) {
			t.Fatalf("after 2s ran %v", ran)
		}
		if err := c.Cancel(); !errors.Is(err, ErrAlreadyCalled) {
			t.Fatalf("cancel called: %v", err)
		}
		if err := c.Reset(secondT); !errors.Is(err, ErrAlreadyCalled) {
			t.Fatalf("reset called: %v", err)
		}
		if c.Active() {
			t.Fatal("called call is active")
		}
		must(t, clk.Advance(10*secondT)) // +12s: a (at +15s) not yet
		r.Drain(0)
		if len(ran) != 1 {
			t.Fatalf("a ran early: %v", ran)
		}
		must(t, clk.Advance(3*secondT))
		r.Drain(0)
		if !reflect.DeepEqual(ran, []string{"c", "a"}) {
			t.Fatalf("ran %v", ran)
		}
		if _, err := r.CallLater(0, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("nil: %v", err)
		}
		if err := clk.Advance(-time.Second); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("backwards: %v", err)
		}
	})
}

func TestCallLaterZeroInsideTimerRunsNextRound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor(WithClock(NewFakeClock(epoch)))
		must(t, r.Start())
		defer stopAndDrain(t, r)
		n := 0
		var again func()
		again = func() { n++; r.CallLater(0, again) }
		r.CallLater(0, again)
		r.Drain(0)
		r.Drain(0)
		if n != 2 {
			t.Fatalf("a self-rescheduling zero-delay call ran %d times in two rounds, want 2", n)
		}
	})
}

// stopAndDrain ends a reactor driven by hand with Start and Drain.
func stopAndDrain(t *testing.T, r *Reactor) {
	t.Helper()
	if err := r.Stop(); err != nil && !errors.Is(err, ErrNotRunning) {
		t.Error(err)
	}
	deadline := time.Now().Add(watchdog)
	for !r.Drain(time.Millisecond).Finished {
		if time.Now().After(deadline) {
			t.Fatal("reactor did not finish its shutdown")
		}
		<-time.After(100 * time.Microsecond) // a frame
	}
}

func TestCallEvery(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		clk := NewFakeClock(epoch)
		r := h.newReactor(WithClock(clk))
		must(t, r.Start())
		defer stopAndDrain(t, r)
		var at []time.Duration
		var c *DelayedCall
		c = r.CallEvery(secondT, func() {
			at = append(at, r.Now().Sub(epoch))
			if len(at) == 4 {
				must(t, c.Cancel())
			}
		})
		step := func(d time.Duration) {
			must(t, clk.Advance(d))
			r.Drain(0)
		}
		step(secondT)               // 1s: runs
		step(2*secondT + secondT/2) // 3.5s: runs once, the 2s-3s backlog skipped
		step(secondT / 2)           // 4s: runs on the cadence
		if !c.Active() || !c.Time().Equal(epoch.Add(5*secondT)) {
			t.Fatalf("after three runs: active %v, next at %v", c.Active(), c.Time().Sub(epoch))
		}
		step(secondT) // 5s: runs and cancels itself
		step(10 * secondT)
		want := []time.Duration{secondT, 3*secondT + secondT/2, 4 * secondT, 5 * secondT}
		if !reflect.DeepEqual(at, want) {
			t.Fatalf("ran at %v, want %v", at, want)
		}
		if c.Active() {
			t.Fatal("cancelled repeating call is active")
		}
		n := 0
		every := r.CallEvery(secondT, func() { n++ })
		allocs := testing.AllocsPerRun(100, func() { step(secondT) })
		every.Cancel()
		if allocs != 0 || n < 100 {
			t.Fatalf("%v allocations per run of a repeating call (%d runs)", allocs, n)
		}
	})
}
