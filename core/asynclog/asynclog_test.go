package asynclog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gatedWriter is a writer that blocks every Write while the gate is shut,
// and announces each Write it enters.
type gatedWriter struct {
	mu      sync.Mutex
	b       bytes.Buffer
	open    chan struct{} // closed: writes go through
	entered chan struct{} // one value per Write entered
	changed chan struct{} // closed and replaced on every completed write
}

func newGatedWriter(open bool) *gatedWriter {
	w := &gatedWriter{open: make(chan struct{}), entered: make(chan struct{}, 1<<16), changed: make(chan struct{})}
	if open {
		close(w.open)
	}
	return w
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.open
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.changed)
	w.changed = make(chan struct{})
	return w.b.Write(p)
}

func (w *gatedWriter) release() { close(w.open) }

func (w *gatedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// lines returns the lines written that contain s.
func (w *gatedWriter) lines(s string) []string {
	var out []string
	for _, l := range strings.Split(w.String(), "\n") {
		if l != "" && strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// waitFor waits until cond holds on what was written, or fails after
// timeout.
func (w *gatedWriter) waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		ch := w.changed
		w.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s; written:\n%s", timeout, what, w)
		}
	}
}

func noTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

func textHandler(w *gatedWriter) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: noTime})
}

// A writer that never returns cannot hold up Handle: 10,000 records are
// handled while the writer is blocked in its first Write; the queue keeps
// what fits and the rest are counted as dropped, exactly.
func TestHandleNeverBlocksOnASlowWriter(t *testing.T) {
	const queue, n = 16, 10000
	w := newGatedWriter(false)
	h := New(textHandler(w), &Options{QueueSize: queue, ReportInterval: time.Hour})
	log := slog.New(h)
	log.Info("first") // the goroutine takes it and blocks in Write
	select {
	case <-w.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's goroutine did not start writing")
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			log.Info("record", "i", i)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Handle blocked behind a writer that does not return")
	}
	if got, want := h.Dropped(), uint64(n-queue); got != want {
		t.Fatalf("dropped %d, want %d", got, want)
	}

	w.release()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	// Written: first, the queue's records in order, then the summary.
	if got := len(w.lines("msg=record")); got != queue {
		t.Fatalf("%d records written, want %d:\n%s", got, queue, w)
	}
	for i, l := range w.lines("msg=record") {
		if want := fmt.Sprintf("level=INFO msg=record i=%d", i); l != want {
			t.Fatalf("line %d: %q, want %q", i, l, want)
		}
	}
	sum := w.lines(SummaryMessage)
	want := fmt.Sprintf("level=WARN msg=%q dropped=%d dropped_total=%d", SummaryMessage, n-queue, n-queue)
	if len(sum) != 1 || sum[0] != want {
		t.Fatalf("summary %q, want %q", sum, want)
	}
	if !strings.HasSuffix(strings.TrimRight(w.String(), "\n"), want) {
		t.Fatalf("the summary is not the last line:\n%s", w)
	}
}

// While records keep being dropped, a summary is logged once per interval
// with the count since the previous one; nothing is logged once no more
// are dropped.
func TestPeriodicSummary(t *testing.T) {
	w := newGatedWriter(true)
	h := New(textHandler(w), &Options{QueueSize: 1, ReportInterval: 20 * time.Millisecond, SummaryLevel: slog.LevelError})
	defer h.Close()
	// The writer is open, so the queue drains; a one-record queue still
	// overflows when records come faster than they are written. The loops
	// stop on the handler's own count.
	log := slog.New(h)
	for h.Dropped() < 3 {
		log.Info("x")
	}
	first := h.Dropped()
	w.waitFor(t, 10*time.Second, "a summary", func() bool { return len(w.lines(SummaryMessage)) >= 1 })
	for h.Dropped() < first+5 {
		log.Info("y")
	}
	total := h.Dropped()
	w.waitFor(t, 10*time.Second, "a summary of every drop", func() bool {
		sum := w.lines(SummaryMessage)
		return len(sum) >= 2 && strings.Contains(sum[len(sum)-1], fmt.Sprintf("dropped_total=%d", total))
	})
	sum := w.lines(SummaryMessage)
	var counted uint64
	for _, l := range sum {
		if !strings.Contains(l, "level=ERROR") {
			t.Fatalf("summary at the wrong level: %q", l)
		}
		var n, tot uint64
		if _, err := fmt.Sscanf(l[strings.Index(l, "dropped="):], "dropped=%d dropped_total=%d", &n, &tot); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		counted += n
		if tot != counted {
			t.Fatalf("summaries do not add up: %q", sum)
		}
	}
	if counted != total {
		t.Fatalf("summaries count %d drops, the handler %d", counted, total)
	}
}

// Close writes every queued record, in order, and returns only then;
// records after Close are dropped with ErrClosed; Close again is harmless;
// derived handlers share the queue and the closing.
func TestCloseFlushes(t *testing.T) {
	w := newGatedWriter(false)
	h := New(textHandler(w), &Options{QueueSize: 100})
	log := slog.New(h).With("conn", 7).WithGroup("g")
	for i := range 50 {
		log.Info("rec", "i", i)
	}
	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the records were written", err)
	case <-w.entered:
	}
	w.release()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	lines := w.lines("msg=rec")
	if len(lines) != 50 {
		t.Fatalf("%d lines written:\n%s", len(lines), w)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("level=INFO msg=rec conn=7 g.i=%d", i); l != want {
			t.Fatalf("line %d: %q, want %q", i, l, want)
		}
	}
	if len(w.lines(SummaryMessage)) != 0 {
		t.Fatalf("a summary without drops:\n%s", w)
	}
	derived := log.Handler()
	if err := derived.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "late", 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Handle after Close: %v", err)
	}
	if h.Dropped() != 1 {
		t.Fatalf("dropped %d, want 1", h.Dropped())
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Shutdown gives up at its deadline when the writer is stuck, and the
// goroutine ends once the writer returns (goleak checks that it did).
func TestShutdownDeadline(t *testing.T) {
	w := newGatedWriter(false)
	h := New(textHandler(w), nil)
	slog.New(h).Info("stuck")
	<-w.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a stuck writer: %v", err)
	}
	w.release()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if len(w.lines("msg=stuck")) != 1 {
		t.Fatalf("written:\n%s", w)
	}
}

// Enabled follows the wrapped handler's level, so disabled records cost
// nothing and are not counted.
func TestEnabled(t *testing.T) {
	w := newGatedWriter(true)
	h := New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}), nil)
	log := slog.New(h)
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelWarn) {
		t.Fatal("Enabled does not follow the wrapped handler")
	}
	log.Info("no")
	log.Warn("yes")
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if len(w.lines("msg=no")) != 0 || len(w.lines("msg=yes")) != 1 || h.Dropped() != 0 {
		t.Fatalf("written:\n%s", w)
	}
}

// Many goroutines log at once, some while Close runs: nothing races (run
// with -race), and every record is either written or counted as dropped.
func TestConcurrentHandleAndClose(t *testing.T) {
	w := newGatedWriter(true)
	h := New(textHandler(w), &Options{QueueSize: 64})
	log := slog.New(h)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				log.Info("c", "g", g, "i", i)
			}
		}()
	}
	close(start)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	written := uint64(len(w.lines("msg=c ")))
	if written+h.Dropped() != goroutines*each {
		t.Fatalf("%d written + %d dropped != %d", written, h.Dropped(), goroutines*each)
	}
}
