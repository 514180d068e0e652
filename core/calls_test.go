//go:build unix || js

package core

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The calls made for their effect (CallWhenRunning, CallEvery, OnShutdown)
// return no error: what they refuse must do nothing and be logged through
// the reactor's logger, at Error level, with the error's kind.

// refusals returns the log records that contain every one of substrs.
func refusals(l *logRecorder, substrs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, r := range l.recs {
		for _, s := range substrs {
			if !strings.Contains(r, s) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

func wantLogged(t *testing.T, l *logRecorder, n int, substrs ...string) {
	t.Helper()
	got := refusals(l, substrs...)
	if len(got) != n {
		t.Fatalf("%d log records with %q, want %d: %q", len(got), substrs, n, got)
	}
	for _, r := range got {
		if !strings.HasPrefix(r, "ERROR ") {
			t.Fatalf("logged below Error level: %q", r)
		}
	}
}

// TestCallWhenRunningRefusals: a nil function, and a call made once the
// reactor has stopped (from an After-shutdown trigger, when Running is
// false and the startup has run), register nothing and are logged; a call
// from a Before-shutdown trigger, while Running is still true, runs at
// once; a deferred call's id removes it.
func TestCallWhenRunningRefusals(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		if id := r.CallWhenRunning(nil); id != (TriggerID{}) {
			t.Fatalf("CallWhenRunning(nil) = %v, want the zero TriggerID", id)
		}
		wantLogged(t, h.logs, 1, "CallWhenRunning refused", "invalid argument", "nil function")

		removed := false
		id := r.CallWhenRunning(func() { removed = true })
		if id == (TriggerID{}) {
			t.Fatal("a call deferred to the startup has the zero TriggerID")
		}
		must(t, r.RemoveSystemEventTrigger(id))

		var inBefore, late bool
		var lateID, beforeID TriggerID
		r.OnShutdown(func() <-chan struct{} {
			beforeID = r.CallWhenRunning(func() { inBefore = true })
			return nil
		})
		_, err := r.AddSystemEventTrigger(After, Shutdown, func() <-chan struct{} {
			lateID = r.CallWhenRunning(func() { late = true })
			return nil
		})
		must(t, err)
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)

		if removed {
			t.Fatal("a CallWhenRunning whose trigger was removed ran")
		}
		if !inBefore || beforeID != (TriggerID{}) {
			t.Fatalf("CallWhenRunning in a Before-shutdown trigger: ran %v, id %v; want run at once, zero id", inBefore, beforeID)
		}
		if late || lateID != (TriggerID{}) {
			t.Fatalf("CallWhenRunning after the stop: ran %v, id %v; want refused", late, lateID)
		}
		wantLogged(t, h.logs, 1, "CallWhenRunning refused", "system event phase already ran", "after the reactor stopped")
		wantLogged(t, h.logs, 2, "CallWhenRunning refused")
	})
}

// TestCallEveryRefusals: a nil function or an interval that is not
// positive schedules nothing; the call returned is not nil, not Active,
// and its methods say it is cancelled; each refusal is logged with the
// interval. A valid call made beside them runs.
func TestCallEveryRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		clk := NewFakeClock(epoch)
		r := h.newReactor(WithClock(clk))
		must(t, r.Start())
		defer stopAndDrain(t, r)
		badRuns, goodRuns := 0, 0
		bad := func() { badRuns++ }
		cases := []struct {
			interval time.Duration
			f        func()
			logged   string
		}{
			{0, bad, "interval=0s"},
			{-secondT, bad, "interval=-1s"},
			{secondT, nil, "func=nil"},
		}
		good := r.CallEvery(secondT, func() { goodRuns++ })
		for _, c := range cases {
			dc := r.CallEvery(c.interval, c.f)
			if dc == nil {
				t.Fatalf("CallEvery(%v, %v) returned nil", c.interval, c.f != nil)
			}
			if dc.Active() {
				t.Fatalf("CallEvery(%v, nil=%v) is active", c.interval, c.f == nil)
			}
			for name, err := range map[string]error{"Cancel": dc.Cancel(), "Reset": dc.Reset(secondT), "Delay": dc.Delay(secondT)} {
				if !errors.Is(err, ErrAlreadyCancelled) {
					t.Fatalf("%s of a refused CallEvery: %v, want ErrAlreadyCancelled", name, err)
				}
			}
			wantLogged(t, h.logs, 1, "CallEvery refused", "invalid argument", c.logged)
		}
		wantLogged(t, h.logs, len(cases), "CallEvery refused")
		for range 3 {
			must(t, clk.Advance(secondT))
			r.Drain(0)
		}
		if badRuns != 0 || goodRuns != 3 {
			t.Fatalf("after 3 s: refused calls ran %d times, the valid one %d; want 0 and 3", badRuns, goodRuns)
		}
		must(t, good.Cancel())
	})
}

// TestCallsAfterShutdown: once the shutdown has finished, CallWhenRunning
// is refused and logged; CallEvery, like CallLater, is scheduled but never
// runs, and is not logged; OnShutdown is refused and logged.
func TestCallsAfterShutdown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		clk := NewFakeClock(epoch)
		r := h.newReactor(WithClock(clk))
		must(t, r.Start())
		r.Drain(0)
		stopAndDrain(t, r)

		ran := false
		if id := r.CallWhenRunning(func() { ran = true }); id != (TriggerID{}) {
			t.Fatalf("CallWhenRunning after the shutdown = %v, want the zero id", id)
		}
		wantLogged(t, h.logs, 1, "CallWhenRunning refused", "system event phase already ran")

		every := r.CallEvery(secondT, func() { ran = true })
		if every == nil || !every.Active() {
			t.Fatal("CallEvery after the shutdown: want a scheduled call")
		}
		if id := r.OnShutdown(func() <-chan struct{} { ran = true; return nil }); id != (TriggerID{}) {
			t.Fatalf("OnShutdown after the shutdown = %v, want the zero id", id)
		}
		wantLogged(t, h.logs, 1, "OnShutdown", "system event phase already ran")
		must(t, clk.Advance(3*secondT))
		if st := r.Drain(0); !st.Finished || st.Ran != 0 {
			t.Fatalf("Drain after the shutdown: %+v, want finished with nothing run", st)
		}
		if ran {
			t.Fatal("a call made after the shutdown ran")
		}
		wantLogged(t, h.logs, 0, "CallEvery refused")
		must(t, every.Cancel())
	})
}

// TestOnShutdownRefusals: a nil trigger registers nothing and is logged;
// a trigger added once the Before phase of the shutdown has run is
// refused and logged; OnShutdown's id removes the trigger.
func TestOnShutdownRefusals(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		if id := r.OnShutdown(nil); id != (TriggerID{}) {
			t.Fatalf("OnShutdown(nil) = %v, want the zero TriggerID", id)
		}
		wantLogged(t, h.logs, 1, "OnShutdown", "invalid argument")
		removed, late := false, false
		must(t, r.RemoveSystemEventTrigger(r.OnShutdown(func() <-chan struct{} { removed = true; return nil })))
		_, err := r.AddSystemEventTrigger(During, Shutdown, func() <-chan struct{} {
			r.OnShutdown(func() <-chan struct{} { late = true; return nil })
			return nil
		})
		must(t, err)
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
		if removed || late {
			t.Fatalf("removed trigger ran %v, trigger added in During ran %v; want neither", removed, late)
		}
		wantLogged(t, h.logs, 1, "OnShutdown", "system event phase already ran")
	})
}
