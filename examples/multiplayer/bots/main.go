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
// On SIGINT or SIGTERM, or after -duration, every bot says goodbye and the
// command exits 0. When every bot is gone on its own (the server shut down,
// or could not be reached) it prints why and exits, 0 for a server shutdown
// and 1 otherwise. The bots live in package swarm, beside this file.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/threadedselect/reactor/core"
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
	useTLS := fs.Bool("tls", false, "connect over TLS (a server started with -tls-cert)")
	tlsCA := fs.String("tls-ca", "", "trust the certificates in this PEM `file` too (the server's self-signed one); implies -tls")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *n < 1 || *every <= 0 {
		fmt.Fprintln(stderr, "bots: bad arguments; see -h")
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
	r, err := core.New(core.WithLogger(log))
	if err != nil {
		log.Error("reactor", "err", err)
		return 1
	}

	var sw *swarm.Swarm
	var meter swarm.Meter
	var statsFn func()
	stopping := false
	stop := func() {
		if !stopping {
			stopping = true
			_ = r.Stop()
		}
	}
	onStatus := func(b *swarm.Bot) {
		st := b.Session.State()
		switch st.Status {
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
		sw, err = swarm.Start(r, swarm.Config{Addr: *addr, N: *n, Prefix: *prefix, UDP: *udp, OnStatus: onStatus,
			Client: func(cc *netclient.Config) { cc.Dial = dial }})
		if err != nil {
			log.Error("start", "err", err)
			stop()
			return
		}
		meter.Measure(sw, r.Now())
		statsFn = func() {
			fmt.Fprintln(stdout, meter.Measure(sw, r.Now()))
			_, _ = r.CallLater(*every, statsFn)
		}
		_, _ = r.CallLater(*every, statsFn)
		if *duration > 0 {
			_, _ = r.CallLater(*duration, stop)
		}
	}
	if _, err := r.CallWhenRunning(setup); err != nil {
		log.Error("start", "err", err)
		return 1
	}
	_, _ = r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} {
		stopping = true
		if sw == nil {
			return nil
		}
		return sw.Goodbye()
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
		return 1
	}
	if sw == nil {
		return 1
	}
	return summary(sw, stdout)
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
