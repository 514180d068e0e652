package main

import (
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hajimehoshi/ebiten/v2"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// shotOptions are the -screenshot flags.
type shotOptions struct {
	path    string        // where to save the PNG; "" for none
	players int           // take it once this many players are drawn...
	delay   time.Duration // ...and no sooner than this after start
	exit    bool          // quit once it is saved
}

// screenshotter saves one screenshot, of the final screen (the net graph
// included), when its condition is met. Its fields are used on the game
// goroutine, except what the saving goroutine reports, which is read after
// wait.
type screenshotter struct {
	opts  shotOptions
	r     *core.Reactor
	log   *slog.Logger
	start time.Time

	due, taken bool
	players    int // players drawn when it was taken
	wg         sync.WaitGroup
	err        error // the save's error; read after wait
}

func newScreenshotter(opts shotOptions, r *core.Reactor, log *slog.Logger) *screenshotter {
	return &screenshotter{opts: opts, r: r, log: log, start: time.Now()}
}

// check decides, in Update, whether the next frame is the one to save:
// once enough players are drawn, or the session has ended (its screen says
// why), and the delay has passed.
func (s *screenshotter) check(st netclient.State, players int) {
	if s.opts.path == "" || s.due || s.taken || time.Since(s.start) < s.opts.delay {
		return
	}
	ended := st.Status == netclient.StatusFailed || st.Status == netclient.StatusDisconnected
	switch {
	case ended: // the screen shows why, and no players
		s.due, s.players = true, 0
	case players >= s.opts.players:
		s.due, s.players = true, players
	}
}

// DrawFinalScreen implements ebiten.FinalScreenDrawer: it copies the
// offscreen image (the game's Draw and the net graph over it) to the
// window, as Ebiten would, and saves it first if a screenshot is due.
func (g *Game) DrawFinalScreen(screen ebiten.FinalScreen, offscreen *ebiten.Image, geoM ebiten.GeoM) {
	if g.shot.due && !g.shot.taken {
		g.shot.capture(offscreen)
	}
	op := &g.finalOp // a field: a local would escape through the interface
	op.GeoM = geoM
	// Ebiten's default: nearest for a whole scale, so the pixel art stays
	// sharp; otherwise linear (Ebiten uses a sharper shader when
	// magnifying by a fractional factor; linear is close).
	op.Filter = ebiten.FilterNearest
	if scale := geoM.Element(0, 0); math.Floor(scale) != scale {
		op.Filter = ebiten.FilterLinear
	}
	screen.DrawImage(offscreen, op)
}

// capture reads the pixels on the game goroutine and encodes and writes
// the PNG on another, so that the frame is not held up.
func (s *screenshotter) capture(img *ebiten.Image) {
	s.due, s.taken = false, true
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	img.ReadPixels(rgba.Pix) // premultiplied RGBA, as image.RGBA holds
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := writePNG(s.opts.path, rgba); err != nil {
			s.err = err
			s.log.Error("screenshot", "path", s.opts.path, "err", err)
			return
		}
		s.log.Info("screenshot", "path", s.opts.path, "players", s.players)
		if s.opts.exit {
			_ = s.r.Stop() // safe from any goroutine
		}
	}()
}

// wait waits for a screenshot being written. Call it after RunGame.
func (s *screenshotter) wait() {
	s.wg.Wait()
	if s.opts.path != "" && !s.taken {
		s.log.Warn("no screenshot taken: its condition was never met", "path", s.opts.path)
	}
}

// saved reports whether the screenshot was written. Call it after wait.
func (s *screenshotter) saved() bool { return s.taken && s.err == nil }

// writePNG writes img to path, through a temporary file renamed into
// place, so that nobody reads half a PNG.
func writePNG(path string, img image.Image) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".screenshot-*.png")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encoding: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
