// Command server is the headless, authoritative server of the example
// multiplayer game:
//
//	go run ./examples/multiplayer/server -addr 127.0.0.1:7777 [-tick 30] [-max-players 64]
//
// It listens on TCP (and UDP, same port number, for snapshots), logs through
// log/slog to stderr, prints "listening on ADDR" to stdout once it listens
// (so that scripts can pass -addr 127.0.0.1:0 and read the port), and stops
// cleanly on SIGINT or SIGTERM: every client gets a Shutdown message and a
// clean close, then the command exits 0. A second signal kills it at once.
//
// The logic lives in package gameserver, beside this file, so that tests and
// benchmarks can run the server in-process.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command, returning its exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg gameserver.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:7777", "TCP `address` to listen on (UDP uses the same port number); port 0 picks one")
	fs.IntVar(&cfg.TickRate, "tick", 30, "simulation ticks per second (1..255)")
	fs.IntVar(&cfg.MaxPlayers, "max-players", 64, "players at once")
	fs.IntVar(&cfg.MaxConns, "max-conns", gameserver.DefaultMaxConns, "TCP connections at once, joined or not")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", gameserver.DefaultHandshakeTimeout, "time a new connection has to send Hello")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", gameserver.DefaultIdleTimeout, "time a player may send nothing before it is dropped")
	fs.BoolVar(&cfg.DisableUDP, "no-udp", false, "send every snapshot over TCP")
	fs.DurationVar(&cfg.StatsInterval, "stats", gameserver.DefaultStatsInterval, "interval of the stats log line; negative: never")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "server: unexpected arguments %q\n", fs.Args())
		return 2
	}
	// Zero means "default" in gameserver.Config; on the command line it is
	// a mistake.
	if cfg.TickRate < 1 || cfg.TickRate > 255 || cfg.MaxPlayers < 1 || cfg.MaxConns < 1 ||
		cfg.HandshakeTimeout <= 0 || cfg.IdleTimeout <= 0 {
		fmt.Fprintln(stderr, "server: -tick must be 1..255, -max-players, -max-conns and the timeouts positive")
		return 2
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log

	r, err := core.New(core.WithLogger(log))
	if err != nil {
		log.Error("reactor", "err", err)
		return 1
	}
	srv, err := gameserver.New(r, cfg)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	fmt.Fprintf(stdout, "listening on %s\n", srv.Addr())

	// Shutdown waits for the clients to close (the server aborts stragglers
	// after its linger time); this bounds the whole sequence anyway.
	r.SetShutdownTimeout(gameserver.DefaultLinger + 3*time.Second)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		select {
		case <-ctx.Done():
			stop() // a second signal kills the process
			log.Info("signal received, stopping")
			_ = r.Stop()
		case <-r.Done():
		}
	}()
	if err := r.Run(); err != nil {
		log.Error("reactor stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
