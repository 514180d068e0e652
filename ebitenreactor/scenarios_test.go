//go:build unix

package ebitenreactor_test

// The child-process scenarios: each runs one real ebiten.RunGame.

import (
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
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

// orderlyMode is one way an orderly scenario's run ends, and what the
// scenario expects of it.
type orderlyMode struct {
	// end runs in the game's Update at tick 10, once the 16 MiB are
	// queued: it ends the run, from outside (a window manager's close, a
	// signal, Stop from another goroutine) or as the game's Update's own
	// result, which it returns.
	end func(rep *report, r *core.Reactor, title string) error
	// platform: the program runs ebiten.RunGame itself, with the plugin
	// not handling the close (WithCloseHandling(false)), and calls Finish
	// after it; the main goroutine may then run callbacks too.
	platform bool
	cause    ebitenreactor.Cause // what ShutdownStarted and Cause must say
	runErr   error               // what the run must return, unchanged
	// ticksDuring: the game's Update must keep being called while the
	// goodbye is flushed (it can show "disconnecting...").
	ticksDuring bool
	// ownCalls: the timer and the thread call of tick 2 must have run on
	// the game goroutine. (A game that ends itself at tick 10 may end
	// before they are due.)
	ownCalls bool
}

var orderlyModes = map[string]orderlyMode{
	"x11":      {end: closeByWindowManager, cause: ebitenreactor.CauseWindowClosed, ticksDuring: true, ownCalls: true},
	"signal":   {end: interrupt, cause: ebitenreactor.CauseSignal, ticksDuring: true, ownCalls: true},
	"stop":     {end: stopFromGoroutine, cause: ebitenreactor.CauseReactorStopped, ticksDuring: true, ownCalls: true},
	"gameerr":  {end: gameReturns(errBoom), cause: ebitenreactor.CauseGameEnded, runErr: errBoom},
	"gameterm": {end: gameReturns(ebiten.Termination), cause: ebitenreactor.CauseGameEnded},
	"platform": {end: closeByWindowManager, platform: true, cause: ebitenreactor.CausePlatformClosed, ownCalls: true},
}

// orderlyOutcome is what an orderly run did, for verify.
type orderlyOutcome struct {
	runErr                error
	causes                []ebitenreactor.Cause // ShutdownStarted's calls
	cause                 ebitenreactor.Cause   // Cause() after the run
	beforeRuns, afterRuns int                   // runs of the shutdown triggers
	laterTicks            int                   // game Updates after the shutdown began
}

// verify checks an orderly run against what its mode expects.
func (m orderlyMode) verify(rep *report, o orderlyOutcome) {
	switch {
	case m.runErr != nil && o.runErr != m.runErr:
		rep.failf("run returned %v, want the game's own error unchanged", o.runErr)
	case m.runErr == nil && o.runErr != nil:
		rep.failf("run returned %v, want nil", o.runErr)
	}
	if o.beforeRuns != 1 || o.afterRuns != 1 {
		rep.failf("before-shutdown trigger ran %d times, after-shutdown %d times; want once each", o.beforeRuns, o.afterRuns)
	}
	if len(o.causes) != 1 || o.causes[0] != m.cause {
		rep.failf("ShutdownStarted calls: %v, want [%v]", o.causes, m.cause)
	}
	if o.cause != m.cause {
		rep.failf("Cause() = %v, want %v", o.cause, m.cause)
	}
	if m.ticksDuring && o.laterTicks == 0 {
		rep.failf("the game's Update was not called during the shutdown")
	}
}

// closeByWindowManager closes the window as a window manager's close
// button does, from another goroutine.
func closeByWindowManager(rep *report, _ *core.Reactor, title string) error {
	go func() {
		if err := closeWindow(title); err != nil {
			rep.failf("closing the window: %v", err)
		}
	}()
	return nil
}

// interrupt sends the process SIGINT; the plugin's handler has been
// installed since Wrap.
func interrupt(rep *report, _ *core.Reactor, _ string) error {
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		rep.failf("kill: %v", err)
	}
	return nil
}

