//go:build unix

package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hajimehoshi/ebiten/v2"

	"github.com/threadedselect/reactor/ebitenreactor"
)

// probes are child programs other than the plain command, by name (see
// childProbeEnv).
var probes = map[string]func(args []string) int{
	"allocs": allocProbe,
}

// allocProbePlayers is how many players the alloc probe waits to see.
const allocProbePlayers = 3

// allocProbe runs the client as run does, but wrapped in a game that, once
// allocProbePlayers players have been drawn for a second, measures how
// many times one more Update and Draw of the client allocate, prints
// "ALLOCS <average>" to stdout, and quits.
func allocProbe(args []string) int {
	opts, err := parseFlags(args, os.Stderr)
	if err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	g, err := newGame(opts, log)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	p := &allocGame{Game: g}
	ebiten.SetWindowTitle(windowTitle(opts.name))
	if err := ebitenreactor.RunGame(p, g.r, ebitenreactor.WithNetGraph(g.ng), ebitenreactor.WithLogger(log)); err != nil {
		log.Error("run", "err", err)
		return 1
	}
	if !p.measured {
		log.Error("never measured")
		return 1
	}
	fmt.Printf("ALLOCS %v\n", p.allocs)
	return 0
}

// allocGame is the client with the measurement in its Update.
type allocGame struct {
	*Game
	steady   int // consecutive frames with every player drawn
	measured bool
	allocs   float64
	canvas   *ebiten.Image
}

func (p *allocGame) Update() error {
	if err := p.Game.Update(); err != nil || p.measured {
		return err
	}
	if p.visible < allocProbePlayers {
		p.steady = 0
		return nil
	}
	// Two seconds in, Ebiten's start-up work on other goroutines (which
	// the count would include) is over.
	if p.steady++; p.steady < 120 {
		return nil
	}
	if p.canvas == nil {
		p.canvas = ebiten.NewImage(screenW, screenH)
		p.Game.Draw(p.canvas) // the first draw caches the glyphs
		return nil
	}
	p.allocs = testing.AllocsPerRun(100, func() {
		_ = p.Game.Update()
		p.Game.Draw(p.canvas)
	})
	p.measured = true
	_ = p.r.Stop()
	return nil
}

// Once the game is running with players on the screen, a frame (Update and
// Draw of the client; the reactor's drain and the net graph are the
// plugin's, measured in its own tests) allocates nothing.
func TestSteadyStateAllocs(t *testing.T) {
	checkSockets(t)
	srv := startServer(t, allocProbePlayers-1)
	c := startClient(t, "allocs", "-addr", srv.addr, "-name", "counter", "-netgraph")
	if code := c.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("probe exited %d; stdout: %s", code, c.stdout)
	}
	line, ok := c.stdout.find("ALLOCS ")
	if !ok {
		t.Fatalf("no ALLOCS line; stdout: %s", c.stdout)
	}
	allocs, err := strconv.ParseFloat(strings.TrimPrefix(line, "ALLOCS "), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v allocations per frame", allocs)
	if raceEnabled {
		// The race detector makes sync.Pool drop items at random, and
		// Ebiten pools its command buffers: the count means nothing.
		t.Skip("allocation counts are not meaningful under -race; run without it for the check")
	}
	if allocs != 0 {
		t.Errorf("a steady-state frame allocates %v times", allocs)
	}
}
