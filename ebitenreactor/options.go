package ebitenreactor

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"syscall"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
)

// An Option configures Wrap and RunGame.
type Option func(*config)

// Defaults.
const (
	// DefaultBudgetFraction is the share of a tick that draining the
	// reactor may take by default: a quarter, so that at 60 TPS the
	// network gets about 4.2 ms a tick and the game keeps the rest.
	DefaultBudgetFraction = 0.25
	// DefaultHistory is how many per-frame records are kept by default:
	// four seconds at 60 TPS.
	DefaultHistory = 240
	// DefaultShutdownTimeout is how long the reactor's shutdown waits for
	// before-shutdown triggers by default before it cuts them off.
	DefaultShutdownTimeout = 2 * time.Second
	// DefaultShutdownGrace is how long past the shutdown timeout the plugin
	// keeps the window open before it gives up on the reactor.
	DefaultShutdownGrace = time.Second
)

type config struct {
	budget        time.Duration // > 0: fixed
	fraction      float64       // of a tick, when budget is 0
	history       int
	logger        *slog.Logger
	shutdownTO    time.Duration
	shutdownTOSet bool // WithShutdownTimeout was given
	shutdownGrace time.Duration
	signals       []os.Signal
	handleClose   bool
	flush         bool
	graph         *NetGraph
	runOptions    *ebiten.RunGameOptions
	errs          []error
}

func defaultConfig() config {
	return config{
		fraction:      DefaultBudgetFraction,
		history:       DefaultHistory,
		shutdownTO:    DefaultShutdownTimeout,
		shutdownGrace: DefaultShutdownGrace,
		signals:       []os.Signal{os.Interrupt, syscall.SIGTERM},
		handleClose:   true,
		flush:         true,
	}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...))
}

// WithBudget sets a fixed time budget for draining the reactor each tick,
// whatever the TPS. d must be positive. It replaces WithBudgetFraction.
func WithBudget(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("drain budget %v is not positive", d)
			return
		}
		c.budget, c.fraction = d, 0
	}
}

// WithBudgetFraction sets the drain budget as a share of one tick at the
// current TPS (ebiten.TPS, read again every tick, so the budget follows
// SetTPS). f must be in (0, 1]. The default is DefaultBudgetFraction.
func WithBudgetFraction(f float64) Option {
	return func(c *config) {
		if !(f > 0 && f <= 1) || math.IsNaN(f) {
			c.fail("drain budget fraction %v is not in (0, 1]", f)
			return
		}
		c.budget, c.fraction = 0, f
	}
}

// WithHistory sets how many per-frame records (Frame) are kept for Frames
// and the net graph; n must be at least 2. Default DefaultHistory.
func WithHistory(n int) Option {
	return func(c *config) {
		if n < 2 || n > 1<<20 {
			c.fail("history length %d is not in [2, 2^20]", n)
			return
		}
		c.history = n
	}
}

// WithLogger sets where the plugin logs: shutdowns that reached the
// timeout, reactors abandoned at the hard deadline, signals received. By
// default the plugin logs through the reactor's logger (core.WithLogger,
// see (*core.Reactor).Logger), so one logger set on the reactor serves
// both; this option is only for sending the plugin's lines elsewhere.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			c.fail("nil logger")
			return
		}
		c.logger = l
	}
}

// WithShutdownTimeout sets how long the reactor's shutdown waits for
// before-shutdown triggers before it cuts them off (the plugin calls
// r.SetShutdownTimeout(d) in Wrap). d must be positive: a game window must
// close in bounded time. Without it the reactor's own timeout
// (core.WithShutdownTimeout) is used, and if the reactor has none
// (core's default: wait for ever), DefaultShutdownTimeout: one setting,
// on the reactor or here, never two that disagree.
func WithShutdownTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("shutdown timeout %v is not positive", d)
			return
		}
		c.shutdownTO = d
		c.shutdownTOSet = true
	}
}

// WithShutdownGrace sets how long past the shutdown timeout the plugin
// waits for the reactor to finish its shutdown before it closes the window
// anyway and reports ErrShutdownIncomplete (the hard deadline is timeout +
// grace). d must be positive. Default DefaultShutdownGrace.
func WithShutdownGrace(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("shutdown grace %v is not positive", d)
			return
		}
		c.shutdownGrace = d
	}
}

// WithSignals sets the signals that start an orderly shutdown, like a
// window close. The default is os.Interrupt and syscall.SIGTERM. With no
// arguments the plugin installs no signal handler. After the first such
// signal the handler is removed, so a second one has the signal's default
// effect (a second Ctrl-C kills a game whose shutdown hangs).
func WithSignals(sigs ...os.Signal) Option {
	return func(c *config) {
		for _, s := range sigs {
			if s == nil {
				c.fail("nil signal")
				return
			}
		}
		c.signals = append([]os.Signal(nil), sigs...)
	}
}

// WithCloseHandling sets whether the plugin takes over window closing
// (the default, true): it calls ebiten.SetWindowClosingHandled(true), and
// when the window is being closed it stops the reactor and keeps the window
// until the shutdown has finished. With false the plugin leaves window
// closing to Ebiten exactly as without it: the window closes at once,
// RunGame returns, and the reactor is then stopped and drained to the end
// on the goroutine that called RunGame.
//
// A game that already called ebiten.SetWindowClosingHandled(true) before
// Wrap handles closing itself: the plugin then does not act on
// IsWindowBeingClosed, and the game ends the run by returning an error
// (such as ebiten.Termination) from Update.
func WithCloseHandling(handle bool) Option {
	return func(c *config) { c.handleClose = handle }
}

// WithFlushOnShutdown sets whether the plugin closes every connection
// gracefully when the reactor's shutdown begins, whatever began it (window
// close, signal, the game's Update ending, r.Stop, Finish). With true, the
// default, it calls LoseConnection on every open connection
// ((*core.Reactor).LoseAllConnections) after the game's own
// Before-shutdown triggers have run, and the shutdown — and the window —
// waits until each connection has sent everything queued and closed, or
// until the shutdown timeout (WithShutdownTimeout; a connection's own
// linger time, core.WithLinger, bounds it too): the peers receive every
// byte written before the shutdown, then end of stream.
//
// With false the plugin leaves connections alone, for a game that wants
// its own goodbye order (a last message answered before closing, a
// connection closed after another): it adds its own Before-shutdown
// trigger and returns a channel that it closes when done. Whatever is
// still open when the Before-shutdown triggers are done is closed at once
// by the reactor, and what it had queued is dropped.
//
// A game that says goodbye on ShutdownStarted is too late for the default
// flush (the connections are closing by then, and Write returns
// core.ErrClosed): write goodbyes from a Before-shutdown trigger instead.
func WithFlushOnShutdown(flush bool) Option {
	return func(c *config) { c.flush = flush }
}

// WithNetGraph attaches a net graph made by NewNetGraph: the plugin feeds
// it every tick, toggles it with its key and draws it over the game's
// Draw. Keep the *NetGraph to feed it values (SetRTT, SetValue). Without
// this option the plugin makes a default one (hidden, toggled with F3);
// (*Game).NetGraph returns it.
func WithNetGraph(ng *NetGraph) Option {
	return func(c *config) {
		if ng == nil {
			c.fail("nil net graph")
			return
		}
		c.graph = ng
	}
}

// WithRunOptions sets the options RunGame passes to
// ebiten.RunGameWithOptions. Wrap ignores it.
func WithRunOptions(o *ebiten.RunGameOptions) Option {
	return func(c *config) { c.runOptions = o }
}
