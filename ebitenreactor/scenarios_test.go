//go:build unix

package ebitenreactor_test

// The child-process scenarios: each runs one real ebiten.RunGame.

import (
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/ebitenreactor"
)

var scenarios = map[string]func(*report){
	"orderly-x11":      func(rep *report) { orderly(rep, "x11") },
	"orderly-signal":   func(rep *report) { orderly(rep, "signal") },
	"orderly-stop":     func(rep *report) { orderly(rep, "stop") },
	"orderly-gameerr":  func(rep *report) { orderly(rep, "gameerr") },
	"orderly-gameterm": func(rep *report) { orderly(rep, "gameterm") },
	"platform-close":   func(rep *report) { orderly(rep, "platform") },
	"timeout":          timeoutScenario,
	"flood":            floodScenario,
	"floodpeers":       floodPeersProcess,
	"flush-x11":        func(rep *report) { flushScenario(rep, true) },
	"flush-off-x11":    func(rep *report) { flushScenario(rep, false) },
	"netgraph":         netGraphScenario,
	"graphbench":       graphBenchScenario,
}

// testGame is a minimal ebiten.Game whose behaviour the scenario sets.
type testGame struct {
	screen  *ebiten.Image // the last screen Draw was given
	update  func() error
	draw    func(*ebiten.Image)
	started func(ebitenreactor.Cause)
	w, h    int
}

func (g *testGame) Update() error {
	if g.update != nil {
		return g.update()
	}
	return nil
}

func (g *testGame) Draw(screen *ebiten.Image) {
	if g.draw != nil {
		g.draw(screen)
	}
}

func (g *testGame) Layout(int, int) (int, int) { return g.w, g.h }

// ShutdownStarted implements ebitenreactor.ShutdownObserver.
func (g *testGame) ShutdownStarted(c ebitenreactor.Cause) {
	if g.started != nil {
		g.started(c)
	}
}

// setupWindow gives the scenario's window a unique title and keeps an idle
// game cheap: a screen not cleared and not drawn to lets Ebiten skip
// presenting frames, which leaves the two cores to the test.
func setupWindow(name string) string {
	title := fmt.Sprintf("ebitenreactor test %s %d", name, os.Getpid())
	ebiten.SetWindowTitle(title)
	ebiten.SetWindowSize(320, 240)
	ebiten.SetScreenClearedEveryFrame(false)
	return title
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

var errBoom = errors.New("boom: the game failed")

// checkLeaks runs once everything is closed: no goroutine left but the
// runtime's and the test binary's own, and none of the scenario's sockets
// still open.
func checkLeaks(rep *report, r *core.Reactor, socks *sockets) {
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		rep.failf("the reactor's Done was not closed within 5s of the end")
	}
	socks.close()
	if l := socks.leaked(); len(l) > 0 {
		rep.res.Leaks += fmt.Sprintf("sockets left open: %v; ", l)
	}
	// Ebitengine v2.8.8 leaves no goroutine of its own after RunGame (its
	// render, game and main-thread loops end with it), so nothing of it is
	// ignored; should a later version keep one, ignore it by its top
	// function here. goleak retries for a while, so goroutines that are
	// just ending (a peer's deferred close) are not reported.
	if err := goleak.Find(); err != nil {
		rep.res.Leaks += err.Error()
	}
}

