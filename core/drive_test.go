//go:build unix || js

package core

import (
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core/internal/poller"
)

// Tests of each way of driving the reactor.

func TestInterleaveCoalescesWakerCalls(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		host := &fakeHost{queue: make(chan func(), 100)}
		must(t, r.Interleave(host.waker))
		const n = 2000
		ran := 0
		go func() {
			for i := 0; i < n; i++ {
				must(t, r.CallFromThread(func() { ran++ }))
			}
			must(t, r.CallFromThread(func() { must(t, r.Stop()) }))
		}()
		timeout := time.After(watchdog)
		for {
			select {
			case f := <-host.queue:
				host.outstanding.Add(-1)
				f()
				continue
			case <-r.Done():
			case <-timeout:
				t.Fatal("timeout")
			}
			break
		}
		if m := host.maxOut.Load(); m != 1 {
			t.Fatalf("at most %d waker functions were outstanding at once, want 1", m)
		}
		if ran != n {
			t.Fatalf("%d of %d calls ran", ran, n)
		}
	})
}

func TestInterleaveRejectsNilWaker(t *testing.T) {
	r, err := New()
	must(t, err)
	if err := r.Interleave(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Interleave(nil) = %v", err)
	}
}

func TestDrainBudgetLeavesRestQueuedInOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		must(t, r.Start())
		defer stopAndDrain(t, r)
		const n = 1000
		var got []int
		for i := 0; i < n; i++ {
			must(t, r.CallFromThread(func() {
				got = append(got, i)
				spin(20 * time.Microsecond)
			}))
		}
		st := r.Drain(2 * time.Millisecond)
		if st.Ran == 0 || st.Ran >= n {
			t.Fatalf("a 2ms budget ran %d of %d 20µs callbacks", st.Ran, n)
		}
		if st.Left != n-st.Ran {
			t.Fatalf("Left = %d, want %d", st.Left, n-st.Ran)
		}
		if st.Depth != n || st.HighWater < n {
			t.Fatalf("Depth %d HighWater %d, want %d", st.Depth, st.HighWater, n)
		}
		for st.Left > 0 {
			st = r.Drain(2 * time.Millisecond)
		}
		want := make([]int, n)
		for i := range want {
			want[i] = i
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatal("work left over by a budget did not run in order")
		}
	})
}

func TestDrainZeroRunsOneRoundWithoutBlocking(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		if st := r.Drain(0); st.Ran != 0 {
			t.Fatalf("Drain before Start ran %d", st.Ran)
		}
		must(t, r.Start())
		defer stopAndDrain(t, r)
		st := r.Drain(0) // nothing queued: returns at once
		if st.Ran != 0 {
			t.Fatalf("ran %d", st.Ran)
		}
		var inner DrainStats
		innerRan := false
		must(t, r.CallFromThread(func() {
			innerRan = true
			must(t, r.CallFromThread(func() {}))
			inner = r.Drain(0) // re-entry does nothing
		}))
		st = r.Drain(0)
		if !innerRan || st.Ran != 1 || inner.Ran != 0 {
			t.Fatalf("outer ran %d, inner ran %d", st.Ran, inner.Ran)
		}
		if st = r.Drain(0); st.Ran != 1 {
			t.Fatalf("the call queued during the round ran %d times next round", st.Ran)
		}
	})
}

// countingPoller counts waits, to show that an idle Run loop sleeps.
type countingPoller struct {
	poller.Poller
	waits atomic.Int64
}

func (p *countingPoller) Wait(out []poller.Event, timeout time.Duration) (int, error) {
	p.waits.Add(1)
	return p.Poller.Wait(out, timeout)
}

func TestIdleRunSleeps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var cp *countingPoller
		r.cfg.wrapPoller = func(p poller.Poller) poller.Poller { cp = &countingPoller{Poller: p}; return cp }
		var before int64
		r.CallWhenRunning(func() {
			before = cp.waits.Load()
			r.CallLater(50*millisecondT, func() { must(t, r.Stop()) })
		})
		must(t, r.Run())
		// 50ms idle: a busy or polling loop would wait thousands of times.
		if n := cp.waits.Load() - before; n > 5 {
			t.Fatalf("%d poller waits during 50ms of idleness", n)
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	cases := map[string]Option{
		"ring not power of two": WithRingSize(100),
		"ring too small":        WithRingSize(1),
		"unknown backend":       WithBackend("select"),
		"preen zero":            WithPreenInterval(0),
		"negative timeout":      WithShutdownTimeout(-1),
	}
	for name, o := range cases {
		if _, err := New(o); err == nil {
			t.Errorf("%s: no error", name)
		} else if !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrUnknownBackend) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

func TestModeAndShutdownTimeout(t *testing.T) {
	want := map[string]Mode{"run": DrivenByRun, "interleave": DrivenByWaker, "drain": DrivenByDrain}
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor(WithShutdownTimeout(3 * time.Second))
		if r.Mode() != NotDriven || r.ShutdownTimeout() != 3*time.Second {
			t.Fatalf("before start: %v, %v", r.Mode(), r.ShutdownTimeout())
		}
		var got Mode
		r.CallWhenRunning(func() {
			got = r.Mode()
			r.SetShutdownTimeout(time.Second)
			must(t, r.Stop())
		})
		h.runReactor(r)
		if got != want[h.drv.name] || r.Mode() != NotDriven || r.ShutdownTimeout() != time.Second {
			t.Fatalf("mode while running %v (want %v), after %v; timeout %v", got, want[h.drv.name], r.Mode(), r.ShutdownTimeout())
		}
	})
}

func TestDrainAllocatesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		must(t, r.Start())
		defer stopAndDrain(t, r)
		n := 0
		f := func() { n++ }
		allocs := testing.AllocsPerRun(1000, func() {
			r.CallFromThread(f)
			r.Drain(time.Millisecond)
		})
		if allocs != 0 || n == 0 {
			t.Fatalf("%v allocations per CallFromThread+Drain (ran %d)", allocs, n)
		}
	})
}
