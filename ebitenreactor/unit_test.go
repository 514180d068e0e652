//go:build unix

package ebitenreactor_test

// In-process tests: they drive the wrapper's Update directly, without a
// window (Ebitengine's input and TPS queries work before RunGame), so the
// shutdown logic is tested quickly and deterministically; the scenarios
// run the same paths under a real ebiten.RunGame.

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/ebitenreactor"
)

func newReactor(t *testing.T, rep *report) *core.Reactor {
	t.Helper()
	opts := []core.Option{}
	if rep != nil {
		opts = append(opts, core.WithLogger(slog.New(&logHandler{rep: rep})))
	}
	r, err := core.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tickUntil calls g.Update until it returns an error, at most n times,
// pacing the calls by a ticker when pace > 0 (for waits measured in time).
func tickUntil(t *testing.T, g *ebitenreactor.Game, n int, pace time.Duration) error {
	t.Helper()
	var tc <-chan time.Time
	if pace > 0 {
		tk := time.NewTicker(pace)
		defer tk.Stop()
		tc = tk.C
	}
	for i := 0; i < n; i++ {
		if err := g.Update(); err != nil {
			return err
		}
		if tc != nil {
			<-tc
		}
	}
	t.Fatalf("Update did not end the run in %d ticks", n)
	return nil
}

func TestWrapRejectsBadArguments(t *testing.T) {
	defer goleak.VerifyNone(t)
	game := &testGame{w: 1, h: 1}
	r := newReactor(t, nil)
	if _, err := ebitenreactor.Wrap(nil, r); !errors.Is(err, ebitenreactor.ErrInvalidArgument) {
		t.Errorf("nil game: %v", err)
	}
	if _, err := ebitenreactor.Wrap(game, nil); !errors.Is(err, ebitenreactor.ErrInvalidArgument) {
		t.Errorf("nil reactor: %v", err)
	}
	for name, o := range map[string]ebitenreactor.Option{
		"budget 0":         ebitenreactor.WithBudget(0),
		"fraction 1.5":     ebitenreactor.WithBudgetFraction(1.5),
		"fraction 0":       ebitenreactor.WithBudgetFraction(0),
		"history 1":        ebitenreactor.WithHistory(1),
		"logger nil":       ebitenreactor.WithLogger(nil),
		"timeout 0":        ebitenreactor.WithShutdownTimeout(0),
		"grace -1":         ebitenreactor.WithShutdownGrace(-time.Second),
		"net graph nil":    ebitenreactor.WithNetGraph(nil),
		"signals with nil": ebitenreactor.WithSignals(nil),
	} {
		if _, err := ebitenreactor.Wrap(game, r, o); !errors.Is(err, ebitenreactor.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	// A failed Wrap leaves the reactor alone: it can still be started.
	if r.Running() {
		t.Fatal("a failed Wrap started the reactor")
	}
}

func TestWrapRefusesReactorDrivenByRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newReactor(t, nil)
	running := make(chan struct{})
	r.CallWhenRunning(func() { close(running) })
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	<-running
	_, err := ebitenreactor.Wrap(&testGame{w: 1, h: 1}, r)
	if !errors.Is(err, ebitenreactor.ErrDrivenElsewhere) {
		t.Errorf("Wrap of a reactor under Run: %v, want ErrDrivenElsewhere", err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A reactor under Interleave is refused by Wrap, even before its host has
// run a round on this very goroutine: never drained by both.
func TestWrapRefusesInterleavedReactor(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newReactor(t, nil)
	// The host: runs each function the waker hands it, on its own
	// goroutine, until told to stop.
	work := make(chan func(), 1)
	hostDone := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(hostDone)
		for {
			select {
			case f := <-work:
				f()
			case <-quit:
				return
			}
		}
	}()
	if err := r.Interleave(func(f func()) {
		select {
		case work <- f:
		case <-quit:
		}
	}); err != nil {
		t.Fatal(err)
	}
	g, err := ebitenreactor.Wrap(&testGame{w: 1, h: 1}, r)
	if err == nil {
		g.Finish(nil)
	}
	if !errors.Is(err, ebitenreactor.ErrDrivenElsewhere) {
		t.Errorf("a reactor under Interleave: %v, want ErrDrivenElsewhere", err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	<-r.Done()
	close(quit)
	<-hostDone
}

func TestWrapRefusesStoppedReactor(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newReactor(t, nil)
	g, err := ebitenreactor.Wrap(&testGame{w: 1, h: 1}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Finish(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ebitenreactor.Wrap(&testGame{w: 1, h: 1}, r); !errors.Is(err, core.ErrNotRestartable) {
		t.Errorf("Wrap of a stopped reactor: %v, want core.ErrNotRestartable", err)
	}
}

// A reactor the program started itself, on this goroutine, is accepted.
func TestWrapAcceptsReactorStartedHere(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newReactor(t, nil)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	after := 0
	if _, err := r.AddSystemEventTrigger(core.After, core.Shutdown, func() <-chan struct{} { after++; return nil }); err != nil {
		t.Fatal(err)
	}
	g, err := ebitenreactor.Wrap(&testGame{w: 1, h: 1}, r)
	if err != nil {
		t.Fatalf("Wrap of a reactor started here: %v", err)
	}
	if err := g.Update(); err != nil {
		t.Fatalf("first Update: %v", err)
	}
	if err := g.Finish(nil); err != nil {
		t.Fatal(err)
	}
	if after != 1 {
		t.Errorf("after-shutdown trigger ran %d times, want 1", after)
	}
}

// Finish without a run at all (or after a RunGame that returned on its
// own) runs the whole shutdown once, on the calling goroutine.
func TestFinishRunsShutdownOnce(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newReactor(t, nil)
	var causes []ebitenreactor.Cause
	game := &testGame{w: 1, h: 1, started: func(c ebitenreactor.Cause) { causes = append(causes, c) }}
	g, err := ebitenreactor.Wrap(game, r)
	if err != nil {
		t.Fatal(err)
	}
	before, after := 0, 0
	release := make(chan struct{})
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} {
		before++
		// Finish must keep draining while a goodbye is under way.
		if err := r.CallFromThread(func() { close(release) }); err != nil {
			t.Error(err)
		}
		return release
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddSystemEventTrigger(core.After, core.Shutdown, func() <-chan struct{} { after++; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := g.Finish(nil); err != nil {
		t.Fatal(err)
	}
	if err := g.Finish(nil); err != nil {
		t.Fatal(err)
	}
	if before != 1 || after != 1 {
		t.Errorf("before ran %d times, after %d times; want once each", before, after)
	}
	if len(causes) != 1 || causes[0] != ebitenreactor.CausePlatformClosed {
		t.Errorf("ShutdownStarted calls %v, want [platform closed]", causes)
	}
	<-r.Done()
}

func TestGameErrorEndsRunAfterShutdown(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newReactor(t, nil)
	ticks, after := 0, 0
	game := &testGame{w: 1, h: 1, update: func() error {
		ticks++
		if ticks == 3 {
			return errBoom
		}
		return nil
	}}
	g, err := ebitenreactor.Wrap(game, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddSystemEventTrigger(core.After, core.Shutdown, func() <-chan struct{} { after++; return nil }); err != nil {
		t.Fatal(err)
	}
	err = tickUntil(t, g, 100, 0)
	if err != errBoom {
		t.Errorf("Update returned %v, want the game's error unchanged", err)
	}
	if ticks != 3 {
		t.Errorf("the game's Update ran %d times; it must not run again after returning an error", ticks)
	}
	if after != 1 || !g.ShuttingDown() || g.Cause() != ebitenreactor.CauseGameEnded {
		t.Errorf("after %d, shutting down %v, cause %v", after, g.ShuttingDown(), g.Cause())
	}
	if err := g.Finish(err); err != errBoom {
		t.Errorf("Finish returned %v, want the game's error unchanged", err)
	}
}

func TestStopFromAnotherGoroutineEndsRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newReactor(t, nil)
	ticks := 0
	game := &testGame{w: 1, h: 1, update: func() error { ticks++; return nil }}
	g, err := ebitenreactor.Wrap(game, r)
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error)
	go func() { stopped <- r.Stop() }()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := tickUntil(t, g, 100, 0); err != ebiten.Termination {
		t.Errorf("Update returned %v, want ebiten.Termination", err)
	}
	if g.Cause() != ebitenreactor.CauseReactorStopped {
		t.Errorf("cause %v", g.Cause())
	}
	if err := g.Finish(nil); err != nil {
		t.Errorf("Finish: %v", err)
	}
}

// The plugin's hard deadline: with the reactor's own cut-off disabled
// behind its back and a before-shutdown trigger that never finishes, the
// run still ends, reporting ErrShutdownIncomplete and logging why.
func TestHardDeadlineAbandonsShutdown(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep := &report{}
	logger := slog.New(&logHandler{rep: rep})
	r := newReactor(t, rep)
	game := &testGame{w: 1, h: 1, update: func() error { return ebiten.Termination }}
	g, err := ebitenreactor.Wrap(game, r, ebitenreactor.WithLogger(logger),
		ebitenreactor.WithShutdownTimeout(30*time.Millisecond), ebitenreactor.WithShutdownGrace(30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	never := make(chan struct{})
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} { return never }); err != nil {
		t.Fatal(err)
	}
	r.SetShutdownTimeout(0)
	start := time.Now()
	err = tickUntil(t, g, 1000, time.Millisecond)
	took := time.Since(start)
	if !errors.Is(err, ebitenreactor.ErrShutdownIncomplete) {
		t.Errorf("Update returned %v, want ErrShutdownIncomplete", err)
	}
	if took < 60*time.Millisecond {
		t.Errorf("gave up after %v, before the deadline", took)
	}
	if err := g.Finish(err); !errors.Is(err, ebitenreactor.ErrShutdownIncomplete) {
		t.Errorf("Finish: %v", err)
	}
	if logs := joinLogs(rep.res.Logs); !strings.Contains(logs, "did not finish its shutdown in time") {
		t.Errorf("not logged; logs:\n%s", logs)
	}
	// Let the abandoned reactor end, so that nothing leaks into the next
	// test: release the trigger and drain it here.
	close(never)
	tk := time.NewTicker(time.Millisecond)
	defer tk.Stop()
	for i := 0; !r.Drain(10 * time.Millisecond).Finished; i++ {
		if i > 5000 {
			t.Fatal("the reactor did not finish")
		}
		<-tk.C
	}
	<-r.Done()
}

func TestBudgetFollowsTPS(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer ebiten.SetTPS(ebiten.DefaultTPS)
	r := newReactor(t, nil)
	g, err := ebitenreactor.Wrap(&testGame{w: 1, h: 1}, r)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Finish(nil)
	if got, want := g.Budget(), time.Second/60/4; got != want {
		t.Errorf("default budget %v, want %v", got, want)
	}
	ebiten.SetTPS(30)
	if got, want := g.Budget(), time.Second/30/4; got != want {
		t.Errorf("budget at 30 TPS %v, want %v", got, want)
	}
	if err := g.SetBudgetFraction(0.5); err != nil {
		t.Fatal(err)
	}
	if got, want := g.Budget(), time.Second/30/2; got != want {
		t.Errorf("half a tick at 30 TPS: %v, want %v", got, want)
	}
	if err := g.SetBudget(3 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ebiten.SetTPS(120)
	if got := g.Budget(); got != 3*time.Millisecond {
		t.Errorf("fixed budget %v", got)
	}
	if err := g.SetBudget(0); !errors.Is(err, ebitenreactor.ErrInvalidArgument) {
		t.Errorf("SetBudget(0): %v", err)
	}
	if err := g.SetBudgetFraction(2); !errors.Is(err, ebitenreactor.ErrInvalidArgument) {
		t.Errorf("SetBudgetFraction(2): %v", err)
	}
	if err := g.Update(); err != nil {
		t.Fatal(err)
	}
	if f := g.LastFrame(); f.Budget != 3*time.Millisecond || f.Seq != 1 {
		t.Errorf("frame %+v", f)
	}
}

// The per-tick path allocates nothing of its own: the Frame record, the
// stop checks, the net graph's key. (core's Drain itself allocates 64
// bytes a call as of this writing: goid's stack buffer escapes through
// runtime.Stack. The test allows exactly what a bare Drain allocates.)
func TestUpdateAllocatesNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newReactor(t, nil)
	g, err := ebitenreactor.Wrap(&testGame{w: 1, h: 1}, r, ebitenreactor.WithHistory(16))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Finish(nil)
	for i := 0; i < 32; i++ { // fill the history
		if err := g.Update(); err != nil {
			t.Fatal(err)
		}
	}
	drain := testing.AllocsPerRun(200, func() { _ = r.Drain(time.Millisecond) })
	if n := testing.AllocsPerRun(200, func() { _ = g.Update() }); n != drain {
		t.Errorf("Update allocates %v times per tick; a bare Drain %v", n, drain)
	} else if drain != 0 {
		t.Logf("core's Drain allocates %v times per call; Update adds nothing", drain)
	}
	dst := make([]ebitenreactor.Frame, 0, 16)
	if n := testing.AllocsPerRun(100, func() { dst = g.Frames(dst[:0]) }); n != 0 {
		t.Errorf("Frames allocates %v times", n)
	}
	if len(dst) != 16 || dst[0].Seq+15 != dst[15].Seq {
		t.Errorf("Frames: %d records, seq %d..%d", len(dst), dst[0].Seq, dst[len(dst)-1].Seq)
	}
}

func TestNetGraphOptionsAndValues(t *testing.T) {
	if _, err := ebitenreactor.NewNetGraph(ebitenreactor.WithGraphBars(3)); !errors.Is(err, ebitenreactor.ErrInvalidArgument) {
		t.Errorf("3 bars: %v", err)
	}
	if _, err := ebitenreactor.NewNetGraph(ebitenreactor.WithGraphCorner(9)); !errors.Is(err, ebitenreactor.ErrInvalidArgument) {
		t.Errorf("corner 9: %v", err)
	}
	ng, err := ebitenreactor.NewNetGraph(ebitenreactor.WithGraphKey(ebiten.KeyF9), ebitenreactor.WithGraphVisible(true))
	if err != nil {
		t.Fatal(err)
	}
	if !ng.Visible() {
		t.Error("not visible")
	}
	ng.Toggle()
	if ng.Visible() {
		t.Error("Toggle did not hide it")
	}
	for i := 0; i < ebitenreactor.MaxGraphValues; i++ {
		if err := ng.SetValue(strings.Repeat("v", i+1), float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ng.SetValue("v", 42); err != nil {
		t.Errorf("updating a value: %v", err)
	}
	if err := ng.SetValue("one too many", 1); !errors.Is(err, ebitenreactor.ErrInvalidArgument) {
		t.Errorf("a value too many: %v", err)
	}
	ng.ClearValue("v")
	if err := ng.SetValue("now fits", 1); err != nil {
		t.Errorf("after ClearValue: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() {
		_ = ng.SetValue("now fits", 2)
		ng.SetRTT(time.Millisecond)
	}); n != 0 {
		t.Errorf("SetValue/SetRTT allocate %v times", n)
	}
	// One graph, one game.
	r := newReactor(t, nil)
	g, err := ebitenreactor.Wrap(&testGame{w: 1, h: 1}, r, ebitenreactor.WithNetGraph(ng))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Finish(nil)
	if g.NetGraph() != ng {
		t.Error("NetGraph() is not the graph given")
	}
	if _, err := ebitenreactor.Wrap(&testGame{w: 1, h: 1}, newReactor(t, nil), ebitenreactor.WithNetGraph(ng)); !errors.Is(err, ebitenreactor.ErrInvalidArgument) {
		t.Errorf("a graph attached twice: %v", err)
	}
}

func TestCauseString(t *testing.T) {
	for c, want := range map[ebitenreactor.Cause]string{
		ebitenreactor.CauseNone: "none", ebitenreactor.CauseWindowClosed: "window closed",
		ebitenreactor.CauseSignal: "signal", ebitenreactor.CausePlatformClosed: "platform closed",
		ebitenreactor.Cause(99): "Cause(99)",
	} {
		if got := c.String(); got != want {
			t.Errorf("%d: %q, want %q", int(c), got, want)
		}
	}
}

// One source of truth for the shutdown timeout: the reactor's setting
// holds unless the plugin is told otherwise.
func TestPluginUsesReactorSettings(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, tc := range []struct {
		name string
		core []core.Option
		opts []ebitenreactor.Option
		want time.Duration
	}{
		{"reactor's", []core.Option{core.WithShutdownTimeout(5 * time.Second)}, nil, 5 * time.Second},
		{"default", nil, nil, ebitenreactor.DefaultShutdownTimeout},
		{"plugin's", []core.Option{core.WithShutdownTimeout(5 * time.Second)}, []ebitenreactor.Option{ebitenreactor.WithShutdownTimeout(time.Second)}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &report{}
			r, err := core.New(append(tc.core, core.WithLogger(slog.New(&logHandler{rep: rep})))...)
			if err != nil {
				t.Fatal(err)
			}
			game := &testGame{w: 1, h: 1, update: func() error { return ebiten.Termination }}
			g, err := ebitenreactor.Wrap(game, r, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.ShutdownTimeout(); got != tc.want {
				t.Errorf("shutdown timeout %v, want %v", got, tc.want)
			}
			if err := tickUntil(t, g, 1000, time.Millisecond); !errors.Is(err, ebiten.Termination) {
				t.Errorf("Update returned %v", err)
			}
			if err := g.Finish(nil); err != nil {
				t.Errorf("Finish: %v", err)
			}
		})
	}
}
