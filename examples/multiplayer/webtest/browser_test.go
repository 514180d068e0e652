package webtest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/assets"
	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// The game's screen: the arena and a wall of one tile around it, at one
// pixel per world unit (see the client's art.go). The browser's viewport
// is made exactly this size, so that the canvas shows the game unscaled.
const (
	wallW   = assets.TileSize
	screenW = game.ArenaW + 2*wallW
	screenH = game.ArenaH + 2*wallW
)

func TestMain(m *testing.M) {
	flag.Parse()
	switch p, err := findChromium(); {
	case testing.Short():
		env.skip = "-short: the browser tests build the WebAssembly client and run Chromium"
	case err != nil:
		if os.Getenv("WEBTEST_REQUIRE_BROWSER") != "" {
			fmt.Fprintln(os.Stderr, "webtest:", err)
			os.Exit(1)
		}
		env.skip = err.Error()
	default:
		env.chromium = p
		began := time.Now()
		dir, err := build()
		env.dir = dir
		if err != nil {
			fmt.Fprintln(os.Stderr, "webtest: build:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "webtest: built the server, the bots and the WebAssembly client in %v\n", time.Since(began).Round(time.Millisecond))
	}
	code := m.Run()
	if env.dir != "" {
		os.RemoveAll(env.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "webtest: goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// pageState is window.reactorClient, which the client in the page keeps up
// to date (the client's page_js.go); times are performance.now(), in ms
// since the navigation started.
type pageState struct {
	Status          string  `json:"status"`
	Cause           string  `json:"cause"`
	Error           string  `json:"error"`
	Player          int     `json:"player"`
	Snapshots       float64 `json:"snapshots"`
	Visible         int     `json:"visible"`
	X               float64 `json:"x"`
	Y               float64 `json:"y"`
	FPS             float64 `json:"fps"`
	TPS             float64 `json:"tps"`
	Frames          float64 `json:"frames"`
	Started         float64 `json:"started"`
	ConnectedAt     float64 `json:"connectedAt"`
	FirstSnapshotAt float64 `json:"firstSnapshotAt"`
}

// readPage returns the page's state.
func readPage(ctx context.Context) (pageState, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](`window.reactorClient || {}`))
}

// waitPage polls the page's state until cond holds, or fails the test
// after timeout.
func waitPage(t *testing.T, ctx context.Context, console *logSink, what string, timeout time.Duration, cond func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := readPage(ctx)
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; the page says %+v; its console:\n%s", timeout, what, st, console.tail(30))
		}
		<-tick.C
	}
}

// listenConsole copies the tab's console (where the client's log/slog
// lines go) and its uncaught exceptions into sink, until the tab's context
// ends; the returned channel is closed then.
func listenConsole(ctx context.Context, sink *logSink) <-chan struct{} {
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			fmt.Fprintf(sink, "console.%s: %s\n", m.Type, strings.TrimRight(m.Text, "\n"))
		}
	}()
	return done
}

// observer is a player in this process that watches the match through the
// server's snapshots.
type observer struct {
	r    *core.Reactor
	sess *netclient.Session
}

