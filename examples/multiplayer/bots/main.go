// Command bots connects headless bot players to the example multiplayer
// game's server; they wander the arena until stopped:
//
//	go run ./examples/multiplayer/bots -addr 127.0.0.1:7777 -n 20 [-duration 30s] [-udp=false]
//
// Once a second it prints a line to stdout with the snapshots received
// (total, per second, per bot) and the round-trip times (average, maximum):
//
//	msg=stats bots=20 connected=20 udp=20 snapshots=6000 snapshots_per_s=600 per_bot_per_s=30.0 per_bot_min=30.0 rtt_avg_ms=0.210 rtt_max_ms=0.650
//
// -sim runs the bots through a simulated network (package netsim): a preset
// (off, lan, wifi, 4g, badwifi) or explicit values such as
// delay=50ms,jitter=10ms,loss=2%; -sim-seed seeds it. At the end it prints
// what the simulator did (msg=sim).
//
// -record FILE records what the bots observe (package replay); -replay
// FILE replays it to the same bot code with no server and no sockets (the
// number of bots, their names, UDP and the seed of their wandering come
// from the file). Both print at exit a line with the hash of the bots'
// state after the last recorded event:
//
//	msg=exit code=0 state_hash=5f0c... tape=record tape_err=
//
// A faithful replay prints the recording's hash; one that diverges says
// where in tape_err and exits 1.
//
// The bots reconnect by themselves (package core/session underneath): a
// bot whose connection is lost, or whose server shuts down or restarts on
// the same address, connects again with backoff, and prints to stdout
//
//	msg=reconnected bot=bot01 connects=2 resumed=false
//
// when it is back in (resumed=true: the server still held its player).
// -reconnect=false turns that off, and -max-attempts gives a bot up after
// that many failed attempts in a row.
//
// On SIGINT or SIGTERM, or after -duration, every bot says goodbye and the
// command exits 0. When every bot is gone on its own (with -reconnect=false
// or -max-attempts: the server shut down, or could not be reached; or a bot
// was refused or kicked) it prints why and exits, 0 for a server shutdown
// and 1 otherwise. The bots live in package swarm, beside this file.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/netsim"
	"github.com/threadedselect/reactor/examples/multiplayer/bots/swarm"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bots", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7777", "server `address`")
	n := fs.Int("n", 20, "number of bots")
	prefix := fs.String("prefix", "bot", "name prefix (names are PREFIX01, PREFIX02, ...)")
	udp := fs.Bool("udp", true, "ask for snapshots over UDP")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until a signal)")
	every := fs.Duration("stats", time.Second, "interval of the stats line")
	simSpec := fs.String("sim", "off", "simulated network `conditions`: off, lan, wifi, 4g, badwifi, or key=value,...")
	simSeed := fs.Uint64("sim-seed", 1, "the network simulator's `seed`")
	var to tapeOptions
	fs.StringVar(&to.record, "record", "", "record what the bots observe to this `file`")
	fs.StringVar(&to.replay, "replay", "", "replay the bots recorded in this `file` (no server needed)")
	seed := fs.Uint64("seed", 0, "seed of the bots' wandering (0: random)")
	useTLS := fs.Bool("tls", false, "connect over TLS (a server started with -tls-cert)")
	tlsCA := fs.String("tls-ca", "", "trust the certificates in this PEM `file` too (the server's self-signed one); implies -tls")
	reconnect := fs.Bool("reconnect", true, "reconnect a bot whose connection is lost or whose server shuts down or restarts; false: such a bot is gone, and the command exits when every bot is")
	maxAttempts := fs.Int("max-attempts", 0, "with -reconnect, give a bot up after this many failed attempts in a row (0: never)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if to.record != "" && to.replay != "" {
		fmt.Fprintln(stderr, "bots: -record and -replay together")
		return 2
	}
	if fs.NArg() > 0 || *n < 1 || *every <= 0 {
		fmt.Fprintln(stderr, "bots: bad arguments; see -h")
		return 2
	}
	simSet, err := netsim.Parse(*simSpec)
	if err != nil {
		fmt.Fprintf(stderr, "bots: -sim %q: %v\n", *simSpec, err)
		return 2
	}
	var dial netclient.Dialer
	if *useTLS || *tlsCA != "" {
		cfg, err := netclient.TLSClientConfig(*tlsCA)
		if err != nil {
			fmt.Fprintln(stderr, "bots: -tls-ca:", err)
			return 2
		}
		dial = netclient.TLS(*addr, cfg)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := swarm.Config{Addr: *addr, N: *n, Prefix: *prefix, UDP: *udp, Seed: *seed}
	var tp tape
	var clock core.Option
	if to.replay != "" {
		if err := tp.openReplay(to.replay, &cfg, log); err != nil {
			log.Error("replay", "err", err)
			fmt.Fprintf(stdout, "msg=exit code=1 state_hash= tape=replay tape_err=%q\n", err.Error())
			return 1
		}
		clock = core.WithClock(tp.player.Clock())
		simSet = netsim.Settings{} // the recording has what the simulator did
	} else if to.record != "" && cfg.Seed == 0 {
		cfg.Seed = rand.Uint64() | 1 // recorded, so the replay wanders the same way
	}
	r, err := core.New(core.WithLogger(log), clock)
	if err != nil {
		log.Error("reactor", "err", err)
		tp.close(log)
		return 1
	}
	sim := netsim.New(netio.Reactor(r), simSet, *simSeed)
	if !simSet.Idle() {
		log.Info("network conditions", "sim", simSet.String(), "seed", *simSeed)
	}
	var gameNet netio.Net = sim
	switch {
	case tp.player != nil:
		tp.player.Attach(r)
		gameNet = tp.player
	case to.record != "":
		if err := tp.startRecording(to.record, cfg, sim); err != nil {
			log.Error("record", "err", err)
			return 1
		}
		gameNet = tp.rec
	}
	cfg.Client = func(cc *netclient.Config) {
		cc.Net, cc.Dial = gameNet, dial
		cc.NoReconnect, cc.MaxAttempts = !*reconnect, *maxAttempts
	}

	var sw *swarm.Swarm
	var meter swarm.Meter
	var statsFn func()
	stopping := false
	stop := func() {
		if tp.player != nil && !tp.player.Done() {
			return // the recording says when the bots stop
		}
		if !stopping {
			stopping = true
			_ = r.Stop()
		}
	}
	onStatus := func(b *swarm.Bot) {
		st := b.Session.State()
		switch st.Status {
		case netclient.StatusConnected:
			if st.Connects > 1 { // the contract of the command: one line per reconnection
				fmt.Fprintf(stdout, "msg=reconnected bot=%s connects=%d resumed=%t\n", b.Name, st.Connects, st.Resumed)
			}
		case netclient.StatusReconnecting:
			log.Info("bot reconnecting", "bot", b.Name, "cause", st.Cause.String(), "reason", st.Reason, "err", errString(st.Err))
		case netclient.StatusFailed, netclient.StatusDisconnected:
			if st.Cause != netclient.CauseQuit {
				log.Info("bot gone", "bot", b.Name, "status", st.Status.String(), "cause", st.Cause.String(), "reason", st.Reason, "err", errString(st.Err))
			}
			if sw != nil && sw.Done() {
				stop()
			}
		}
	}
	setup := func() {
		var err error
		cfg.OnStatus = onStatus
		sw, err = swarm.Start(r, cfg)
		if err != nil {
			log.Error("start", "err", err)
			stop()
			return
		}
		if tp.player != nil {
			tp.play(r, func() { tp.hash = botsHash(sw); stop() })
		}
		meter.Measure(sw, r.Now())
		statsFn = func() {
			fmt.Fprintln(stdout, meter.Measure(sw, r.Now()))
			_, _ = r.CallLater(*every, statsFn)
		}
		_, _ = r.CallLater(*every, statsFn)
		if *duration > 0 && tp.player == nil {
			_, _ = r.CallLater(*duration, stop)
		}
	}
	r.CallWhenRunning(setup)
	goodbye := tp.trigger(func() <-chan struct{} { // recorded, and replayed where it was
		if sw == nil {
			return nil
		}
		return sw.Goodbye()
	})
	r.OnShutdown(func() <-chan struct{} {
		stopping = true
		return goodbye()
	})
	r.SetShutdownTimeout(5 * time.Second)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			cancel()
			_ = r.CallFromThread(stop)
		case <-r.Done():
		}
	}()
	if err := r.Run(); err != nil {
		log.Error("reactor stopped", "err", err)
		tp.close(log)
		return 1
	}
	tp.close(log)
	if sw == nil {
		return 1
	}
	if tp.player == nil {
		tp.hash = botsHash(sw) // after the last event recorded
	}
	if !simSet.Idle() {
		st := sim.Stats()
		fmt.Fprintf(stdout, "msg=sim preset=%s recv_delayed=%d recv_avg_ms=%.1f recv_dropped=%d recv_duplicated=%d recv_reordered=%d send_delayed=%d send_avg_ms=%.1f send_dropped=%d\n",
			simSet.Name, st.Recv.Delayed, float64(st.Recv.AvgDelay())/1e6, st.Recv.Dropped, st.Recv.Duplicated, st.Recv.Reordered,
			st.Send.Delayed, float64(st.Send.AvgDelay())/1e6, st.Send.Dropped)
	}
	code := summary(sw, stdout)
	if tp.err() != nil {
		code = 1
	}
	fmt.Fprintf(stdout, "msg=exit code=%d state_hash=%016x tape=%s tape_err=%q\n", code, tp.hash, tp.mode(), errString(tp.err()))
	return code
}

// summary prints how the bots ended and returns the exit status: 0 when
// every bot quit or saw the server shut down.
func summary(sw *swarm.Swarm, w io.Writer) int {
	causes := map[string]int{}
	status := 0
	for _, b := range sw.Bots {
		st := b.Session.State()
		causes[st.Cause.String()]++
		if st.Cause != netclient.CauseQuit && st.Cause != netclient.CauseServerShutdown {
			status = 1
		}
	}
	var parts []string
	for c, k := range causes {
		parts = append(parts, fmt.Sprintf("%q:%d", c, k))
	}
	sort.Strings(parts)
	fmt.Fprintf(w, "msg=done causes={%s}\n", strings.Join(parts, ","))
	return status
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
