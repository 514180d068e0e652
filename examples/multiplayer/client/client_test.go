//go:build unix

package main

import (
	"image"
	"image/color"
	"image/png"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/threadedselect/reactor/assets"
)

// The client joins a server with two bots and saves a screenshot once all
// three players are drawn: the arena is there (floor tiles inside, wall
// around) with at least two player sprites, its own among them. Quitting
// after the screenshot is the same clean path as closing the window, so
// the server logs reason=quit.
func TestScreenshotShowsPlayers(t *testing.T) {
	checkSockets(t)
	srv := startServer(t, 2)
	shot := filepath.Join(t.TempDir(), "arena.png")
	if dir := os.Getenv("CLIENT_TEST_SHOTS"); dir != "" {
		shot = filepath.Join(dir, "arena.png") // keep it, to look at
	}
	c := startClient(t, "", "-addr", srv.addr, "-name", "shooter",
		"-screenshot", shot, "-screenshot-players", "3", "-screenshot-delay", "500ms", "-screenshot-exit")
	if code := c.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("client exited %d", code)
	}
	exit := c.exitLine(t)
	if exit["screenshot"] != "true" || exit["status"] != "disconnected" || exit["cause"] != "quit" {
		t.Fatalf("exit line %v, want a screenshot and a quit", exit)
	}
	srv.log.wait(t, 2*time.Second, "msg=leave", "name=shooter", "reason=quit")

	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got != image.Pt(screenW, screenH) {
		t.Fatalf("screenshot is %v, want %dx%d", got, screenW, screenH)
	}

	// The arena: mostly floor-tile colours inside, wall colours outside.
	floor, _ := assets.Floor()
	wall, _ := assets.Wall()
	arena := image.Rect(arenaX, arenaY, arenaX+960, arenaY+540)
	if f := share(img, arena, palette(floor)); f < 0.85 {
		t.Errorf("only %.0f%% of the arena is floor", 100*f)
	}
	bottomWall := image.Rect(0, screenH-wallW, screenW, screenH)
	if f := share(img, bottomWall, palette(wall)); f < 0.95 {
		t.Errorf("only %.0f%% of the bottom wall is wall", 100*f)
	}

	// The players: a player's sprite has 170 pixels of its body colour
	// (the colour of player id is colour id mod 12), so look for clumps of
	// those.
	id, _ := strconv.Atoi(exit["player"])
	found := spritesIn(img, arena)
	t.Logf("sprites found (by colour): %v; own player %d is colour %d", found, id, id%assets.NumPlayerColors)
	if len(found) < 2 {
		t.Errorf("%d player sprites in the screenshot, want at least 2", len(found))
	}
	if _, ok := found[id%assets.NumPlayerColors]; !ok {
		t.Errorf("the own player (colour %d) is not in the screenshot", id%assets.NumPlayerColors)
	}
}

// A real WM_DELETE_WINDOW, sent to the window through the X server as a
// window manager would: the client says goodbye, so the server logs
// reason=quit (not a timeout) within a second, and the client exits 0.
func TestWindowCloseSaysGoodbye(t *testing.T) {
	checkSockets(t)
	srv := startServer(t, 1)
	c := startClient(t, "", "-addr", srv.addr, "-name", "closer")
	c.log.wait(t, 20*time.Second, "msg=connected")
	srv.log.wait(t, 5*time.Second, "msg=join", "name=closer")

	closeWindowTitled(t, windowTitle("closer"), 10*time.Second)
	sent := time.Now()
	srv.log.wait(t, time.Second, "msg=leave", "name=closer", "reason=quit")
	t.Logf("reason=quit logged %v after WM_DELETE_WINDOW", time.Since(sent).Round(time.Millisecond))

	if code := c.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("client exited %d", code)
	}
	exit := c.exitLine(t)
	if exit["shutdown"] != "window closed" || exit["cause"] != "quit" {
		t.Errorf("exit line %v, want shutdown=%q cause=quit", exit, "window closed")
	}
	if _, ok := c.log.find("msg=\"shutting down\"", "cause=\"window closed\""); !ok {
		t.Errorf("the client did not report the shutdown starting")
	}
}

// Pointed at a port nobody listens on, the client shows why it could not
// connect, and the screenshot of that screen is saved.
func TestConnectionFailedScreen(t *testing.T) {
	checkSockets(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	shot := filepath.Join(t.TempDir(), "failed.png")
	if dir := os.Getenv("CLIENT_TEST_SHOTS"); dir != "" {
		shot = filepath.Join(dir, "failed.png")
	}
	c := startClient(t, "", "-addr", addr, "-name", "nobody", "-reconnect=false", "-screenshot", shot, "-screenshot-exit")
	if code := c.wait(t, 30*time.Second); code != 1 {
		t.Errorf("client exited %d, want 1 for a failed connection", code)
	}
	exit := c.exitLine(t)
	want := map[string]string{
		"status":     "connection failed",
		"cause":      "unreachable",
		"screen":     "Could not connect to " + addr + ": connection refused",
		"screenshot": "true",
	}
	for k, v := range want {
		if exit[k] != v {
			t.Errorf("exit line: %s=%q, want %q", k, exit[k], v)
		}
	}

	// The screen is veiled: no floor colour at full brightness, and no
	// player drawn.
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	floor, _ := assets.Floor()
	arena := image.Rect(arenaX, arenaY, arenaX+960, arenaY+540)
	if s := share(img, arena, palette(floor)); s > 0.01 {
		t.Errorf("%.0f%% of the arena is unveiled floor", 100*s)
	}
	if found := spritesIn(img, arena); len(found) != 0 {
		t.Errorf("players drawn on the failure screen: %v", found)
	}
}

// palette returns the set of colours in img.
func palette(img image.Image) map[color.NRGBA]bool {
	p := map[color.NRGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			p[color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)] = true
		}
	}
	return p
}

// share returns the fraction of the pixels of img in r whose colour is in
// p.
func share(img image.Image, r image.Rectangle, p map[color.NRGBA]bool) float64 {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if p[color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)] {
				n++
			}
		}
	}
	return float64(n) / float64(r.Dx()*r.Dy())
}

// spritesIn finds player sprites in r: for every player colour, whether at
// least 100 pixels of it lie within a sprite-sized box (of its 170, some
// may be hidden by another player), and where.
func spritesIn(img image.Image, r image.Rectangle) map[int]image.Point {
	found := map[int]image.Point{}
	for i := range assets.NumPlayerColors {
		body := assets.PlayerColor(i)
		var pts []image.Point
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA) == body {
					pts = append(pts, image.Pt(x, y))
				}
			}
		}
		for _, c := range pts {
			box := image.Rect(c.X-assets.PlayerSize, c.Y-assets.PlayerSize, c.X+assets.PlayerSize, c.Y+assets.PlayerSize)
			n := 0
			for _, p := range pts {
				if p.In(box) {
					n++
				}
			}
			if n >= 100 {
				found[i] = c
				break
			}
		}
	}
	return found
}