func startObserver(t *testing.T, addr string) *observer {
	t.Helper()
	r, err := core.New(core.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{r: r}
	r.CallWhenRunning(func() {
		o.sess, err = netclient.Dial(r, netclient.Config{Addr: addr, Name: "observer"})
	})
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	t.Cleanup(func() {
		var bye <-chan struct{}
		o.do(t, func() { bye = o.sess.Goodbye() })
		select {
		case <-bye:
		case <-time.After(10 * time.Second):
			t.Error("the observer's goodbye did not finish")
		}
		_ = r.Stop()
		if err := <-ran; err != nil {
			t.Errorf("observer: Run: %v", err)
		}
	})
	o.do(t, func() {
		if err != nil {
			t.Fatal(err)
		}
	})
	return o
}

// do runs f on the observer's main thread and waits for it.
func (o *observer) do(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	if err := o.r.CallFromThread(func() { defer close(done); f() }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the observer's main thread did not run the call")
	}
}

// player returns player id as the server's snapshots show it (interpolated,
// a little in the past), and whether it is there.
func (o *observer) player(t *testing.T, id int) (game.PlayerState, bool) {
	t.Helper()
	var p game.PlayerState
	found := false
	o.do(t, func() {
		for _, q := range o.sess.Remote(nil) {
			if int(q.ID) == id {
				p, found = q, true
			}
		}
	})
	return p, found
}

// TestBrowserPlays is the example game in a real browser: Chromium loads
// the page from the server command's web endpoint; the client, built for
// WebAssembly, connects over WebSocket and joins under the page's ?name=
// beside two bots on TCP and UDP (and an observer in this process); the
// canvas shows the players; keys pressed in the page move the player on
// the server; closing the tab, or navigating away, makes the server log
// the leave within 2 s (the page says goodbye: reason=quit). It logs the figures: time from the page's load to
// the first snapshot, and the frame rate with the net graph open.
func TestBrowserPlays(t *testing.T) {
	if env.skip != "" {
		t.Skip(env.skip)
	}
	srv := startProc(t, "server", "-addr", "127.0.0.1:0", "-web", "127.0.0.1:0",
		"-web-root", filepath.Join(env.dir, "web"), "-stats", "-1s")
	line, _ := srv.out.waitLine(t, 0, 15*time.Second, "listening on ")
	addr := strings.TrimPrefix(line, "listening on ")
	line, _ = srv.out.waitLine(t, 0, 15*time.Second, "browser client at ")
	pageURL := strings.TrimPrefix(line, "browser client at ")
	base, ok := strings.CutSuffix(pageURL, "?name=you")
	if !ok {
		t.Fatalf("the server printed %q", line)
	}
	startProc(t, "bots", "-addr", addr, "-n", "2", "-stats", "1h")
	srv.out.waitLine(t, 0, 15*time.Second, "msg=join", "name=bot01")
	srv.out.waitLine(t, 0, 15*time.Second, "msg=join", "name=bot02")
	obs := startObserver(t, addr)
	srv.out.waitLine(t, 0, 15*time.Second, "msg=join", "name=observer")

	bctx := startBrowser(t, screenW, screenH)
	console := newLogSink()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the page's console (last 40 lines):\n%s", console.tail(40))
		}
	})
	tab, closeTab := newTab(t, bctx, console)
	defer closeTab()

	// The page loads, the client connects over WebSocket and joins.
	mark := srv.out.mark()
	if err := chromedp.Do(tab, chromedp.EmulateViewport(screenW, screenH), chromedp.Navigate(base+"?name=alice&netgraph=1")); err != nil {
		t.Fatal(err)
	}
	st := waitPage(t, tab, console, "the client connected, with snapshots, drawing four players", 60*time.Second, func(st pageState) bool {
		return st.Status == "connected" && st.Snapshots > 0 && st.Visible >= 4
	})
	join, _ := srv.out.waitLine(t, mark, 10*time.Second, "msg=join", "name=alice")
	if !strings.Contains(join, "addr=127.0.0.1:") {
		t.Errorf("join line %q: want the HTTP peer's address", join)
	}
	if _, ok := console.find(0, "msg=connecting", "ws=ws://127.0.0.1:", "/ws", "udp=false"); !ok {
		t.Errorf("the client did not log connecting over WebSocket without UDP")
	}
	t.Logf("page load to wasm started %.0f ms, to connected %.0f ms, to first snapshot %.0f ms",
		st.Started, st.ConnectedAt, st.FirstSnapshotAt)

	// The canvas shows the players: their body colours in sprite-sized
	// clumps, the own player's among them.
	shot, err := chromedp.Run(tab, chromedp.Screenshot(chromedp.CSS("canvas")))
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("WEBTEST_SHOTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "browser-arena.png"), shot, 0o644); err != nil {
			t.Error(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got != image.Pt(screenW, screenH) {
		t.Fatalf("the canvas is %v, want %dx%d", got, screenW, screenH)
	}
	arena := image.Rect(wallW, wallW, wallW+game.ArenaW, wallW+game.ArenaH)
	found := spritesIn(img, arena)
	own := st.Player % assets.NumPlayerColors
	t.Logf("sprites in the canvas (by colour): %v; the browser's player %d is colour %d", found, st.Player, own)
	if len(found) < 2 {
		t.Errorf("%d player sprites in the canvas, want at least 2", len(found))
	}
	if _, ok := found[own]; !ok {
		t.Errorf("the browser's player (colour %d) is not in the canvas", own)
	}

	// Keys pressed in the page move the player on the server.
	start, ok := obs.player(t, st.Player)
	if !ok {
		t.Fatalf("the observer does not see player %d", st.Player)
	}
	key, code, sign := "ArrowRight", int64(39), 1.0
	if start.X > game.ArenaW/2 {
		key, code, sign = "ArrowLeft", 37, -1
	}
	press := func(typ input.DispatchKeyEventType) {
		t.Helper()
		if _, err := chromedp.Call(tab, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: key, Code: key, WindowsVirtualKeyCode: code, NativeVirtualKeyCode: code,
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(tab, chromedp.Focus(chromedp.CSS("canvas"))); err != nil {
		t.Fatal(err)
	}
	press(input.DispatchKeyEventTypeRawKeyDown)
	moved := false
	deadline := time.Now().Add(10 * time.Second)
	var now game.PlayerState
	for !moved && time.Now().Before(deadline) {
		now, _ = obs.player(t, st.Player)
		moved = sign*(now.X-start.X) >= 40
		if !moved {
			obs.waitTick(t)
		}
	}
	press(input.DispatchKeyEventTypeKeyUp)
	if !moved {
		t.Fatalf("%s held: the server's snapshots show player %d at x=%.0f, from %.0f", key, st.Player, now.X, start.X)
	}
	t.Logf("%s held: the server moved player %d from x=%.0f to %.0f", key, st.Player, start.X, now.X)

	// The frame rate, with the net graph open (the page asked for it).
	window := 3 * time.Second
	if figures() {
		window = 10 * time.Second
	}
	fr := measureFrames(t, tab, window)
	t.Logf("frame rate with the net graph open, over %v: %v", window, fr)
	if figures() {
		fmt.Printf("figures: browser client (headless Chromium, SwiftShader, %dx%d): page load to first snapshot %.0f ms (wasm running at %.0f ms, connected at %.0f ms); with the net graph open %v\n",
			screenW, screenH, st.FirstSnapshotAt, st.Started, st.ConnectedAt, fr)
	}

	// Closing the tab: the server logs the leave within 2 s.
	mark = srv.out.mark()
	closing := time.Now()
	if err := chromedp.Cancel(tab); err != nil {
		t.Fatalf("closing the tab: %v", err)
	}
	leave, at := srv.out.waitLine(t, mark, 10*time.Second, "msg=leave", "name=alice", "reason=quit")
	if d := at.Sub(closing); d > 2*time.Second {
		t.Errorf("the leave came %v after the tab was closed, want within 2s", d)
	}
	t.Logf("tab closed: %s (%v later)", leave, at.Sub(closing).Round(time.Millisecond))

	// Navigating away does the same.
	tab2, closeTab2 := newTab(t, bctx, console)
	defer closeTab2()
	mark = srv.out.mark()
	if err := chromedp.Do(tab2, chromedp.EmulateViewport(screenW, screenH), chromedp.Navigate(base+"?name=bob")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, tab2, console, "bob connected", 60*time.Second, func(st pageState) bool {
		return st.Status == "connected" && st.Snapshots > 0
	})
	srv.out.waitLine(t, mark, 10*time.Second, "msg=join", "name=bob")
	mark = srv.out.mark()
	leaving := time.Now()
	if err := chromedp.Do(tab2, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	leave, at = srv.out.waitLine(t, mark, 10*time.Second, "msg=leave", "name=bob", "reason=quit")
	if d := at.Sub(leaving); d > 2*time.Second {
		t.Errorf("the leave came %v after navigating away, want within 2s", d)
	}
	t.Logf("navigated away: %s (%v later)", leave, at.Sub(leaving).Round(time.Millisecond))
}

// figures reports whether the test should measure longer and print its
// figures (make bench sets WEBTEST_FIGURES=1).
func figures() bool { return os.Getenv("WEBTEST_FIGURES") != "" }

// frameRate is what measureFrames saw.
type frameRate struct {
	meanFPS, minFPS float64 // Ebiten's ActualFPS, sampled twice a second
	updates         float64 // game Updates per second over the window
}

func (f frameRate) String() string {
	return fmt.Sprintf("%.1f frames/s (Ebiten's ActualFPS, mean of samples; lowest %.1f), %.1f updates/s", f.meanFPS, f.minFPS, f.updates)
}

// measureFrames samples the page's frame rate over d.
func measureFrames(t *testing.T, tab context.Context, d time.Duration) frameRate {
	t.Helper()
	first, err := readPage(tab)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	fr := frameRate{minFPS: math.Inf(1)}
	n := 0
	last := first
	for time.Since(began) < d {
		<-tick.C
		st, err := readPage(tab)
		if err != nil {
			t.Fatal(err)
		}
		fr.meanFPS += st.FPS
		fr.minFPS = min(fr.minFPS, st.FPS)
		n++
		last = st
	}
	fr.meanFPS /= float64(n)
	fr.updates = (last.Frames - first.Frames) / time.Since(began).Seconds()
	return fr
}

// waitTick waits until the observer has received another snapshot.
func (o *observer) waitTick(t *testing.T) {
	t.Helper()
	done, stop := make(chan struct{}), make(chan struct{})
	var first uint64
	started := false
	var check func()
	check = func() {
		select {
		case <-stop:
			return
		default:
		}
		n := o.sess.State().Snapshots
		if !started {
			first, started = n, true
		} else if n > first {
			close(done)
			return
		}
		_, _ = o.r.CallLater(5*time.Millisecond, check)
	}
	if err := o.r.CallFromThread(check); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		close(stop)
		t.Fatal("the observer received no snapshot for 5s")
	}
}

// spritesIn finds player sprites in r: for every player colour, whether at
// least 100 pixels of it (of a sprite's 170; others may hide some) lie
// within a sprite-sized box, and where.
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
