//go:build unix || js

package core

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Ports of Twisted's SystemEventTestsBuilder (internet/test/test_core.py)
// and ThreePhaseEventTests / SystemEventTests (test/test_internet.py).

func TestStopWhenNotStarted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		if err := r.Stop(); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("Stop before start: %v, want ErrNotRunning", err)
		}
	})
}

func TestStopWhenAlreadyStopped(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var second error
		r.CallWhenRunning(func() {
			must(t, r.Stop())
			second = r.Stop()
		})
		h.runReactor(r)
		if !errors.Is(second, ErrNotRunning) {
			t.Fatalf("second Stop: %v, want ErrNotRunning", second)
		}
		if err := r.Stop(); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("Stop after the run: %v, want ErrNotRunning", err)
		}
	})
}

func TestStopFromBeforeShutdownTrigger(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var inTrigger error = errors.New("trigger did not run")
		r.AddSystemEventTrigger(Before, Shutdown, func() <-chan struct{} {
			inTrigger = r.Stop()
			return nil
		})
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
		if !errors.Is(inTrigger, ErrNotRunning) {
			t.Fatalf("Stop inside a before-shutdown trigger: %v, want ErrNotRunning", inTrigger)
		}
	})
}

func TestCallWhenRunningOrder(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var got []int
		for i := 0; i < 5; i++ {
			r.CallWhenRunning(func() { got = append(got, i) })
		}
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
		if want := []int{0, 1, 2, 3, 4}; !reflect.DeepEqual(got, want) {
			t.Fatalf("CallWhenRunning order %v, want %v", got, want)
		}
	})
}

func TestCallWhenRunningWhileRunningCallsAtOnce(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		called := false
		r.CallWhenRunning(func() {
			id := r.CallWhenRunning(func() { called = true })
			if !called || id != (TriggerID{}) {
				t.Errorf("CallWhenRunning while running: called=%v id=%v; want called at once", called, id)
			}
			must(t, r.Stop())
		})
		h.runReactor(r)
	})
}

func TestRunningForStartupEvents(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		state := map[Phase]bool{}
		for _, ph := range []Phase{Before, During, After} {
			r.AddSystemEventTrigger(ph, Startup, func() <-chan struct{} {
				state[ph] = r.Running()
				return nil
			})
		}
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		if r.Running() {
			t.Fatal("Running before start")
		}
		h.runReactor(r)
		want := map[Phase]bool{Before: false, During: true, After: true}
		if !reflect.DeepEqual(state, want) {
			t.Fatalf("Running in startup phases %v, want %v", state, want)
		}
		if r.Running() {
			t.Fatal("Running after the run")
		}
	})
}

func TestStopShutDownEvents(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var events []string
		for _, ph := range []Phase{After, During, Before} { // registered out of order on purpose
			r.AddSystemEventTrigger(ph, Shutdown, func() <-chan struct{} {
				events = append(events, ph.String())
				return nil
			})
		}
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
		if want := []string{"before", "during", "after"}; !reflect.DeepEqual(events, want) {
			t.Fatalf("shutdown phases %v, want %v", events, want)
		}
		select {
		case <-r.Done():
		default:
			if h.drv.name == "run" {
				t.Fatal("Run returned before Done was closed")
			}
		}
	})
}

func TestShutdownFiresTriggersAsynchronously(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		fired := false
		var firedDuringStop bool
		r.AddSystemEventTrigger(Before, Shutdown, func() <-chan struct{} { fired = true; return nil })
		r.CallWhenRunning(func() {
			must(t, r.Stop())
			firedDuringStop = fired
		})
		h.runReactor(r)
		if firedDuringStop {
			t.Fatal("a before-shutdown trigger ran inside Stop")
		}
		if !fired {
			t.Fatal("the before-shutdown trigger never ran")
		}
	})
}

func TestMultipleRun(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var errs []error
		r.CallWhenRunning(func() {
			errs = append(errs, r.Run(), r.Start(), r.Interleave(func(func()) {}))
			must(t, r.Stop())
		})
		h.runReactor(r)
		for i, err := range errs {
			if !errors.Is(err, ErrAlreadyRunning) {
				t.Errorf("start #%d while running: %v, want ErrAlreadyRunning", i, err)
			}
		}
	})
}

