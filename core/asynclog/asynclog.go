// Package asynclog provides a log/slog Handler that never blocks its caller.
//
// A server on the reactor logs from its main thread, the thread that runs
// every callback. A log line written synchronously to a slow sink (a pipe
// nobody empties fast enough, a slow journald, a terminal scrolled by a
// human) stalls that thread, and with it every connection and timer. Handler
// puts records in a bounded queue and returns at once; one goroutine of its
// own takes them from the queue and hands them to the wrapped Handler, which
// does the writing. When the queue is full, a record is dropped and counted,
// and once every Options.ReportInterval at most the handler logs a summary
// record (message "asynclog: records dropped", attributes dropped and
// dropped_total) through the wrapped Handler, so that a reader of the log
// knows that lines are missing and how many.
//
// Close (or Shutdown, which gives up waiting at a deadline) writes what is
// queued, logs the last summary and stops the goroutine. A Handler that is
// never closed keeps its goroutine.
//
// Handle costs one copy of the record (slog.Record.Clone) and a
// non-blocking channel send. The order of records is kept.
package asynclog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultQueueSize      = 1024
	DefaultReportInterval = time.Second
)

// SummaryMessage is the message of the summary record that reports dropped
// records.
const SummaryMessage = "asynclog: records dropped"

// ErrClosed is returned by Handle after Close: the record is dropped (and
// counted).
var ErrClosed = errors.New("asynclog: handler closed")

// Options configure a Handler. The zero value of a field means its default.
type Options struct {
	// QueueSize is how many records may wait for the wrapped Handler;
	// default DefaultQueueSize.
	QueueSize int
	// ReportInterval is the shortest time between two summary records;
	// default DefaultReportInterval.
	ReportInterval time.Duration
	// SummaryLevel is the level of the summary records; default
	// slog.LevelWarn.
	SummaryLevel slog.Leveler
}

// Handler is a slog.Handler that queues records for another Handler. Its
// methods are safe for concurrent use. Handlers made by WithAttrs and
// WithGroup share the queue, the goroutine and the counters of the Handler
// they come from.
type Handler struct {
	next slog.Handler // this handler's view: with its attrs and groups
	q    *queue
}

// entry is one queued record, with the handler (attrs, groups) it goes to.
type entry struct {
	h   slog.Handler
	ctx context.Context
	r   slog.Record
}

// queue is what a Handler and the handlers derived from it share.
type queue struct {
	base     slog.Handler // the Handler given to New: summaries go there
	ch       chan entry
	interval time.Duration
	level    slog.Leveler

	// mu orders Handle's send against Close: Handle holds it for reading
	// during one non-blocking send, Close for writing while it sets closed.
	mu     sync.RWMutex
	closed bool

	dropped atomic.Uint64 // records dropped, ever
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the goroutine has finished
	once    sync.Once
}

// New returns a Handler that queues records for next, and starts its
// goroutine. opts may be nil. Call Close when done with it.
func New(next slog.Handler, opts *Options) *Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.ReportInterval <= 0 {
		o.ReportInterval = DefaultReportInterval
	}
	if o.SummaryLevel == nil {
		o.SummaryLevel = slog.LevelWarn
	}
	q := &queue{
		base:     next,
		ch:       make(chan entry, o.QueueSize),
		interval: o.ReportInterval,
		level:    o.SummaryLevel,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go q.run()
	return &Handler{next: next, q: q}
}

// Enabled reports whether the wrapped Handler handles records of level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle queues a copy of r and returns at once. If the queue is full the
// record is dropped and counted; after Close it is dropped, counted, and
// Handle returns ErrClosed. ctx is passed on to the wrapped Handler with the
// record, later, on another goroutine.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	q := h.q
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.dropped.Add(1)
		return ErrClosed
	}
	select {
	case q.ch <- entry{h: h.next, ctx: ctx, r: r.Clone()}:
	default:
		q.dropped.Add(1)
	}
	return nil
}

// WithAttrs returns a Handler whose records carry attrs, sharing h's queue.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), q: h.q}
}

// WithGroup returns a Handler that puts later attributes in group name,
// sharing h's queue.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), q: h.q}
}

// Dropped returns how many records were dropped so far: queue full, or
// handled after Close.
func (h *Handler) Dropped() uint64 { return h.q.dropped.Load() }

// Close stops accepting records, waits until every queued record and a last
// summary (if records were dropped since the previous one) have been handed
// to the wrapped Handler, and stops the goroutine. It closes the handlers
// derived from h too. Calling it again waits the same way and returns nil.
func (h *Handler) Close() error {
	return h.Shutdown(context.Background())
}

// Shutdown is Close with a deadline: if ctx is done before the queue is
// written (the writer is stuck), it returns ctx.Err() and the goroutine
// finishes on its own once the wrapped Handler returns.
func (h *Handler) Shutdown(ctx context.Context) error {
	q := h.q
	q.once.Do(func() {
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		close(q.stop)
	})
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the goroutine: it hands the queued records to their handlers and
// reports drops.
func (q *queue) run() {
	defer close(q.done)
	tick := time.NewTicker(q.interval)
	defer tick.Stop()
	var reported uint64
	report := func() {
		total := q.dropped.Load()
		if total == reported {
			return
		}
		ctx := context.Background()
		if q.base.Enabled(ctx, q.level.Level()) {
			r := slog.NewRecord(time.Now(), q.level.Level(), SummaryMessage, 0)
			r.AddAttrs(slog.Uint64("dropped", total-reported), slog.Uint64("dropped_total", total))
			_ = q.base.Handle(ctx, r)
		}
		reported = total
	}
	for {
		select {
		case e := <-q.ch:
			_ = e.h.Handle(e.ctx, e.r)
		case <-tick.C:
			report()
		case <-q.stop:
			// Handle can no longer send (closed is set under the lock
			// before stop is closed), so draining empties the queue.
			for {
				select {
				case e := <-q.ch:
					_ = e.h.Handle(e.ctx, e.r)
					continue
				default:
				}
				break
			}
			report()
			return
		}
	}
}
