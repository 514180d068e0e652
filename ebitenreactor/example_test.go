package ebitenreactor_test

// The examples that open a window have no Output line: they compile in
// `go test` but do not run (a test process may call ebiten.RunGame only
// once, and only on its main goroutine). ExampleGame_Finish runs: it needs
// no window.

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/hajimehoshi/ebiten/v2"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/ebitenreactor"
)

// myGame is a game that shows "disconnecting…" while the reactor shuts
// down: it implements ebitenreactor.ShutdownObserver.
type myGame struct {
	status string
	ng     *ebitenreactor.NetGraph
	rtt    time.Duration
}

func (g *myGame) Update() error {
	g.ng.SetRTT(g.rtt) // measured by the game's protocol
	return nil
}

func (g *myGame) Draw(screen *ebiten.Image)           {}
func (g *myGame) Layout(w, h int) (int, int)          { return 640, 360 }
func (g *myGame) ShutdownStarted(ebitenreactor.Cause) { g.status = "disconnecting…" }

// A game with networking: the reactor's work runs at the start of every
// tick, the net graph toggles with F3, and closing the window or Ctrl-C
// says goodbye to peers before the window closes.
func Example() {
	r, err := core.New()
	if err != nil {
		log.Fatal(err)
	}
	ng, err := ebitenreactor.NewNetGraph()
	if err != nil {
		log.Fatal(err)
	}
	game := &myGame{ng: ng}
	// Say goodbye to peers before the connections close: the shutdown
	// waits for the returned channel (at most the shutdown timeout).
	goodbye := make(chan struct{})
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} {
		// Send the goodbye message, close goodbye once it is flushed.
		close(goodbye)
		return goodbye
	}); err != nil {
		log.Fatal(err)
	}
	ebiten.SetWindowTitle("my game")
	if err := ebitenreactor.RunGame(game, r,
		ebitenreactor.WithNetGraph(ng),
		ebitenreactor.WithShutdownTimeout(3*time.Second),
	); err != nil {
		log.Fatal(err)
	}
}

// A program that calls ebiten.RunGame itself wraps its game, and finishes
// the run with what RunGame returned.
func ExampleWrap() {
	r, err := core.New()
	if err != nil {
		log.Fatal(err)
	}
	ng, _ := ebitenreactor.NewNetGraph()
	g, err := ebitenreactor.Wrap(&myGame{ng: ng}, r, ebitenreactor.WithNetGraph(ng), ebitenreactor.WithBudgetFraction(0.2))
	if err != nil {
		log.Fatal(err)
	}
	if err := g.Finish(ebiten.RunGame(g.EbitenGame())); err != nil {
		log.Fatal(err)
	}
}

// The net graph, shown from the start in the top-left corner and toggled
// with F9, with values of the game's own.
func ExampleNewNetGraph() {
	ng, err := ebitenreactor.NewNetGraph(
		ebitenreactor.WithGraphVisible(true),
		ebitenreactor.WithGraphCorner(ebitenreactor.TopLeft),
		ebitenreactor.WithGraphKey(ebiten.KeyF9),
	)
	if err != nil {
		log.Fatal(err)
	}
	ng.SetRTT(42 * time.Millisecond)
	if err := ng.SetValue("players", 12); err != nil {
		log.Fatal(err)
	}
	r, _ := core.New()
	if err := ebitenreactor.RunGame(&myGame{ng: ng}, r, ebitenreactor.WithNetGraph(ng)); err != nil {
		log.Fatal(err)
	}
}

// Reading the per-tick records, for instance to adapt the game to how
// busy the network is. Frames appends to a reused slice: no allocation.
func ExampleGame_Frames() {
	r, _ := core.New()
	var g *ebitenreactor.Game
	frames := make([]ebitenreactor.Frame, 0, ebitenreactor.DefaultHistory)
	game := &statsGame{update: func() error {
		frames = g.Frames(frames[:0])
		over := 0
		for _, f := range frames {
			if f.Over() {
				over++
			}
		}
		_ = over // e.g. lower the send rate when drains keep overrunning
		return nil
	}}
	g, err := ebitenreactor.Wrap(game, r)
	if err != nil {
		log.Fatal(err)
	}
	if err := g.Finish(ebiten.RunGame(g.EbitenGame())); err != nil {
		log.Fatal(err)
	}
}

type statsGame struct{ update func() error }

func (g *statsGame) Update() error              { return g.update() }
func (g *statsGame) Draw(*ebiten.Image)         {}
func (g *statsGame) Layout(w, h int) (int, int) { return w, h }

// Finish runs the reactor's shutdown to the end when ebiten.RunGame
// returned without it (here RunGame is not even called): before-shutdown
// triggers, the disconnection of everything, after-shutdown triggers.
func ExampleGame_Finish() {
	r, err := core.New()
	if err != nil {
		log.Fatal(err)
	}
	g, err := ebitenreactor.Wrap(&statsGame{update: func() error { return nil }}, r)
	if err != nil {
		log.Fatal(err)
	}
	_, _ = r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} {
		fmt.Println("before shutdown: saying goodbye")
		return nil
	})
	_, _ = r.AddSystemEventTrigger(core.After, core.Shutdown, func() <-chan struct{} {
		fmt.Println("after shutdown")
		return nil
	})
	var runErr error // what ebiten.RunGame would have returned
	err = g.Finish(runErr)
	fmt.Println("finished:", err, g.Cause())
	fmt.Println("is ErrShutdownIncomplete:", errors.Is(err, ebitenreactor.ErrShutdownIncomplete))
	// Output:
	// before shutdown: saying goodbye
	// after shutdown
	// finished: <nil> platform closed
	// is ErrShutdownIncomplete: false
}
