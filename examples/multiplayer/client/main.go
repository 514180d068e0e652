// Command client is the Ebiten client of the example multiplayer game: a
// window onto the arena, in which you walk your creature among the other
// players with the arrow keys or WASD.
//
//	go run ./examples/multiplayer/client -addr 127.0.0.1:7777 -name alice
//
// The network runs on the project's reactor, which package ebitenreactor
// drains at the start of every Update, so the session (package netclient)
// is driven and read on the game's own goroutine, with no locks. Your
// player moves at once (client-side prediction, corrected by the server's
// snapshots); the others are drawn about 100 ms in the past, interpolated
// between snapshots. F3 shows the net graph. Closing the window (or SIGINT,
// SIGTERM) says goodbye to the server before the window goes away.
//
// Network conditions: -sim simulates a network between the client and the
// server (package netsim), a preset or explicit values, and F4 cycles the
// presets while playing; the net graph (F3) shows what it held back and
// dropped:
//
//	-sim badwifi             off, lan, wifi, 4g, badwifi (150 ms ± 30 ms, 5% loss...)
//	-sim delay=50ms,jitter=10ms,loss=2%
//	-sim-seed 7              the simulator's seed (the same seed, the same drops)
//
// Record and replay (package replay): -record FILE writes everything the
// session observes, frame by frame, to FILE; -replay FILE plays it back to
// the same game code with no server and no sockets (the name, address and
// UDP choice come from the file), checking every frame's state against the
// recording, and quits when the recording ends. Both print the hash of the
// session's state after the last recorded frame in the exit line
// (state_hash=...): a faithful replay prints the recording's.
//
//	-record session.rec
//	-replay session.rec
//
// For demos and tests:
//
//	-screenshot out.png      save a PNG of the screen once -screenshot-players
//	                         players are drawn (or the session has ended) and
//	                         -screenshot-delay has passed since start;
//	                         -screenshot-exit quits once it is saved
//	-exit-after 10s          quit after this long, as if the window were closed
//	-netgraph                start with the net graph shown
//
// It logs to stderr with log/slog, and ends with one line, msg=exit, that
// says how the session ended and what the screen said. The exit status is
// 0 when you quit or the server shut down, 1 when the session failed or
// was lost, 2 for bad flags.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/netsim"
	"github.com/threadedselect/reactor/ebitenreactor"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

func main() {
	os.Exit(run(commandLine(), os.Stderr))
}

// options are the command's flags.
type options struct {
	addr, name string
	ws         string // WebSocket URL; "": TCP to addr
	tls        bool   // TLS to addr
	tlsCA      string // more certificates to trust (PEM file)
	udp        bool
	reconnect  bool
	netGraph   bool
	exitAfter  time.Duration
	shot       shotOptions
	sim        netsim.Settings
	simSeed    uint64
	tape       tapeOptions
}

func parseFlags(args []string, stderr io.Writer) (o options, err error) {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:7777", "the server's `address`")
	fs.StringVar(&o.name, "name", "player", "your player's `name` (1 to 16 bytes)")
	fs.StringVar(&o.ws, "ws", "", "connect over WebSocket to this `URL` (ws:// or wss://) instead of TCP to -addr, which then only names the server; the browser build sets it from the page's address")
	fs.BoolVar(&o.tls, "tls", false, "connect to -addr over TLS (a server started with -tls-cert)")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "trust the certificates in this PEM `file` too (the server's self-signed one); implies -tls, or with -ws applies to wss://")
	fs.BoolVar(&o.udp, "udp", true, "receive snapshots over UDP (TCP otherwise)")
	fs.BoolVar(&o.reconnect, "reconnect", true, "reconnect by itself when the connection is lost or the server restarts; false: show why and stop")
	fs.BoolVar(&o.netGraph, "netgraph", false, "start with the net graph shown (F3 toggles it)")
	fs.DurationVar(&o.exitAfter, "exit-after", 0, "quit after this long, as if the window were closed (0: never)")
	fs.StringVar(&o.shot.path, "screenshot", "", "save a PNG of the screen to this `file`")
	fs.IntVar(&o.shot.players, "screenshot-players", 2, "take the screenshot once this many players are drawn")
	fs.DurationVar(&o.shot.delay, "screenshot-delay", 0, "take the screenshot no sooner than this after start")
	fs.BoolVar(&o.shot.exit, "screenshot-exit", false, "quit once the screenshot is saved")
	sim := fs.String("sim", "off", "simulated network `conditions`: off, lan, wifi, 4g, badwifi, or key=value,... (F4 cycles the presets)")
	fs.Uint64Var(&o.simSeed, "sim-seed", 1, "the network simulator's `seed`")
	fs.StringVar(&o.tape.record, "record", "", "record the session to this `file`")
	fs.StringVar(&o.tape.replay, "replay", "", "replay the session recorded in this `file` (no server needed)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.tape.record != "" && o.tape.replay != "" {
		err := fmt.Errorf("-record and -replay together")
		fmt.Fprintln(stderr, "client:", err)
		return o, err
	}
	if o.sim, err = netsim.Parse(*sim); err != nil {
		fmt.Fprintf(stderr, "client: -sim %q: %v\n", *sim, err)
		return o, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(stderr, "client:", err)
		return o, err
	}
	if err := game.ValidateName(o.name); err != nil {
		fmt.Fprintf(stderr, "client: -name %q: %v\n", o.name, err)
		return o, err
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		fmt.Fprintf(stderr, "client: -addr %q: %v\n", o.addr, err)
		return o, err
	}
	return o, nil
}