func stopFromGoroutine(rep *report, r *core.Reactor, _ string) error {
	go func() {
		if err := r.Stop(); err != nil {
			rep.failf("Stop from another goroutine: %v", err)
		}
	}()
	return nil
}

func gameReturns(err error) func(*report, *core.Reactor, string) error {
	return func(*report, *core.Reactor, string) error { return err }
}

// newScenarioReactor sets up the window and makes a reactor logging into
// the report, and the socket tracker; false if that failed (reported).
func newScenarioReactor(rep *report, name string) (title string, logger *slog.Logger, r *core.Reactor, socks *sockets, ok bool) {
	title = setupWindow(name)
	logger = slog.New(&logHandler{rep: rep})
	r, err := core.New(core.WithLogger(logger))
	if err != nil {
		rep.failf("core.New: %v", err)
		return
	}
	socks, err = newSockets()
	if err != nil {
		rep.failf("sockets: %v", err)
		return
	}
	return title, logger, r, socks, true
}

// goodbyePeer is the other end of an orderly scenario's link: it reads
// only once the goodbye begins (startReading), so the game side's queue is
// still full when the shutdown starts; then it reads every byte to EOF,
// checks them, and closes its side. done is closed when it has.
func goodbyePeer(rep *report, peer net.Conn, wantN int64, wantCRC uint32, startReading <-chan struct{}) (done <-chan struct{}) {
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
	return peerDone
}

// orderly runs a game whose reactor says goodbye to a peer on shutdown: a
// before-shutdown trigger sends the rest of a 16 MiB queue and a goodbye,
// shuts down its write side and waits until the peer, having read every
// byte and EOF, closes too. mode (orderlyModes) says what ends the run.
func orderly(rep *report, mode string) {
	m := orderlyModes[mode]
	title, logger, r, socks, ok := newScenarioReactor(rep, "orderly-"+mode)
	if !ok {
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
	startReading := make(chan struct{})
	peerDone := goodbyePeer(rep, peer, int64(len(payload)+len(bye)),
		crc32.Update(crc32.Update(0, crcTable, payload), crcTable, bye), startReading)

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
			if err := m.end(rep, r, title); err != nil {
				return err
			}
		}
		if ticks > 60*20 {
			rep.failf("still running after %d ticks", ticks)
			return errors.New("scenario timed out")
		}
		return nil
	}

	opts := []ebitenreactor.Option{ebitenreactor.WithLogger(logger)}
	if m.platform {
		opts = append(opts, ebitenreactor.WithCloseHandling(false))
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
	if m.platform {
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
	select {
	case <-peerDone:
	case <-time.After(10 * time.Second):
		rep.failf("the peer did not finish within 10s of the end")
	}
	m.verify(rep, orderlyOutcome{runErr: runErr, causes: causes, cause: g.Cause(),
		beforeRuns: beforeRuns, afterRuns: afterRuns, laterTicks: laterTicks})
	rep.metric("ticks", float64(ticks))
	rep.metric("ticks_during_shutdown", float64(laterTicks))
	rep.metric("pending_at_shutdown", float64(pendingAtEnd))
	allowed := []uint64{updateG.Load()}
	if m.platform {
		allowed = append(allowed, mainG)
	}
	need := []int{kindRead, kindWrite, kindLost, kindTrigger}
	if m.ownCalls {
		need = append(need, kindTimer, kindThreadCall)
	}
	th.report(rep, allowed, need...)
	checkLeaks(rep, r, socks)
}

// timeoutScenario: a before-shutdown trigger that never finishes must not
// keep the window open: the reactor cuts it off after the shutdown
// timeout, logs it, and the run ends normally.
func timeoutScenario(rep *report) {
	title, logger, r, socks, ok := newScenarioReactor(rep, "timeout")
	if !ok {
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
		ng.SetSim(ebitenreactor.SimStats{Name: "badwifi", Delayed: uint64(ticks), AvgDelay: time.Duration(ticks) * time.Microsecond,
			Dropped: uint64(ticks / 20), Duplicated: uint64(ticks / 100), Reordered: uint64(ticks / 50)})
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
