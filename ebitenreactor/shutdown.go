package ebitenreactor

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hajimehoshi/ebiten/v2"

	"github.com/threadedselect/reactor/core"
)

// Cause says what started the reactor's shutdown.
type Cause int32

// The causes of a shutdown, as Cause reports them.
const (
	CauseNone           Cause = iota // no shutdown under way
	CauseWindowClosed                // the window was being closed
	CauseSignal                      // a termination signal (WithSignals)
	CauseGameEnded                   // the game's Update returned an error or ebiten.Termination
	CauseReactorStopped              // r.Stop was called, from anywhere
	CauseReactorFailed               // the reactor's poller failed (r.Err)
	CausePlatformClosed              // ebiten.RunGame returned with the reactor still running
)

var causeNames = [...]string{"none", "window closed", "signal", "game ended", "reactor stopped", "reactor failed", "platform closed"}

func (c Cause) String() string {
	if c >= 0 && int(c) < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("Cause(%d)", int32(c))
}

// ShutdownObserver is implemented by a game that wants to be told when the
// reactor's shutdown begins, for instance to show "disconnecting…". The
// plugin calls ShutdownStarted once, on the game goroutine, before the
// game's Update of the tick on which it noticed the shutdown (or, if
// ebiten.RunGame had already returned, from Finish on its goroutine). The
// game's Update and Draw go on being called until the shutdown finishes,
// unless Update itself returned an error. By then the connections are
// already closing (WithFlushOnShutdown): write a last message from a
// Before-shutdown trigger instead.
type ShutdownObserver interface {
	ShutdownStarted(cause Cause)
}

// shutdown is the plugin's view of the reactor's shutdown. Game goroutine
// only, except cause.
type shutdown struct {
	cause     atomic.Int32 // a Cause; CauseNone until the shutdown is asked for or seen
	startAt   time.Time    // when it was first asked for or seen
	wantStop  bool         // the plugin asked the reactor to stop
	began     bool         // the reactor's shutdown sequence has begun (our Before trigger ran)
	notified  bool
	gameDone  bool // the game's Update returned an error: do not call it again
	gameErr   error
	ended     bool // Update returned its final error
	abandoned bool // the hard deadline passed before the shutdown finished
	endErr    error
}

// ShuttingDown reports whether the reactor's shutdown has been asked for or
// is under way. Safe from any goroutine.
func (g *Game) ShuttingDown() bool { return g.Cause() != CauseNone }

// Cause reports what started the shutdown, or CauseNone. Safe from any
// goroutine.
func (g *Game) Cause() Cause { return Cause(g.sd.cause.Load()) }

// setCause records the first cause and when it happened.
func (g *Game) setCause(c Cause) {
	if g.sd.cause.CompareAndSwap(int32(CauseNone), int32(c)) {
		g.sd.startAt = time.Now()
	}
}

// watchStops acts on window close requests and signals, and asks the
// reactor again to stop if it could not yet.
func (g *Game) watchStops() {
	if g.ownsClose && ebiten.IsWindowBeingClosed() {
		g.requestStop(CauseWindowClosed)
	}
	if sig, ok := g.sig.poll(); ok {
		g.log.Info("ebitenreactor: signal received; shutting the reactor down", "signal", sig.String())
		g.requestStop(CauseSignal)
	}
	if g.sd.wantStop && !g.sd.began {
		g.tryStop()
	}
}

// requestStop asks the reactor to stop, recording why.
func (g *Game) requestStop(c Cause) {
	g.setCause(c)
	g.sd.wantStop = true
	g.tryStop()
}

// tryStop calls r.Stop. core answers ErrNotRunning both when the shutdown
// is already under way (fine: our Before trigger will say so) and while
// the reactor is still starting (its startup triggers are pending): then
// watchStops retries every tick until the shutdown has begun.
func (g *Game) tryStop() {
	_ = g.r.Stop()
}

// shutdownBegan is the plugin's Before-shutdown trigger: the reactor has
// begun its shutdown, whoever asked for it. It runs on the main thread,
// inside a drain.
//
// With WithFlushOnShutdown(true), the default, it adds flushConnections as
// one more Before-shutdown trigger: a trigger added while the phase runs
// runs in the same firing, after every trigger already registered, so the
// game's own Before triggers (its goodbyes) write first, and the flush
// closes what they left open.
func (g *Game) shutdownBegan() <-chan struct{} {
	g.sd.began = true
	if g.r.Err() != nil {
		g.setCause(CauseReactorFailed)
	} else {
		g.setCause(CauseReactorStopped)
	}
	if !g.cfg.flush {
		return nil
	}
	if _, err := g.r.AddSystemEventTrigger(core.Before, core.Shutdown, g.flushConnections); err != nil {
		// Cannot happen with these arguments; flush now rather than not.
		g.log.Warn("ebitenreactor: could not defer the flush of the connections; flushing them now", "err", err)
		return g.flushConnections()
	}
	return nil
}

// flushConnections is the last Before-shutdown trigger
// (WithFlushOnShutdown): LoseConnection on every open connection, and the
// shutdown waits — bounded by the shutdown timeout — until each has sent
// everything queued and closed.
func (g *Game) flushConnections() <-chan struct{} {
	st := g.r.Stats()
	g.log.Debug("ebitenreactor: closing every connection once it has sent what is queued",
		"conns", st.Conns, "queuedBytes", st.QueuedBytes)
	return g.r.LoseAllConnections()
}

// notifyShutdown tells a ShutdownObserver game, once.
func (g *Game) notifyShutdown() {
	if g.sd.notified || g.Cause() == CauseNone {
		return
	}
	g.sd.notified = true
	if o, ok := g.game.(ShutdownObserver); ok {
		o.ShutdownStarted(g.Cause())
	}
}