// windowTitle is the window's title; tests find the window by it.
func windowTitle(name string) string { return "Reactor arena — " + name }

// run is the whole command; it returns the exit status.
func run(args []string, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	dial, err := dialer(opts)
	if err != nil {
		fmt.Fprintln(stderr, "client:", err)
		return 2
	}
	g, err := newGame(opts, log)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	g.dial = dial
	ebiten.SetWindowTitle(windowTitle(opts.name))
	ebiten.SetWindowSize(screenW, screenH)
	runErr := ebitenreactor.RunGame(g, g.r, ebitenreactor.WithNetGraph(g.ng), ebitenreactor.WithLogger(log))
	g.shot.wait()
	g.tp.close(log)
	return g.exit(runErr)
}

// newGame loads the art and makes the reactor, the net graph and the game.
// The game connects once the reactor runs (RunGame starts it, before the
// window opens) and says goodbye before the reactor stops: the shutdown
// waits until the connection is flushed and closed.
func newGame(opts options, log *slog.Logger) (*Game, error) {
	art, err := loadArt()
	if err != nil {
		return nil, err
	}
	var tp tape
	var clock core.Option
	if opts.tape.replay != "" {
		if err := tp.openReplay(&opts, log); err != nil {
			return nil, err
		}
		clock = core.WithClock(tp.player.Clock())
	}
	r, err := core.New(core.WithLogger(log), clock)
	if err != nil {
		tp.close(log)
		return nil, err
	}
	ng, err := ebitenreactor.NewNetGraph(ebitenreactor.WithGraphVisible(opts.netGraph))
	if err != nil {
		tp.close(log)
		return nil, err
	}
	g := &Game{opts: opts, r: r, ng: ng, art: art, log: log, tp: tp, hud: hudLine{ws: opts.ws != ""}}
	if g.tp.player != nil {
		g.tp.player.Attach(r)
		g.net, g.tp.tape = g.tp.player, g.tp.player
	} else {
		g.sim = netsim.New(netio.Reactor(r), opts.sim, opts.simSeed)
		g.net = g.sim
		if opts.tape.record != "" {
			if err := g.tp.startRecording(opts, g.sim); err != nil {
				return nil, err
			}
			g.net = g.tp.rec
		}
	}
	g.simChanged()
	g.screen.status = ^netclient.Status(0) // no text made yet: the first Update makes it
	g.shot = newScreenshotter(opts.shot, r, log)
	r.CallWhenRunning(g.connect)
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, g.tp.trigger(g.goodbye)); err != nil {
		g.tp.close(log)
		return nil, err
	}
	return g, nil
}