// orderly runs a game whose reactor says goodbye to a peer on shutdown: a
// before-shutdown trigger sends the rest of a 16 MiB queue and a goodbye,
// shuts down its write side and waits until the peer, having read every
// byte and EOF, closes too. mode says what ends the run.
func orderly(rep *report, mode string) {
	title := setupWindow("orderly-" + mode)
	logger := slog.New(&logHandler{rep: rep})
	r, err := core.New(core.WithLogger(logger))
	if err != nil {
		rep.failf("core.New: %v", err)
		return
	}
	socks, err := newSockets()
	if err != nil {
		rep.failf("sockets: %v", err)
		return
	}
	th := newThreads(r)
	peer, fd, err := socks.pair()
	if err != nil {
		rep.failf("pair: %v", err)
		return
	}
	link := newLinkConn(r, fd, th)
	payload := pattern(16<<20, 7)
	bye := []byte("goodbye\n")
	wantN := int64(len(payload) + len(bye))
	wantCRC := crc32.Update(crc32.Update(0, crcTable, payload), crcTable, bye)

	// The peer reads only once the goodbye begins, so the game side's
	// queue is still full when the shutdown starts; then it reads every
	// byte to EOF and closes its side.
	startReading := make(chan struct{})
	peerDone := make(chan struct{})
	go func() {
		defer close(peerDone)
		defer peer.Close()
		select {
		case <-startReading:
		case <-time.After(30 * time.Second):
			rep.failf("peer: the goodbye never began")
			return
		}
		_ = peer.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, crc, err := readAll(peer)
		if err != nil {
			rep.failf("peer: reading: %v after %d bytes", err, n)
		}
		if n != wantN || crc != wantCRC {
			rep.failf("peer: got %d bytes crc %08x, want %d bytes crc %08x", n, crc, wantN, wantCRC)
		}
		rep.event("peer-eof")
	}()

	opts := []ebitenreactor.Option{ebitenreactor.WithLogger(logger)}
	if mode == "platform" {
		opts = append(opts, ebitenreactor.WithCloseHandling(false))
	}
	var (
		updateG      atomic.Uint64
		ticks        int
		causes       []ebitenreactor.Cause
		shutdownTick int
		laterTicks   int // game Updates after the shutdown began
		beforeRuns   int
		afterRuns    int
		pendingAtEnd int
		g            *ebitenreactor.Game
	)
	game := &testGame{w: 320, h: 240}
	game.started = func(c ebitenreactor.Cause) {
		causes = append(causes, c)
		shutdownTick = ticks
	}
	game.update = func() error {
		updateG.Store(goid())
		ticks++
		if g.ShuttingDown() && shutdownTick > 0 {
			laterTicks++
		}
		switch ticks {
		case 2:
			// A timer and a thread call from another goroutine: both must
			// run here.
			if _, err := r.CallLater(5*time.Millisecond, func() { th.check(kindTimer) }); err != nil {
				rep.failf("CallLater: %v", err)
			}
			go func() {
				if err := r.CallFromThread(func() { th.check(kindThreadCall) }); err != nil {
					rep.failf("CallFromThread: %v", err)
				}
			}()
		case 10:
			if err := link.send(payload); err != nil {
				rep.failf("send: %v", err)
			}
			rep.event("queued")
			switch mode {
			case "x11", "platform":
				go func() {
					if err := closeWindow(title); err != nil {
						rep.failf("closing the window: %v", err)
					}
				}()
			case "signal":
				// The plugin's handler has been installed since Wrap.
				if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
					rep.failf("kill: %v", err)
				}
			case "stop":
				go func() {
					if err := r.Stop(); err != nil {
						rep.failf("Stop from another goroutine: %v", err)
					}
				}()
			case "gameerr":
				return errBoom
			case "gameterm":
				return ebiten.Termination
			}
		}
		if ticks > 60*20 {
			rep.failf("still running after %d ticks", ticks)
			return errors.New("scenario timed out")
		}
		return nil
	}

	g, err = ebitenreactor.Wrap(game, r, opts...)
	if err != nil {
		rep.failf("Wrap: %v", err)
		return
	}
	// Wrap started the reactor here: this goroutine is its main thread
	// until the game goroutine drains it.
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} {
		th.check(kindTrigger)
		beforeRuns++
		pendingAtEnd = link.pending()
		rep.event("before")
		close(startReading)
		if err := link.send(bye); err != nil {
			rep.failf("send goodbye: %v", err)
		}
		return link.closeGracefully()
	}); err != nil {
		rep.failf("AddSystemEventTrigger: %v", err)
	}
	if _, err := r.AddSystemEventTrigger(core.After, core.Shutdown, func() <-chan struct{} {
		th.check(kindTrigger)
		afterRuns++
		rep.event("after")
		return nil
	}); err != nil {
		rep.failf("AddSystemEventTrigger: %v", err)
	}
	if err := r.AddReader(link); err != nil {
		rep.failf("AddReader: %v", err)
	}

	mainG := goid()
	var runErr error
	if mode == "platform" {
		// The lower-level path: the program runs Ebiten itself.
		ebErr := ebiten.RunGame(g.EbitenGame())
		rep.event("ebiten-returned")
		if ebErr != nil {
			rep.failf("ebiten.RunGame: %v", ebErr)
		}
		runErr = g.Finish(ebErr)
		rep.event("finish-returned")
	} else {
		runErr = g.Finish(ebiten.RunGameWithOptions(g.EbitenGame(), nil))
		rep.event("rungame-returned")
	}
	if runErr != nil {
		rep.res.RunErr = runErr.Error()
	}
	switch mode {
	case "gameerr":
		if runErr != errBoom {
			rep.failf("run returned %v, want the game's own error unchanged", runErr)
		}
	default:
		if runErr != nil {
			rep.failf("run returned %v, want nil", runErr)
		}
	}
	select {
	case <-peerDone:
	case <-time.After(10 * time.Second):
		rep.failf("the peer did not finish within 10s of the end")
	}
	if beforeRuns != 1 || afterRuns != 1 {
		rep.failf("before-shutdown trigger ran %d times, after-shutdown %d times; want once each", beforeRuns, afterRuns)
	}
	wantCause := map[string]ebitenreactor.Cause{
		"x11": ebitenreactor.CauseWindowClosed, "signal": ebitenreactor.CauseSignal,
		"stop": ebitenreactor.CauseReactorStopped, "gameerr": ebitenreactor.CauseGameEnded,
		"gameterm": ebitenreactor.CauseGameEnded, "platform": ebitenreactor.CausePlatformClosed,
	}[mode]
	if len(causes) != 1 || causes[0] != wantCause {
		rep.failf("ShutdownStarted calls: %v, want [%v]", causes, wantCause)
	}
	if g.Cause() != wantCause {
		rep.failf("Cause() = %v, want %v", g.Cause(), wantCause)
	}
	switch mode {
	case "x11", "signal", "stop":
		// The game keeps ticking (it can show "disconnecting...") while
		// the goodbye is flushed.
		if laterTicks == 0 {
			rep.failf("the game's Update was not called during the shutdown")
		}
	}
	rep.metric("ticks", float64(ticks))
	rep.metric("ticks_during_shutdown", float64(laterTicks))
	rep.metric("pending_at_shutdown", float64(pendingAtEnd))
	allowed := []uint64{updateG.Load()}
	if mode == "platform" {
		allowed = append(allowed, mainG)
	}
	need := []int{kindRead, kindWrite, kindLost, kindTrigger, kindTimer, kindThreadCall}
	if mode == "gameerr" || mode == "gameterm" {
		need = []int{kindRead, kindWrite, kindLost, kindTrigger}
	}
	th.report(rep, allowed, need...)
	checkLeaks(rep, r, socks)
}

