//go:build unix || js

package core

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threadedselect/reactor/internal/testutil"
	"go.uber.org/goleak"
)

// The behavioural suite runs every test against every backend of the
// platform and every way of driving the reactor, like Twisted's
// ReactorBuilder runs its tests against every reactor.

// watchdog bounds how long any one reactor run in a test may take. It is a
// deadline for failing, never a wait for success.
const watchdog = 20 * time.Second

type driver struct {
	name string
	run  func(t *testing.T, r *Reactor) error
}

var drivers = []driver{
	{"run", driveRun},
	{"interleave", driveInterleave},
	{"drain", driveDrain},
}

// driveRun drives r with Run on the test goroutine.
func driveRun(t *testing.T, r *Reactor) error {
	t.Helper()
	stop := startWatchdog(t, r)
	defer stop()
	return r.Run()
}

// driveInterleave is a fake host loop: the waker posts functions to the
// host's queue and the host, on the test goroutine (its main thread), runs
// them until the reactor is done or crashed.
func driveInterleave(t *testing.T, r *Reactor) error {
	t.Helper()
	h := &fakeHost{queue: make(chan func(), 1)}
	if err := r.Interleave(h.waker); err != nil {
		return err
	}
	stop := startWatchdog(t, r)
	defer stop()
	for {
		if r.loop.Load() == nil {
			return r.Err()
		}
		select {
		case f := <-h.queue:
			h.outstanding.Add(-1)
			f()
		case <-r.Done():
			return r.Err()
		}
	}
}

// fakeHost counts outstanding waker calls, to check they are coalesced.
type fakeHost struct {
	queue       chan func()
	outstanding atomicInt
	maxOut      atomicInt
}

func (h *fakeHost) waker(f func()) {
	n := h.outstanding.Add(1)
	for {
		m := h.maxOut.Load()
		if n <= m || h.maxOut.CompareAndSwap(m, n) {
			break
		}
	}
	h.queue <- f
}

// driveDrain is a frame-based host: Start, then Drain with a budget at a
// fixed frame rate, as a game's Update does.
func driveDrain(t *testing.T, r *Reactor) error {
	t.Helper()
	if err := r.Start(); err != nil {
		return err
	}
	stop := startWatchdog(t, r)
	defer stop()
	frame := time.NewTicker(time.Millisecond)
	defer frame.Stop()
	for {
		st := r.Drain(2 * time.Millisecond)
		if st.Finished || r.loop.Load() == nil {
			return r.Err()
		}
		<-frame.C
	}
}

// startWatchdog fails the test and stops r if the run takes too long.
func startWatchdog(t *testing.T, r *Reactor) func() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(watchdog):
			t.Errorf("reactor did not stop within %v", watchdog)
			r.SetShutdownTimeout(time.Millisecond)
			_ = r.Stop()
		}
	}()
	return cancel
}

// forEachRaw is forEach for tests of raw descriptors: the portable
// backend, which has no poller to watch them with, is skipped
// (TestPortableRejectsRawDescriptors checks that it says so).
func forEachRaw(t *testing.T, f func(t *testing.T, h *harness)) {
	forEach(t, func(t *testing.T, h *harness) {
		if h.backend == portableBackend {
			t.Skip("raw descriptors are not supported by the portable backend")
		}
		f(t, h)
	})
}

// runReactor drives r with h's driver and fails the test on an error.
func (h *harness) runReactor(r *Reactor) {
	h.t.Helper()
	if err := h.drv.run(h.t, r); err != nil {
		h.t.Fatalf("%s: %v", h.drv.name, err)
	}
}

type harness struct {
	t       *testing.T
	backend string
	drv     driver
	logs    *logRecorder
}