// Game is the client: an ebiten.Game whose Update and Draw read the
// network session directly (they run on the reactor's main thread).
type Game struct {
	opts options
	r    *core.Reactor
	sess *netclient.Session
	net  netio.Net          // what the session goes through: the simulator, the recorder or the player
	sim  *netsim.Conditions // nil when replaying
	tp   tape               // -record, -replay
	keys string             // the key hints' text
	ng   *ebitenreactor.NetGraph
	art  *art
	log  *slog.Logger
	shot *screenshotter
	page page // what the browser's page is told (page_js.go); nothing elsewhere
	dial netclient.Dialer

	frames        uint64
	disconnecting bool                // the shutdown has begun (window closed, signal, -exit-after)
	shutdownCause ebitenreactor.Cause // what began it
	screen        screenKey           // what title and hint were made for
	title, hint   label               // the status screen's text; "" while playing
	hud           hudLine             // the HUD's text while playing
	hudLabel      label               // the HUD's text as drawn
	keyLabel      label               // the net graph's key
	others        []game.PlayerState  // the remote players of this frame, reused
	sprites       []spriteItem        // everybody, in drawing order, reused
	tags          map[uint16]*nameTag // per player: name and how wide it is drawn
	glyphs        []textGlyph         // reused by drawText
	visible       int                 // players drawn in the last frame
	op, finalOp   ebiten.DrawImageOptions
}

// connect dials the server. It runs once the reactor is running.
func (g *Game) connect() {
	g.log.Info("connecting", "addr", g.opts.addr, "ws", g.opts.ws, "name", g.opts.name, "udp", g.opts.udp)
	sess, err := netclient.Dial(g.r, netclient.Config{
		Addr:        g.opts.addr,
		Name:        g.opts.name,
		UDP:         g.opts.udp,
		NoReconnect: !g.opts.reconnect,
		Dial:        g.dial,
		OnStatus:    g.statusChanged,
		Net:         g.net,
	})
	if err != nil {
		// Only a Config that cannot work gets here; the flags were checked.
		g.log.Error("dial", "err", err)
		_ = g.r.Stop()
		return
	}
	g.sess = sess
	if g.opts.exitAfter > 0 && g.tp.player == nil {
		_, _ = g.r.CallLater(g.opts.exitAfter, func() {
			g.log.Info("exit-after elapsed, quitting", "after", g.opts.exitAfter)
			_ = g.r.Stop()
		})
	}
}

// goodbye is the before-shutdown trigger: it tells the server we leave,
// and the shutdown waits until the connection is closed.
func (g *Game) goodbye() <-chan struct{} {
	if g.sess == nil {
		return nil
	}
	ch := g.sess.Goodbye()
	if g.sim != nil {
		// The plugin closes every connection right after this trigger:
		// what the simulator holds back (the goodbye) must go now.
		g.sim.FlushNow()
	}
	return ch
}

// statusChanged logs every change of the session's status.
func (g *Game) statusChanged(s *netclient.Session) {
	st := s.State()
	switch st.Status {
	case netclient.StatusConnected:
		if st.Connects > 1 {
			g.log.Info("reconnected", "player", st.PlayerID, "connects", st.Connects, "resumed", st.Resumed)
			break
		}
		g.log.Info("connected", "player", st.PlayerID, "tick_rate", st.TickRate)
	case netclient.StatusReconnecting:
		g.log.Info("reconnecting", "cause", st.Cause.String(), "reason", st.Reason, "err", errString(st.Err))
	case netclient.StatusFailed, netclient.StatusDisconnected:
		title, _ := screenText(g.opts.addr, st, false)
		g.log.Info("session ended", "status", st.Status.String(), "cause", st.Cause.String(),
			"reason", st.Reason, "err", errString(st.Err), "screen", title)
	}
}

// ShutdownStarted implements ebitenreactor.ShutdownObserver: the screen
// says "Disconnecting…" until the goodbye is said.
func (g *Game) ShutdownStarted(cause ebitenreactor.Cause) {
	g.disconnecting, g.shutdownCause = true, cause
	g.log.Info("shutting down", "cause", cause.String())
}