// timeoutScenario: a before-shutdown trigger that never finishes must not
// keep the window open: the reactor cuts it off after the shutdown
// timeout, logs it, and the run ends normally.
func timeoutScenario(rep *report) {
	title := setupWindow("timeout")
	logger := slog.New(&logHandler{rep: rep})
	r, err := core.New(core.WithLogger(logger))
	if err != nil {
		rep.failf("core.New: %v", err)
		return
	}
	socks, err := newSockets()
	if err != nil {
		rep.failf("sockets: %v", err)
		return
	}
	const timeout = 200 * time.Millisecond
	never := make(chan struct{})
	var beforeAt time.Time
	afterRuns := 0
	ticks := 0
	game := &testGame{w: 320, h: 240}
	game.update = func() error {
		ticks++
		if ticks == 5 {
			go func() {
				if err := closeWindow(title); err != nil {
					rep.failf("closing the window: %v", err)
				}
			}()
		}
		if ticks > 60*20 {
			rep.failf("still running after %d ticks", ticks)
			return errors.New("scenario timed out")
		}
		return nil
	}
	g, err := ebitenreactor.Wrap(game, r, ebitenreactor.WithLogger(logger), ebitenreactor.WithShutdownTimeout(timeout))
	if err != nil {
		rep.failf("Wrap: %v", err)
		return
	}
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} {
		beforeAt = time.Now()
		rep.event("before")
		return never
	}); err != nil {
		rep.failf("AddSystemEventTrigger: %v", err)
	}
	if _, err := r.AddSystemEventTrigger(core.After, core.Shutdown, func() <-chan struct{} {
		afterRuns++
		rep.event("after")
		return nil
	}); err != nil {
		rep.failf("AddSystemEventTrigger: %v", err)
	}
	runErr := g.Finish(ebiten.RunGame(g.EbitenGame()))
	took := time.Since(beforeAt)
	rep.event("rungame-returned")
	if runErr != nil {
		rep.res.RunErr = runErr.Error()
		rep.failf("run returned %v, want nil", runErr)
	}
	rep.metric("shutdown_ms", float64(took)/float64(time.Millisecond))
	if beforeAt.IsZero() {
		rep.failf("the before-shutdown trigger never ran")
	} else if took < timeout || took > timeout+time.Second {
		rep.failf("the window closed %v after the shutdown began; want just after the %v timeout", took, timeout)
	}
	if afterRuns != 1 {
		rep.failf("after-shutdown trigger ran %d times, want once", afterRuns)
	}
	if g.Cause() != ebitenreactor.CauseWindowClosed {
		rep.failf("Cause() = %v, want window closed", g.Cause())
	}
	close(never)
	checkLeaks(rep, r, socks)
}

