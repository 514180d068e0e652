package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/threadedselect/reactor/core/internal/poller"
)

// An Option configures a Reactor made by New.
type Option func(*config)

type config struct {
	backend         string
	clock           Clock
	logger          *slog.Logger
	ringSize        int
	preenInterval   time.Duration
	shutdownTimeout time.Duration
	threadCheck     bool
	// wrapPoller lets the package's own tests inject poller faults.
	wrapPoller func(poller.Poller) poller.Poller
}

func defaultConfig() config {
	return config{
		ringSize:      4096,
		preenInterval: 250 * time.Millisecond,
		threadCheck:   threadCheckDefault,
	}
}

func (c *config) validate() error {
	if c.ringSize < 2 || c.ringSize&(c.ringSize-1) != 0 || c.ringSize > 1<<24 {
		return fmt.Errorf("%w: ring size %d is not a power of two between 2 and 2^24", ErrInvalidArgument, c.ringSize)
	}
	if c.preenInterval <= 0 {
		return fmt.Errorf("%w: preen interval %v is not positive", ErrInvalidArgument, c.preenInterval)
	}
	if c.shutdownTimeout < 0 {
		return fmt.Errorf("%w: shutdown timeout %v is negative", ErrInvalidArgument, c.shutdownTimeout)
	}
	_, err := findBackend(c.backend)
	return err
}

// WithBackend selects the poller backend by name ("epoll", "kqueue",
// "poll", ...); Backends lists those available. The default is the first
// of Backends.
func WithBackend(name string) Option { return func(c *config) { c.backend = name } }

// WithClock sets the clock that timers (CallLater) run by. Use a FakeClock
// to test timer logic without sleeping. The default is the system clock.
func WithClock(clk Clock) Option { return func(c *config) { c.clock = clk } }

// WithLogger sets where the reactor logs recovered panics, poller errors and
// abandoned shutdown triggers. The default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithRingSize sets how many entries the ring between the poll thread (and
// other goroutines) and the main thread holds; a power of two, default
// 4096. When it is full, nothing is lost: the poll thread stops taking
// readiness and CallFromThread waits until the main thread drains.
func WithRingSize(n int) Option { return func(c *config) { c.ringSize = n } }

// WithPreenInterval sets how often the main thread checks raw descriptors
// (AddReader/AddWriter) for having been closed or replaced behind the
// reactor's back, while any are registered. Default 250ms.
func WithPreenInterval(d time.Duration) Option { return func(c *config) { c.preenInterval = d } }

// WithShutdownTimeout bounds how long the shutdown sequence waits for
// before-shutdown triggers; see SetShutdownTimeout. Default 0: no bound.
func WithShutdownTimeout(d time.Duration) Option {
	return func(c *config) { c.shutdownTimeout = d }
}

// WithThreadCheck turns the check of the threading rule on or off. While
// the reactor runs, a call of Transport.Write or Writev, CallLater,
// CallEvery, AddReader or AddWriter from a goroutine other than the main
// thread is then logged as an error ("called off the main thread") with
// the caller's stack, so the mistake shows the day it is made rather than
// only under -race. A checked call costs a few microseconds (it reads the
// goroutine's id); with the check off, what remains is one predictable
// branch. Off by default; a program built with the tag reactor_threadcheck
// has it on by default.
func WithThreadCheck(on bool) Option { return func(c *config) { c.threadCheck = on } }