// Update reads the keys into the session and refreshes what the screen
// shows. The reactor's work (snapshots, timers) ran just before it.
func (g *Game) Update() error {
	g.frames++
	if g.tp.beginFrame() {
		g.log.Info("replay finished", "frames", g.tp.player.Frames(), "err", errString(g.tp.player.Err()))
		return ebiten.Termination
	}
	if g.sim != nil && inpututil.IsKeyJustPressed(ebiten.KeyF4) {
		g.cycleSim()
	}
	g.showSim()
	var buttons uint8
	if g.sess != nil && !g.disconnecting {
		buttons = pressedButtons()
	}
	buttons = g.tp.input(buttons)
	if g.sess == nil {
		g.tp.endFrame(nil)
		return nil
	}
	g.sess.SetButtons(buttons)
	defer g.tp.endFrame(g.sess)
	st := g.sess.State()
	if k := (screenKey{st.Status, st.Cause, g.disconnecting}); k != g.screen {
		g.screen = k
		title, hint := screenText(g.opts.addr, st, g.disconnecting)
		g.title.set(title, g.art.titleFace)
		g.hint.set(hint, g.art.hudFace)
	}
	if st.Status == netclient.StatusConnected {
		g.hud.update(g.opts.name, st, g.visible)
		g.hudLabel.set(g.hud.text, g.art.hudFace)
	} else {
		g.hudLabel.set(g.opts.name, g.art.hudFace)
	}
	g.keyLabel.set(g.keys, g.art.hudFace)
	if st.RTTSamples > 0 {
		g.ng.SetRTT(st.RTT)
	}
	_ = g.ng.SetValue("players", float64(g.visible))
	_ = g.ng.SetValue("pending inputs", float64(g.sess.PendingInputs()))
	g.shot.check(st, g.visible)
	g.page.update(g, st)
	return nil
}

// screenKey is what the status screen's text depends on.
type screenKey struct {
	status        netclient.Status
	cause         netclient.Cause
	disconnecting bool
}

// pressedButtons maps the arrow keys and WASD to the game's buttons.
func pressedButtons() uint8 {
	var b uint8
	if ebiten.IsKeyPressed(ebiten.KeyArrowUp) || ebiten.IsKeyPressed(ebiten.KeyW) {
		b |= game.ButtonUp
	}
	if ebiten.IsKeyPressed(ebiten.KeyArrowDown) || ebiten.IsKeyPressed(ebiten.KeyS) {
		b |= game.ButtonDown
	}
	if ebiten.IsKeyPressed(ebiten.KeyArrowLeft) || ebiten.IsKeyPressed(ebiten.KeyA) {
		b |= game.ButtonLeft
	}
	if ebiten.IsKeyPressed(ebiten.KeyArrowRight) || ebiten.IsKeyPressed(ebiten.KeyD) {
		b |= game.ButtonRight
	}
	return b
}

// Layout implements ebiten.Game: the screen is the arena and its walls,
// at one pixel per world unit.
func (g *Game) Layout(int, int) (int, int) { return screenW, screenH }

// exit logs how the run ended (the msg=exit line tests read) and returns
// the exit status.
func (g *Game) exit(runErr error) int {
	var st netclient.State
	if g.sess != nil {
		st = g.sess.State()
	}
	title, _ := screenText(g.opts.addr, st, false)
	code := 0
	switch {
	case runErr != nil:
		code = 1
	case g.sess == nil:
		code = 1
	case st.Cause != netclient.CauseQuit && st.Cause != netclient.CauseServerShutdown:
		code = 1
	case g.tp.err() != nil:
		code = 1
	}
	g.log.Info("exit", "code", code, "status", st.Status.String(), "cause", st.Cause.String(),
		"reason", st.Reason, "err", errString(st.Err), "screen", title,
		"player", st.PlayerID, "shutdown", g.shutdownCause.String(), "frames", g.frames,
		"screenshot", g.shot.saved(), "run_err", errString(runErr),
		"state_hash", fmt.Sprintf("%016x", g.tp.stateHash(g.sess)), "tape", g.tp.mode(), "tape_frames", g.tp.frames,
		"tape_err", errString(g.tp.err()))
	return code
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// cycleSim moves the simulator to the next preset (F4).
func (g *Game) cycleSim() {
	g.sim.Set(netsim.Next(g.sim.Settings().Name))
	g.simChanged()
}

// simChanged logs the simulator's settings and remakes the key hints.
func (g *Game) simChanged() {
	g.keys = "F3  net graph"
	if g.sim == nil {
		return
	}
	set := g.sim.Settings()
	g.keys = "F3  net graph   F4  network: " + set.Name
	g.log.Info("network conditions", "sim", set.String(), "seed", g.sim.Seed())
}

// showSim feeds the net graph the simulator's counters while it simulates
// something.
func (g *Game) showSim() {
	if g.sim == nil {
		return
	}
	set := g.sim.Settings()
	st := g.sim.Stats().Total()
	if set.Idle() && st.Delayed == 0 {
		g.ng.ClearSim()
		return
	}
	g.ng.SetSim(ebitenreactor.SimStats{Name: set.Name, Delayed: st.Delayed, AvgDelay: st.AvgDelay(),
		Dropped: st.Dropped, Duplicated: st.Duplicated, Reordered: st.Reordered})
}
