//go:build unix || js

package core

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/threadedselect/reactor/internal/goid"
)

// Ports of Twisted's ThreadTestsBuilder (internet/test/test_threads.py),
// CallFromThreadTests and CallFromThreadStopsAndWakeUpTests
// (test/test_internet.py), and test_wakerOverflow (test/test_threads.py).

func TestCallFromThreadRunsOnMainThread(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var main, ran uint64
		var inMain, inOther bool
		r.CallWhenRunning(func() {
			main = goid.Read(nil)
			inMain = r.InMainThread()
			go func() {
				inOther = r.InMainThread()
				must(t, r.CallFromThread(func() {
					ran = goid.Read(nil)
					must(t, r.Stop())
				}))
			}()
		})
		h.runReactor(r)
		if ran != main {
			t.Fatalf("thread call ran on goroutine %d, main thread is %d", ran, main)
		}
		if !inMain || inOther {
			t.Fatalf("InMainThread: main %v, other %v", inMain, inOther)
		}
	})
}

func TestDelayedCallFromThreadWakesLoop(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		// A far timer keeps the loop's sleep long; a thread call made from
		// inside another timer must still run promptly.
		r.CallLater(time.Hour, func() {})
		r.CallLater(0, func() {
			must(t, r.CallFromThread(func() { must(t, r.Stop()) }))
		})
		h.runReactor(r)
	})
}

func TestNestedCallFromThreadDoesNotStarveTimers(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var again func()
		stopping := false
		again = func() {
			if !stopping {
				must(t, r.CallFromThread(again))
			}
		}
		r.CallWhenRunning(func() {
			must(t, r.CallFromThread(again))
			r.CallLater(millisecondT, func() { stopping = true; must(t, r.Stop()) })
		})
		h.runReactor(r)
	})
}

func TestLotsOfThreadsAreScheduledCorrectly(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		const n = 100
		count := 0
		var wg sync.WaitGroup
		r.CallWhenRunning(func() {
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					must(t, r.CallFromThread(func() {
						count++
						if count == n {
							must(t, r.Stop())
						}
					}))
				}()
			}
		})
		h.runReactor(r)
		wg.Wait()
		if count != n {
			t.Fatalf("%d of %d thread calls ran", count, n)
		}
	})
}

func TestThreadCallsRunInScheduledOrder(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor(WithRingSize(64)) // small: exercise the full-ring path
		const producers, per = 4, 2000
		last := make([]int, producers)
		bad := 0
		done := 0
		var wg sync.WaitGroup
		r.CallWhenRunning(func() {
			for p := 0; p < producers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 1; i <= per; i++ {
						must(t, r.CallFromThread(func() {
							if last[p] != i-1 {
								bad++
							}
							last[p] = i
							if i == per {
								done++
								if done == producers {
									must(t, r.Stop())
								}
							}
						}))
					}
				}()
			}
		})
		h.runReactor(r)
		wg.Wait()
		if bad != 0 {
			t.Fatalf("%d thread calls ran out of order", bad)
		}
	})
}

func TestScheduledThreadsNotRunUntilReactorRuns(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		ran := false
		must(t, r.CallFromThread(func() { ran = true }))
		var beforeStartup bool
		r.AddSystemEventTrigger(Before, Startup, func() <-chan struct{} { beforeStartup = ran; return nil })
		r.CallWhenRunning(func() {
			r.CallLater(0, func() { must(t, r.Stop()) })
		})
		h.runReactor(r)
		if beforeStartup || !ran {
			t.Fatalf("ran before startup: %v; ran at all: %v", beforeStartup, ran)
		}
	})
}

// TestWakerOverflow: 100,000 thread calls in a burst all run, through a
// small ring, from another goroutine and from the main thread itself
// (which must never block on a full ring).
func TestWakerOverflow(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor(WithRingSize(256))
		const n = 100_000
		fromOther, fromMain := 0, 0
		check := func() {
			if fromOther == n && fromMain == n {
				must(t, r.Stop())
			}
		}
		done := make(chan struct{})
		r.CallWhenRunning(func() {
			go func() {
				defer close(done)
				for i := 0; i < n; i++ {
					if err := r.CallFromThread(func() { fromOther++; check() }); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			for i := 0; i < n; i++ {
				must(t, r.CallFromThread(func() { fromMain++; check() }))
			}
		})
		h.runReactor(r)
		<-done
		if fromOther != n || fromMain != n {
			t.Fatalf("ran %d from another goroutine and %d from the main thread, want %d each", fromOther, fromMain, n)
		}
	})
}

func TestCallFromThreadAfterShutdown(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
		<-r.Done()
		if err := r.CallFromThread(func() {}); !errors.Is(err, ErrStopped) {
			t.Fatalf("CallFromThread after shutdown: %v, want ErrStopped", err)
		}
		if err := r.CallFromThread(nil); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("nil: %v", err)
		}
	})
}

// Thread calls queued before Stop run before the shutdown sequence.
func TestCallsQueuedBeforeStopRunFirst(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		const n = 500
		ran := 0
		var atShutdown int
		r.AddSystemEventTrigger(Before, Shutdown, func() <-chan struct{} { atShutdown = ran; return nil })
		r.CallWhenRunning(func() {
			go func() {
				for i := 0; i < n; i++ {
					must(t, r.CallFromThread(func() { ran++ }))
				}
				must(t, r.Stop())
			}()
		})
		h.runReactor(r)
		if atShutdown != n {
			t.Fatalf("%d of %d thread calls queued before Stop had run when the shutdown began", atShutdown, n)
		}
	})
}