func TestRunAfterStop(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var inAfter error
		r.AddSystemEventTrigger(After, Shutdown, func() <-chan struct{} {
			inAfter = r.Run()
			return nil
		})
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
		if !errors.Is(inAfter, ErrNotRestartable) {
			t.Fatalf("Run in an after-shutdown trigger: %v, want ErrNotRestartable", inAfter)
		}
		for name, start := range map[string]func() error{"Run": r.Run, "Start": r.Start} {
			if err := start(); !errors.Is(err, ErrNotRestartable) {
				t.Fatalf("%s after the run: %v, want ErrNotRestartable", name, err)
			}
		}
	})
}

func TestRunWithAsynchronousBeforeStartupTrigger(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var events []string
		r.AddSystemEventTrigger(Before, Startup, func() <-chan struct{} {
			ch := make(chan struct{})
			// Fired from a timer: the loop must run while startup waits.
			_, err := r.CallLater(0, func() {
				events = append(events, "trigger fired")
				close(ch)
			})
			must(t, err)
			return ch
		})
		r.CallWhenRunning(func() {
			events = append(events, "running")
			must(t, r.Stop())
		})
		h.runReactor(r)
		if want := []string{"trigger fired", "running"}; !reflect.DeepEqual(events, want) {
			t.Fatalf("events %v, want %v", events, want)
		}
	})
}

func TestCrash(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		shutdownRan := false
		r.AddSystemEventTrigger(Before, Shutdown, func() <-chan struct{} { shutdownRan = true; return nil })
		r.CallWhenRunning(func() { r.Crash() })
		h.runReactor(r)
		if shutdownRan {
			t.Fatal("Crash fired shutdown triggers")
		}
		if r.Running() {
			t.Fatal("Running after Crash")
		}
		// test_runAfterCrash: the reactor runs again, and then stops for good.
		ranAgain := false
		r.CallWhenRunning(func() {
			ranAgain = true
			must(t, r.Stop())
		})
		h.runReactor(r)
		if !ranAgain || !shutdownRan {
			t.Fatalf("after Crash: ran again %v, shutdown triggers %v; want both", ranAgain, shutdownRan)
		}
	})
}

// ThreePhaseEventTests, on a program-defined event.