// newReactor makes a reactor on the harness's backend that logs into the
// harness's recorder, with the threading rule checked: a test that calls a
// main-thread-only method from another goroutine fails.
func (h *harness) newReactor(opts ...Option) *Reactor {
	h.t.Helper()
	all := append([]Option{WithBackend(h.backend), WithLogger(slog.New(h.logs)), WithThreadCheck(true)}, opts...)
	r, err := New(all...)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// forEach runs f as subtests named backend/driver.
func forEach(t *testing.T, f func(t *testing.T, h *harness)) {
	for _, b := range Backends() {
		for _, d := range drivers {
			t.Run(b+"/"+d.name, func(t *testing.T) {
				checkLeaks(t)
				h := &harness{t: t, backend: b, drv: d, logs: &logRecorder{t: t}}
				f(t, h)
			})
		}
	}
}

// forEachBackend runs f as subtests named by backend, for tests that drive
// the reactor themselves.
func forEachBackend(t *testing.T, f func(t *testing.T, h *harness)) {
	for _, b := range Backends() {
		t.Run(b, func(t *testing.T) {
			checkLeaks(t)
			h := &harness{t: t, backend: b, drv: drivers[0], logs: &logRecorder{t: t}}
			f(t, h)
		})
	}
}

// checkLeaks fails the test if it leaves goroutines or descriptors behind.
func checkLeaks(t *testing.T) {
	if _, ok := testutil.OpenFds(); ok {
		testutil.CheckLeaks(t)
		return
	}
	// No descriptors to count (js/wasm): goroutines only.
	opts := append(platformLeakOptions(), goleak.IgnoreCurrent())
	t.Cleanup(func() {
		if !t.Failed() {
			goleak.VerifyNone(t, opts...)
		}
	})
}

// logRecorder is a slog.Handler that keeps records for assertions and
// echoes them to the test log. A report of the thread check fails the
// test, unless allowOffMain is set (the check's own test).
type logRecorder struct {
	t            *testing.T
	mu           sync.Mutex
	recs         []string
	allowOffMain bool
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "stack" {
			st := a.Value.String()
			fmt.Fprintf(&b, " stack=<%d bytes>", len(st))
			if strings.Contains(st, "goroutine") {
				b.WriteString(" stack_has_goroutine")
			}
			// The first test file in the stack: where the reactor was called.
			if i := strings.Index(st, "_test.go:"); i >= 0 {
				b.WriteString(" stack_test_file=" + st[strings.LastIndex(st[:i], "/")+1:i+len("_test.go")])
			}
			return true
		}
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, b.String())
	allow := l.allowOffMain
	l.mu.Unlock()
	if !allow && strings.Contains(r.Message, "called off the main thread") {
		l.t.Errorf("threading rule broken: %s", b.String())
	}
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if strings.Contains(r, substr) {
			n++
		}
	}
	return n
}

func (l *logRecorder) find(substr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if strings.Contains(r, substr) {
			return r
		}
	}
	return ""
}

// testDesc is a raw descriptor whose behaviour each test sets.
type testDesc struct {
	fd      int
	read    func() error
	write   func() error
	lost    func(error)
	fdCalls int
	reads   int
	writes  int
	losses  []error
}

func (d *testDesc) Fd() int { d.fdCalls++; return d.fd }
func (d *testDesc) DoRead() error {
	d.reads++
	if d.read != nil {
		return d.read()
	}
	return nil
}
func (d *testDesc) DoWrite() error {
	d.writes++
	if d.write != nil {
		return d.write()
	}
	return nil
}
func (d *testDesc) ConnectionLost(err error) {
	d.losses = append(d.losses, err)
	if d.lost != nil {
		d.lost(err)
	}
}

// must fails the test on a non-nil error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// stopSoon stops r after two timed passes, giving it a chance to wrongly
// dispatch something first (Twisted's callLater(0, callLater, 0, stop)).
func stopSoon(t *testing.T, r *Reactor) {
	t.Helper()
	_, err := r.CallLater(0, func() {
		_, _ = r.CallLater(0, func() { must(t, r.Stop()) })
	})
	must(t, err)
}