// deadline is when the plugin gives up on the shutdown: the reactor's own
// timeout plus the grace period, from when the shutdown was asked for.
func (s *shutdown) deadline(cfg *config) time.Time {
	return s.startAt.Add(cfg.shutdownTO + cfg.shutdownGrace)
}

func (s *shutdown) pastDeadline(cfg *config) bool {
	return !s.startAt.IsZero() && time.Now().After(s.deadline(cfg))
}

// end is the last tick of a finished shutdown: it returns what ends
// ebiten.RunGame. The game's own error is returned unchanged (Ebiten maps
// ebiten.Termination to a nil result itself).
func (g *Game) end() error {
	g.sd.ended = true
	g.sig.stop()
	g.logFinished()
	switch {
	case g.sd.gameErr != nil:
		g.sd.endErr = g.sd.gameErr
	case g.r.Err() != nil:
		g.sd.endErr = g.r.Err()
	default:
		g.sd.endErr = ebiten.Termination
	}
	return g.sd.endErr
}

// resultErr is what the run reports when Ebiten itself returned nil: the
// game's own error unless it was ebiten.Termination, else
// ErrShutdownIncomplete for an abandoned shutdown, else the reactor's
// poller error, else nil.
func (g *Game) resultErr() error {
	if err := g.sd.gameErr; err != nil && !errors.Is(err, ebiten.Termination) {
		return err
	}
	if g.sd.abandoned {
		err := fmt.Errorf("%w: gave up %v after it began (shutdown timeout %v + grace %v)",
			ErrShutdownIncomplete, time.Since(g.sd.startAt).Round(time.Millisecond), g.cfg.shutdownTO, g.cfg.shutdownGrace)
		if rerr := g.r.Err(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	return g.r.Err()
}

// logFinished logs a shutdown that reached the reactor's timeout: core then
// cut off the before-shutdown triggers that had not finished, and logged
// each through its own logger.
func (g *Game) logFinished() {
	if g.sd.startAt.IsZero() {
		return
	}
	took := time.Since(g.sd.startAt)
	if took >= g.cfg.shutdownTO {
		g.log.Warn("ebitenreactor: the reactor's shutdown reached its timeout; before-shutdown triggers still waiting were cut off (the reactor's log names them)",
			"cause", g.Cause().String(), "took", took.Round(time.Millisecond), "timeout", g.cfg.shutdownTO)
		return
	}
	g.log.Debug("ebitenreactor: the reactor's shutdown finished", "cause", g.Cause().String(), "took", took)
}

// abandon ends the run although the reactor's shutdown has not finished:
// the window must close in bounded time. The reactor is left as it is.
func (g *Game) abandon() error {
	g.sd.ended = true
	g.sd.abandoned = true
	g.sig.stop()
	st := g.r.Stats()
	g.log.Error("ebitenreactor: the reactor did not finish its shutdown in time; closing the window anyway",
		"cause", g.Cause().String(), "waited", time.Since(g.sd.startAt).Round(time.Millisecond),
		"timeout", g.cfg.shutdownTO, "grace", g.cfg.shutdownGrace,
		"queued", st.RingDepth, "conns", st.Conns, "queuedBytes", st.QueuedBytes)
	g.sd.endErr = g.resultErr() // never nil once abandoned
	return g.sd.endErr
}

// finishPoll is how often Finish drains while it waits for the shutdown
// to finish after ebiten.RunGame returned; finishBudget bounds one drain.
// There is no frame left to protect, so the budget is generous.
const (
	finishPoll   = time.Millisecond
	finishBudget = 50 * time.Millisecond
)

// Finish completes the run after ebiten.RunGame returned; pass it what
// ebiten.RunGame returned and report what it returns. If the plugin ended
// the run itself (the shutdown finished), it only removes the signal
// handler. If ebiten.RunGame returned with the reactor still running (a
// platform that closes the window on its own, WithCloseHandling(false), or
// an error from Ebiten), Finish stops the reactor and drains it to the end
// on the calling goroutine, which becomes the reactor's main thread, so the
// shutdown triggers still run exactly once; it gives up at the same hard
// deadline as Update (the shutdown timeout plus grace).
//
// It returns runErr when it is not nil, else the reactor's poller error,
// else ErrShutdownIncomplete if the shutdown was abandoned, else nil. Call it
// once, on the goroutine that called ebiten.RunGame, after RunGame
// returned; later calls only return runErr.
func (g *Game) Finish(runErr error) error {
	if g.finished {
		return runErr
	}
	g.finished = true
	g.sig.stop()
	if !g.sd.ended {
		g.requestStop(CausePlatformClosed)
		g.notifyShutdown()
		g.drainToEnd()
	}
	if runErr != nil {
		return runErr
	}
	return g.resultErr()
}

// drainToEnd drains the reactor on the calling goroutine until its
// shutdown has finished or the hard deadline has passed.
func (g *Game) drainToEnd() {
	g.setCause(CausePlatformClosed)
	deadline := g.sd.deadline(&g.cfg)
	var t *time.Timer
	for {
		if g.sd.wantStop && !g.sd.began {
			g.tryStop()
		}
		if st := g.r.Drain(finishBudget); st.Finished {
			g.sd.ended = true
			g.logFinished()
			break
		}
		if time.Now().After(deadline) {
			_ = g.abandon()
			break
		}
		// Wait for I/O the shutdown depends on (a before-shutdown trigger
		// flushing a connection) without spinning.
		if t == nil {
			t = time.NewTimer(finishPoll)
		} else {
			t.Reset(finishPoll)
		}
		<-t.C
	}
	if t != nil {
		t.Stop()
	}
}
