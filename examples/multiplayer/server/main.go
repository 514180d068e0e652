// Command server is the headless, authoritative server of the example
// multiplayer game:
//
//	go run ./examples/multiplayer/server -addr 127.0.0.1:7777 [-tick 30] [-max-players 64]
//	bin/server -addr 127.0.0.1:7777 -web 127.0.0.1:8080   # after make web
//
// With -web it also serves the browser client (the client built for
// WebAssembly, from -web-root: `make web` puts it in bin/web, beside
// bin/server) at http://ADDR/?name=you, prints "browser client at URL" to
// stdout, and takes WebSocket players at /ws on the same port: they play
// in the same match as TCP clients, their snapshots over the WebSocket.
// With -tls-cert and -tls-key the game port speaks TLS and the web
// endpoint HTTPS and WSS.
//
// It listens on TCP (and UDP, same port number, for snapshots), logs through
// log/slog to stderr (through a queue, core/asynclog: a slow reader of
// stderr costs log lines, which are counted and reported, never the game's
// time), prints "listening on ADDR" to stdout once it listens
// (so that scripts can pass -addr 127.0.0.1:0 and read the port), and stops
// cleanly on SIGINT or SIGTERM: every client gets a Shutdown message and a
// clean close, then the command exits 0. A second signal kills it at once.
//
// A player whose connection breaks keeps its id and its place for -grace
// (default 5s): its client, which reconnects by itself, resumes it
// (msg=resume); later, it joins as a new player. -grace 0 turns that off.
//
// After a burst of allocation (a storm of joins and leaves) it runs a
// garbage collection and gives the memory back to the system, within ten
// seconds, on a goroutine of its own (memory.go): the server allocates next
// to nothing in its steady state, so the Go runtime would otherwise keep
// the burst's memory for minutes.
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
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/asynclog"
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
	fs.IntVar(&cfg.MaxConnsPerAddr, "max-conns-per-addr", gameserver.DefaultMaxConnsPerAddr, "TCP connections at once from one address (IPv4, or IPv6 /64); beyond, a Reject says so")
	fs.IntVar(&cfg.MaxPlayersPerAddr, "max-players-per-addr", gameserver.DefaultMaxPlayersPerAddr, "players at once from one address (IPv4, or IPv6 /64)")
	exempt := fs.String("addr-limit-exempt", prefixList(gameserver.DefaultAddrLimitExempt), "comma-separated `prefixes` the per-address limits do not apply to; empty: none")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", gameserver.DefaultHandshakeTimeout, "time a new connection has to send Hello")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", gameserver.DefaultIdleTimeout, "time a player may send nothing before it is dropped")
	fs.DurationVar(&cfg.Grace, "grace", gameserver.DefaultGrace, "time a player whose connection broke keeps its id and place for its client to resume; 0: none")
	fs.IntVar(&cfg.SlowClientQueue, "slow-queue", gameserver.DefaultSlowClientQueue, "`bytes` a client may leave unsent (process and kernel) before its snapshots are skipped")
	fs.DurationVar(&cfg.SlowClientTimeout, "slow-timeout", gameserver.DefaultSlowClientTimeout, "time a client may stay above -slow-queue before it is dropped (reason=slow)")
	fs.IntVar(&cfg.SendBuffer, "send-buffer", gameserver.DefaultSendBuffer, "kernel send buffer of each connection, `bytes` (SO_SNDBUF); negative: the system's")
	fs.Float64Var(&cfg.PeerLogRate, "log-rate", gameserver.DefaultPeerLogRate, "log lines per second that clients can cause (joins, leaves, refusals), burst 5 times that; negative: no limit")
	logQueue := fs.Int("log-queue", asynclog.DefaultQueueSize, "log records that may wait for stderr; beyond, they are dropped and counted")
	fs.BoolVar(&cfg.DisableUDP, "no-udp", false, "send every snapshot over TCP")
	fs.DurationVar(&cfg.StatsInterval, "stats", gameserver.DefaultStatsInterval, "interval of the stats log line; negative: never")
	debug := fs.Bool("debug", false, "log at debug level")
	webAddr := fs.String("web", "", "serve the browser client and take WebSocket players (path "+webPath+") on this TCP `address`; empty: no web endpoint")
	webRoot := fs.String("web-root", "", "`directory` holding the browser client (index.html, wasm_exec.js, client.wasm; `make web` builds it); default: web beside this program")
	tlsCert := fs.String("tls-cert", "", "TLS certificate `file` (PEM): the game port speaks TLS and the web endpoint HTTPS and WSS; needs -tls-key")
	tlsKey := fs.String("tls-key", "", "the certificate's private key `file` (PEM)")
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
		cfg.MaxConnsPerAddr < 1 || cfg.MaxPlayersPerAddr < 1 || cfg.SlowClientQueue < 1 || *logQueue < 1 ||
		cfg.HandshakeTimeout <= 0 || cfg.IdleTimeout <= 0 || cfg.SlowClientTimeout <= 0 || cfg.SendBuffer == 0 || cfg.PeerLogRate == 0 {
		fmt.Fprintln(stderr, "server: -tick must be 1..255; -max-players, the other limits, the queues and the timeouts positive; -send-buffer and -log-rate not 0")
		return 2
	}
	if cfg.Grace <= 0 {
		cfg.Grace = -1 // -grace 0: no resume
	}
	var err error
	if cfg.AddrLimitExempt, err = parsePrefixes(*exempt); err != nil {
		fmt.Fprintf(stderr, "server: -addr-limit-exempt: %v\n", err)
		return 2
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		fmt.Fprintln(stderr, "server: -tls-cert and -tls-key go together")
		return 2
	}
	if *tlsCert != "" {
		if cfg.TLS, err = loadTLS(*tlsCert, *tlsKey); err != nil {
			fmt.Fprintf(stderr, "server: -tls-cert, -tls-key: %v\n", err)
			return 2
		}
	}
	if *webAddr != "" {
		if *webRoot == "" {
			*webRoot = defaultWebRoot()
		}
		if err := checkWebRoot(*webRoot); err != nil {
			fmt.Fprintf(stderr, "server: -web: %v\n", err)
			return 2
		}
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logs := asynclog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}), &asynclog.Options{QueueSize: *logQueue})
	defer func() {
		// Whatever is still queued, within a bound: a stderr nobody reads
		// must not keep the process from exiting.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = logs.Shutdown(ctx)
	}()
	log := slog.New(logs)
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
	if *webAddr != "" {
		web, err := startWeb(*webAddr, *webRoot, cfg.TLS, srv.WebSocketHandler(nil), log)
		if err != nil {
			log.Error("start", "err", err)
			return 1
		}
		// After the reactor: the game server's shutdown has closed the
		// WebSocket players by then.
		defer func() { _ = web.Close() }()
		log.Info("web", "addr", web.ln.Addr().String(), "root", *webRoot, "url", web.URL("you"))
		fmt.Fprintf(stdout, "browser client at %s\n", web.URL("you"))
	}

	// Shutdown waits for the clients to close (the server aborts stragglers
	// after its linger time); this bounds the whole sequence anyway.
	r.SetShutdownTimeout(gameserver.DefaultLinger + 3*time.Second)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	released := make(chan struct{})
	go func() {
		defer close(released)
		newMemRelease(16<<20).run(10*time.Second, r.Done())
	}()
	defer func() { <-released }()
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

// prefixList formats prefixes as -addr-limit-exempt takes them.
func prefixList(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// parsePrefixes parses a comma-separated list of prefixes (or bare
// addresses); the empty string is the empty, non-nil list.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