func TestEventPhasesAndOnce(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var got []string
		add := func(ph Phase, name string) TriggerID {
			id, err := r.AddSystemEventTrigger(ph, "test", func() <-chan struct{} { got = append(got, name); return nil })
			must(t, err)
			return id
		}
		add(After, "after")
		add(During, "during1")
		add(Before, "before")
		add(During, "during2")
		r.CallWhenRunning(func() {
			r.FireSystemEvent("test")
			r.FireSystemEvent("test") // triggers run once
			must(t, r.Stop())
		})
		h.runReactor(r)
		if want := []string{"before", "during1", "during2", "after"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func TestEventTriggerPanicIsLoggedAndRestRun(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var got []string
		for _, ph := range []Phase{Before, During, After} {
			r.AddSystemEventTrigger(ph, "test", func() <-chan struct{} { panic("boom in " + ph.String()) })
			r.AddSystemEventTrigger(ph, "test", func() <-chan struct{} { got = append(got, ph.String()); return nil })
		}
		r.CallWhenRunning(func() {
			r.FireSystemEvent("test")
			must(t, r.Stop())
		})
		h.runReactor(r)
		if want := []string{"before", "during", "after"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for _, ph := range []string{"before", "during", "after"} {
			if rec := h.logs.find("boom in " + ph); rec == "" || !strings.Contains(rec, "stack_has_goroutine") {
				t.Fatalf("panic in %s trigger not logged with its stack: %q", ph, rec)
			}
		}
	})
}

func TestRemoveTriggers(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var got []string
		add := func(ph Phase, name string, f func()) TriggerID {
			id, err := r.AddSystemEventTrigger(ph, "test", func() <-chan struct{} {
				got = append(got, name)
				if f != nil {
					f()
				}
				return nil
			})
			must(t, err)
			return id
		}
		removed := add(Before, "removed before", nil)
		var during TriggerID
		add(Before, "before", func() { must(t, r.RemoveSystemEventTrigger(during)) })
		during = add(During, "during", nil)
		add(After, "after", nil)
		must(t, r.RemoveSystemEventTrigger(removed))
		if err := r.RemoveSystemEventTrigger(removed); !errors.Is(err, ErrUnknownTrigger) {
			t.Fatalf("removing twice: %v, want ErrUnknownTrigger", err)
		}
		r.CallWhenRunning(func() {
			r.FireSystemEvent("test")
			must(t, r.Stop())
		})
		h.runReactor(r)
		if want := []string{"before", "after"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func TestMultipleBeforeReturnChannels(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var got []string
		chs := []chan struct{}{make(chan struct{}), make(chan struct{})}
		for i := range chs {
			r.AddSystemEventTrigger(Before, "test", func() <-chan struct{} { return chs[i] })
		}
		r.AddSystemEventTrigger(During, "test", func() <-chan struct{} {
			got = append(got, "during")
			must(t, r.Stop())
			return nil
		})
		r.CallWhenRunning(func() {
			r.FireSystemEvent("test")
			got = append(got, "fired")
			r.CallLater(0, func() {
				got = append(got, "close 0")
				close(chs[0])
				r.CallLater(0, func() {
					got = append(got, "close 1")
					// Closed from another goroutine: the reactor must wake.
					go close(chs[1])
				})
			})
		})
		h.runReactor(r)
		if want := []string{"fired", "close 0", "close 1", "during"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func TestSubsequentBeforeTriggerClosesPriorChannel(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		ch := make(chan struct{})
		var got []string
		r.AddSystemEventTrigger(Before, "test", func() <-chan struct{} { return ch })
		r.AddSystemEventTrigger(Before, "test", func() <-chan struct{} { close(ch); return nil })
		r.AddSystemEventTrigger(During, "test", func() <-chan struct{} { got = append(got, "during"); return nil })
		r.CallWhenRunning(func() {
			r.FireSystemEvent("test")
			got = append(got, "after fire")
			must(t, r.Stop())
		})
		h.runReactor(r)
		// The prior channel was closed by the time the Before phase ended,
		// so During ran synchronously inside FireSystemEvent.
		if want := []string{"during", "after fire"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func TestInteractionBetweenDifferentEvents(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var got []string
		block := make(chan struct{})
		r.AddSystemEventTrigger(Before, "first", func() <-chan struct{} { return block })
		r.AddSystemEventTrigger(During, "first", func() <-chan struct{} {
			got = append(got, "first during")
			must(t, r.Stop())
			return nil
		})
		r.AddSystemEventTrigger(During, "second", func() <-chan struct{} { got = append(got, "second during"); return nil })
		r.CallWhenRunning(func() {
			r.FireSystemEvent("first")
			r.FireSystemEvent("second") // not held up by the first event's wait
			close(block)
		})
		h.runReactor(r)
		if want := []string{"second during", "first during"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func TestShutdownTimeoutCutsOffBeforeTrigger(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		clk := NewFakeClock(epoch)
		r := h.newReactor(WithClock(clk), WithShutdownTimeout(2*secondT))
		never := make(chan struct{})
		var got []string
		r.AddSystemEventTrigger(Before, Shutdown, func() <-chan struct{} {
			got = append(got, "before")
			go func() { must(t, clk.Advance(3*secondT)) }()
			return never
		})
		r.AddSystemEventTrigger(After, Shutdown, func() <-chan struct{} { got = append(got, "after"); return nil })
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
		if want := []string{"before", "after"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if h.logs.find("gave up waiting") == "" {
			t.Fatal("the cut-off trigger was not logged")
		}
		if n := r.Stats().CutOff; n != 1 {
			t.Fatalf("Stats().CutOff = %d, want 1", n)
		}
	})
}

func TestAddTriggerBadArguments(t *testing.T) {
	r, err := New()
	must(t, err)
	if _, err := r.AddSystemEventTrigger(Phase(7), "x", func() <-chan struct{} { return nil }); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad phase: %v", err)
	}
	if _, err := r.AddSystemEventTrigger(Before, "x", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil trigger: %v", err)
	}
	if err := r.RemoveSystemEventTrigger(TriggerID{}); !errors.Is(err, ErrUnknownTrigger) {
		t.Fatalf("zero id: %v", err)
	}
}
