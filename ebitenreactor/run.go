package ebitenreactor

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/hajimehoshi/ebiten/v2"

	"github.com/threadedselect/reactor/core"
)

// RunGame runs game with the reactor r, in place of ebiten.RunGame: the
// reactor's queued work is drained at the start of every tick, before the
// game's own Update, within a frame budget; closing the window, a
// termination signal, the game's Update returning an error, or r.Stop from
// anywhere all lead to the reactor's orderly shutdown, after which the
// window closes and RunGame returns.
//
// RunGame starts the reactor (r.Start) on the calling goroutine if it is
// not started yet, so startup triggers run there, before the window opens;
// every later callback runs on Ebiten's game goroutine, the one that runs
// the game's Update and Draw. A reactor the caller started with Start on
// this same goroutine is accepted; one run by Run, Interleave or another
// goroutine's Drain loop is refused with ErrDrivenElsewhere.
//
// It returns the error the game's Update returned, unchanged (nil for
// ebiten.Termination), else the reactor's poller error that shut it down
// (core.PollerError), else ErrShutdownIncomplete if the shutdown had to be
// abandoned, else what ebiten.RunGame returned. It must be called on the
// main goroutine, like ebiten.RunGame, and only once per process.
func RunGame(game ebiten.Game, r *core.Reactor, opts ...Option) error {
	g, err := Wrap(game, r, opts...)
	if err != nil {
		return err
	}
	return g.Finish(ebiten.RunGameWithOptions(g.EbitenGame(), g.cfg.runOptions))
}

// Game wraps an ebiten.Game and drives a reactor from it; it implements
// ebiten.Game (and ebiten.LayoutFer, forwarding to the wrapped game's
// LayoutF or its Layout exactly as Ebiten would). Make one with Wrap for a
// program that calls ebiten.RunGame itself, and call Finish after
// ebiten.RunGame returns.
//
// Concurrency: Ebiten calls Update, Draw and Layout on its game goroutine,
// and every reactor callback runs there too, inside Update; the plugin
// takes no locks. The other methods must be called on that goroutine as
// well (before ebiten.RunGame, on the goroutine that called Wrap), except
// ShuttingDown and Cause, which are safe from any goroutine, and Finish,
// which is called after ebiten.RunGame returned.
type Game struct {
	game  ebiten.Game
	r     *core.Reactor
	cfg   config
	log   *slog.Logger
	graph *NetGraph

	budget budget
	hist   history
	sig    signalWatch
	sd     shutdown

	// ownsClose: the plugin called SetWindowClosingHandled(true) and acts
	// on IsWindowBeingClosed.
	ownsClose bool
	tickStart time.Time // when this tick's Update began
	finished  bool      // Finish has run
}

// Wrap makes a Game that runs game with the reactor r; pass
// g.EbitenGame() (or g itself, for a game that does not implement
// ebiten.FinalScreenDrawer) to ebiten.RunGame, then call g.Finish with
// what it returned:
//
//	g, err := ebitenreactor.Wrap(game, r)
//	if err != nil { ... }
//	err = g.Finish(ebiten.RunGame(g.EbitenGame()))
//
// Wrap starts the reactor (r.Start) on the calling goroutine unless the
// caller already did on this goroutine (see RunGame), sets the reactor's
// shutdown timeout (WithShutdownTimeout), takes over window closing
// (WithCloseHandling) and installs the signal handler (WithSignals). Once
// Wrap has succeeded, call Finish in every case, even if ebiten.RunGame is
// never called: it stops and drains the reactor and removes the handler.
// Wrap must be called on the goroutine that will call ebiten.RunGame.
func Wrap(game ebiten.Game, r *core.Reactor, opts ...Option) (*Game, error) {
	if game == nil {
		return nil, fmt.Errorf("%w: nil game", ErrInvalidArgument)
	}
	if r == nil {
		return nil, fmt.Errorf("%w: nil reactor", ErrInvalidArgument)
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if len(cfg.errs) > 0 {
		return nil, errors.Join(cfg.errs...)
	}
	ng := cfg.graph
	if ng == nil {
		ng, _ = NewNetGraph()
	}
	if ng.src != nil {
		return nil, fmt.Errorf("%w: the net graph is already attached to another Game", ErrInvalidArgument)
	}
	g := &Game{
		game:   game,
		r:      r,
		cfg:    cfg,
		log:    cfg.logger,
		graph:  ng,
		budget: budget{fixed: cfg.budget, fraction: cfg.fraction},
		hist:   newHistory(cfg.history),
	}
	if g.log == nil {
		g.log = r.Logger()
	}
	if err := g.start(); err != nil {
		return nil, err
	}
	switch {
	case cfg.shutdownTOSet:
		r.SetShutdownTimeout(cfg.shutdownTO)
	case r.ShutdownTimeout() > 0:
		g.cfg.shutdownTO = r.ShutdownTimeout() // the reactor's own setting
	default:
		r.SetShutdownTimeout(cfg.shutdownTO)
	}
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, g.shutdownBegan); err != nil {
		// Cannot happen with these arguments; do not leave a reactor we
		// started running behind a failed Wrap.
		g.abortStart()
		return nil, fmt.Errorf("ebitenreactor: registering the shutdown trigger: %w", err)
	}
	if cfg.handleClose && !ebiten.IsWindowClosingHandled() {
		ebiten.SetWindowClosingHandled(true)
		g.ownsClose = true
	}
	g.sig.start(cfg.signals)
	ng.src = g
	return g, nil
}