func boolMetric(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// netGraphScenario draws the net graph over a plain background while some
// traffic flows, and saves the frame as a PNG for the parent to check.
func netGraphScenario(rep *report) {
	setupWindow("netgraph")
	ebiten.SetScreenClearedEveryFrame(true)
	dir := os.Getenv("SHOT_DIR")
	logger := slog.New(&logHandler{rep: rep})
	r, err := core.New(core.WithLogger(logger))
	if err != nil {
		rep.failf("core.New: %v", err)
		return
	}
	ng, err := ebitenreactor.NewNetGraph(ebitenreactor.WithGraphVisible(true))
	if err != nil {
		rep.failf("NewNetGraph: %v", err)
		return
	}
	// Some work every tick so the bars show something: thread calls from
	// a goroutine, in bursts that vary.
	stopWork := make(chan struct{})
	workDone := make(chan struct{})
	var sink atomic.Int64
	go func() {
		defer close(workDone)
		for i := 0; ; i++ {
			select {
			case <-stopWork:
				return
			default:
			}
			n := 20 + (i*37)%400
			for j := 0; j < n; j++ {
				if r.CallFromThread(func() {
					// A little work per call, as a protocol callback would.
					x := sink.Load()
					for k := 0; k < 2000; k++ {
						x = x*31 + int64(k)
					}
					sink.Store(x)
				}) != nil {
					return
				}
			}
			// Pace the bursts by the reactor: wait until they ran.
			done := make(chan struct{})
			if r.CallFromThread(func() { close(done) }) != nil {
				return
			}
			select {
			case <-done:
			case <-stopWork:
				return
			}
		}
	}()
	const shotTick = 150
	ticks := 0
	var capture bool
	var shot []byte
	game := &captureGame{testGame: testGame{w: 640, h: 400}}
	game.update = func() error {
		ticks++
		ng.SetRTT(time.Duration(38+ticks%9) * time.Millisecond)
		_ = ng.SetValue("players", 12)
		_ = ng.SetValue("loss%", 0.4)
		if ticks == shotTick {
			capture = true
		}
		if shot != nil {
			return ebiten.Termination
		}
		return nil
	}
	game.draw = func(screen *ebiten.Image) {
		screen.Fill(shotBackground)
	}
	game.final = func(offscreen *ebiten.Image) {
		if !capture || shot != nil {
			return
		}
		b := offscreen.Bounds()
		shot = make([]byte, 4*b.Dx()*b.Dy())
		offscreen.ReadPixels(shot)
	}
	runErr := ebitenreactor.RunGame(game, r, ebitenreactor.WithLogger(logger), ebitenreactor.WithNetGraph(ng))
	close(stopWork)
	<-workDone
	if runErr != nil {
		rep.failf("RunGame: %v", runErr)
	}
	if shot == nil {
		rep.failf("no frame captured")
		return
	}
	path := dir + "/netgraph.png"
	if err := writePNG(path, shot, 640, 400); err != nil {
		rep.failf("writing %s: %v", path, err)
	}
	rep.event("shot %s", path)
}

var shotBackground = colorRGBA(40, 60, 90)

// captureGame implements ebiten.FinalScreenDrawer to see the offscreen
// after the plugin's Draw has drawn the net graph over the game's.
type captureGame struct {
	testGame
	final func(offscreen *ebiten.Image)
}

func (g *captureGame) DrawFinalScreen(screen ebiten.FinalScreen, offscreen *ebiten.Image, geoM ebiten.GeoM) {
	if g.final != nil {
		g.final(offscreen)
	}
	op := &ebiten.DrawImageOptions{GeoM: geoM}
	screen.DrawImage(offscreen, op)
}

// graphBenchScenario measures the net graph's Draw inside a running game:
// time and heap allocations per Draw over many frames, after warming up.
//
// Ebitengine v2.8.8 itself allocates a 48-byte slice for every draw command
// that cannot be merged into the previous one (graphicscommand's
// EnqueueDrawTrianglesCommand), and a Draw that is the first on the screen
// in a frame is such a command. So on alternate frames the scenario
// measures, in the same position, the smallest possible draw call (one
// triangle): the graph's Draw should allocate no more than that.
func graphBenchScenario(rep *report) {
	setupWindow("graphbench")
	frames := envInt("GRAPH_FRAMES", 600)
	const warm = 60
	if os.Getenv("MEMPROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	r, err := core.New(core.WithLogger(slog.New(&logHandler{rep: rep})))
	if err != nil {
		rep.failf("core.New: %v", err)
		return
	}
	// Hidden: the plugin does not draw it; the game does, measured.
	ng, err := ebitenreactor.NewNetGraph(ebitenreactor.WithGraphVisible(false))
	if err != nil {
		rep.failf("NewNetGraph: %v", err)
		return
	}
	probeImg := ebiten.NewImage(4, 4)
	probeImg.Fill(colorRGBA(255, 255, 255))
	probeVS := []ebiten.Vertex{{DstX: 0, DstY: 0, ColorA: 1}, {DstX: 1, DstY: 0, ColorA: 1}, {DstX: 0, DstY: 1, ColorA: 1}}
	probeIS := []uint16{0, 1, 2}
	var probeOp ebiten.DrawTrianglesOptions
	type tally struct {
		n        int
		mallocs  uint64
		bytes    uint64
		worst    uint64
		elapsed  time.Duration
		ms0, ms1 runtime.MemStats
	}
	measure := func(t *tally, f func()) {
		runtime.ReadMemStats(&t.ms0)
		t0 := time.Now()
		f()
		dt := time.Since(t0)
		runtime.ReadMemStats(&t.ms1)
		m := t.ms1.Mallocs - t.ms0.Mallocs
		t.n++
		t.elapsed += dt
		t.mallocs += m
		t.worst = max(t.worst, m)
		t.bytes += t.ms1.TotalAlloc - t.ms0.TotalAlloc
	}
	var graph, probe tally
	ticks := 0
	game := &testGame{w: 640, h: 400}
	game.update = func() error {
		ticks++
		ng.SetRTT(time.Duration(ticks%50) * time.Millisecond)
		_ = ng.SetValue("tick", float64(ticks))
		if _, err := r.CallLater(0, func() {}); err != nil {
			rep.failf("CallLater: %v", err)
		}
		if graph.n >= frames {
			return ebiten.Termination
		}
		if ticks > 60*60 {
			rep.failf("only %d draws in %d ticks", graph.n, ticks)
			return errors.New("scenario timed out")
		}
		return nil
	}
	frame := 0
	drawGraph := func() { ng.Draw(game.screen) }
	drawProbe := func() { game.screen.DrawTriangles(probeVS, probeIS, probeImg, &probeOp) }
	game.draw = func(screen *ebiten.Image) {
		frame++
		game.screen = screen
		switch {
		case frame <= warm || graph.n >= frames:
			ng.Draw(screen)
		case frame%2 == 0:
			measure(&graph, drawGraph)
		default:
			measure(&probe, drawProbe)
			ng.Draw(screen)
		}
	}
	ebiten.SetScreenClearedEveryFrame(true)
	if err := ebitenreactor.RunGame(game, r, ebitenreactor.WithNetGraph(ng)); err != nil {
		rep.failf("RunGame: %v", err)
	}
	if path := os.Getenv("MEMPROFILE"); path != "" {
		writeHeapProfile(rep, path)
	}
	if graph.n == 0 || probe.n == 0 {
		rep.failf("no draws measured")
		return
	}
	rep.metric("draws", float64(graph.n))
	rep.metric("ns_per_draw", float64(graph.elapsed)/float64(graph.n))
	rep.metric("allocs_per_draw", float64(graph.mallocs)/float64(graph.n))
	rep.metric("bytes_per_draw", float64(graph.bytes)/float64(graph.n))
	rep.metric("worst_allocs_in_a_draw", float64(graph.worst))
	rep.metric("one_triangle_allocs_per_draw", float64(probe.mallocs)/float64(probe.n))
	rep.metric("one_triangle_bytes_per_draw", float64(probe.bytes)/float64(probe.n))
	rep.metric("one_triangle_ns_per_draw", float64(probe.elapsed)/float64(probe.n))
	rep.metric("race", boolMetric(raceEnabled))
}

func writeHeapProfile(rep *report, path string) {
	f, err := os.Create(path)
	if err != nil {
		rep.failf("memprofile: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		rep.failf("memprofile: %v", err)
	}
}

func joinLogs(ls []logLine) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%s %s %s\n", l.Level, l.Msg, l.Attrs)
	}
	return b.String()
}