// start starts the reactor for draining, or accepts one the caller started
// for draining on this goroutine.
func (g *Game) start() error {
	err := g.r.Start()
	if err == nil {
		return nil
	}
	if !errors.Is(err, core.ErrAlreadyRunning) {
		return fmt.Errorf("ebitenreactor: starting the reactor: %w", err)
	}
	// A reactor the caller started for draining on this goroutine is
	// ours to drain; one under Run or Interleave, or drained elsewhere, is
	// not.
	if g.r.Mode() != core.DrivenByDrain || !g.r.InMainThread() {
		return fmt.Errorf("%w: it is driven by %v on another goroutine; let Wrap start it, or call Start on the goroutine that calls Wrap", ErrDrivenElsewhere, g.r.Mode())
	}
	return nil
}

// abortStart undoes start after a later failure in Wrap: stop the reactor
// and drain it to the end here.
func (g *Game) abortStart() {
	_ = g.r.Stop()
	g.drainToEnd()
}

// EbitenGame returns the value to pass to ebiten.RunGame: g itself, or, if
// the wrapped game implements ebiten.FinalScreenDrawer, g extended with a
// DrawFinalScreen that forwards to it. (Ebiten looks for optional methods
// by type assertion, so one type cannot have DrawFinalScreen only
// sometimes, and Ebiten's own default final-screen drawing cannot be
// reproduced from outside.) Call it before ebiten.RunGame, on the
// goroutine that called Wrap.
func (g *Game) EbitenGame() ebiten.Game {
	if fs, ok := g.game.(ebiten.FinalScreenDrawer); ok {
		return &finalScreenGame{Game: g, fs: fs}
	}
	return g
}

type finalScreenGame struct {
	*Game
	fs ebiten.FinalScreenDrawer
}

// DrawFinalScreen forwards to the wrapped game.
func (f *finalScreenGame) DrawFinalScreen(screen ebiten.FinalScreen, offscreen *ebiten.Image, geoM ebiten.GeoM) {
	f.fs.DrawFinalScreen(screen, offscreen, geoM)
}

// Reactor returns the reactor g drives. Any goroutine.
func (g *Game) Reactor() *core.Reactor { return g.r }

// NetGraph returns g's net graph: the one given to WithNetGraph, or the
// default one. Game goroutine only, like the graph's methods.
func (g *Game) NetGraph() *NetGraph { return g.graph }

// Update implements ebiten.Game. Every tick it: notices a window close
// request or a termination signal and stops the reactor; toggles the net
// graph on its key; drains the reactor's queued work within the budget
// (every reactor callback runs here); records the Frame; tells the game
// if the shutdown began (ShutdownObserver); and then calls the game's
// Update, unless the game already returned an error. Once the reactor's
// shutdown sequence has finished it returns ebiten.Termination (or the
// game's error), which ends ebiten.RunGame.
func (g *Game) Update() error {
	if g.sd.ended {
		return g.sd.endErr
	}
	g.tickStart = time.Now()
	g.watchStops()
	g.graph.handleKey()

	st, cpu := g.drain()
	g.record(&st, cpu)
	g.notifyShutdown()
	if st.Finished {
		return g.end()
	}
	if g.sd.pastDeadline(&g.cfg) {
		return g.abandon()
	}
	if !g.sd.gameDone {
		if err := g.game.Update(); err != nil {
			g.sd.gameDone = true
			g.sd.gameErr = err
			g.requestStop(CauseGameEnded)
		}
	}
	return nil
}

// drain runs the reactor's queued work within this tick's budget, and
// measures the CPU time it took on this thread. The goroutine is kept on
// its thread meanwhile (the lock nests, so a game that locked it already
// keeps its lock), so that the two readings are of the same thread.
func (g *Game) drain() (core.DrainStats, time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0, ok := threadCPUTime()
	st := g.r.Drain(g.budget.current())
	if !ok {
		return st, 0
	}
	c1, _ := threadCPUTime()
	return st, c1 - c0
}

// record writes this tick's Frame into the history ring, in place.
func (g *Game) record(st *core.DrainStats, cpu time.Duration) {
	f := g.hist.push()
	seq := f.Seq
	*f = Frame{
		Seq:       seq,
		At:        g.tickStart,
		Budget:    st.Budget,
		Elapsed:   st.Elapsed,
		CPU:       cpu,
		Ran:       st.Ran,
		Left:      st.Left,
		Depth:     st.Depth,
		HighWater: st.HighWater,
		Stopping:  g.sd.cause.Load() != int32(CauseNone),
		Stats:     g.r.Stats(),
	}
}

// Draw implements ebiten.Game: the game's Draw, then the net graph over it
// when it is visible.
func (g *Game) Draw(screen *ebiten.Image) {
	g.game.Draw(screen)
	if g.graph.Visible() {
		g.graph.Draw(screen)
	}
}

// Layout implements ebiten.Game by forwarding to the wrapped game.
func (g *Game) Layout(outsideWidth, outsideHeight int) (int, int) {
	return g.game.Layout(outsideWidth, outsideHeight)
}

// LayoutF implements ebiten.LayoutFer: the wrapped game's LayoutF if it
// has one, else its Layout called the way Ebiten calls it for a game
// without LayoutF (sizes below 1 raised to 1, truncated to integers), so
// wrapping changes nothing.
func (g *Game) LayoutF(outsideWidth, outsideHeight float64) (float64, float64) {
	if l, ok := g.game.(ebiten.LayoutFer); ok {
		return l.LayoutF(outsideWidth, outsideHeight)
	}
	w, h := g.game.Layout(int(max(outsideWidth, 1)), int(max(outsideHeight, 1)))
	return float64(w), float64(h)
}
