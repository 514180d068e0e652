// Command netbench measures the reactor's TCP servers side by side with the
// standard library and gnet v2, and its TLS and WebSocket servers beside
// crypto/tls and coder/websocket ones, each server in its own process.
//
//	go run ./cmd/netbench                 # everything, prints one table
//	go run ./cmd/netbench -quick          # a few seconds, for smoke tests
//	go run ./cmd/netbench -perf reactor-epoll -out /tmp/nb   # also perf record -g
//	go run ./cmd/netbench -echo '' -bulk '' -heapprof -out /tmp/nb  # idle memory + heap profiles
//
// Roles: the driver (default) starts servers as child processes of itself
// (-role server -impl ... -mode echo|sink) and generates the load in its
// own process. See README.md for what each number means.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// spec names a server under test.
type spec struct {
	name  string // as shown in the table
	impl  string // -impl
	drive string // -drive: run (Run), mixed (Run with an idle goroutine-backed listener too) or game (Start + Drain at 60 Hz); reactor only
}

var allSpecs = map[string]spec{
	"reactor-epoll":      {"reactor-epoll", "reactor-epoll", "run"},
	"reactor-poll":       {"reactor-poll", "reactor-poll", "run"},
	"reactor-epoll/game": {"reactor-epoll/game", "reactor-epoll", "game"},
	"reactor-poll/game":  {"reactor-poll/game", "reactor-poll", "game"},
	// Run with a goroutine-backed listener too (idle), as a server with
	// WebSocket players has: the main thread sleeps on its channel and a
	// watcher stands in for epoll_wait.
	"reactor-epoll/mixed": {"reactor-epoll/mixed", "reactor-epoll", "mixed"},
	// The portable backend: I/O goroutines on the Go runtime's poller (the
	// only backend on Windows), measured here on Linux.
	"reactor-portable":      {"reactor-portable", "reactor-portable", "run"},
	"reactor-portable/game": {"reactor-portable/game", "reactor-portable", "game"},
	"std":                   {"std", "std", "run"},
	"gnet1":                 {"gnet1", "gnet1", "run"},
	"gnetN":                 {"gnetN", "gnetN", "run"},
}

// rowOrder is the order of the table's rows.
var rowOrder = []string{"reactor-epoll", "reactor-epoll/mixed", "reactor-poll", "reactor-portable", "reactor-epoll/game", "reactor-poll/game", "reactor-portable/game", "std", "gnet1", "gnetN"}

type config struct {
	echoImpls, bulkImpls, idleImpls, perfImpls []spec
	secureImpls                                []spec

	conns, size int
	dur, warmup time.Duration
	rounds      int
	// secureRounds: rounds of the TLS and WebSocket echo, whose single
	// rounds swing most on a shared machine
	secureRounds int

	sysDur         time.Duration
	strace, pstat  bool
	bulkDur        time.Duration
	idleConns      int
	idleRounds     int
	idleSettle     time.Duration
	outDir         string
	maxUnread      int
	heapProf       bool
	perfRecordDur  time.Duration
	timeout        time.Duration
	commandDisplay string
}

func main() {
	role := flag.String("role", "driver", "driver, or server (a child of the driver)")
	// Server role.
	impl := flag.String("impl", "", "server: reactor-epoll, reactor-poll, reactor-portable, std, gnet1 or gnetN")
	drive := flag.String("drive", "run", "server, reactor only: run (Run), mixed (Run with an idle goroutine-backed listener too) or game (Start, then Drain(4ms) at 60 Hz)")
	mode := flag.String("mode", "echo", "server: echo, or sink (count and discard)")
	addr := flag.String("addr", "127.0.0.1:0", "server: address to listen on")
	memRate := flag.Int("server-memprofilerate", 0, "server: runtime.MemProfileRate (0: Go's default)")
	srvMaxUnread := flag.Int("server-maxunread", 0, "server, reactor only: core.WithMaxUnread(n) (0: the default)")
	// Driver role.
	var cfg config
	echoImpls := flag.String("echo", "reactor-epoll,reactor-epoll/mixed,reactor-poll,reactor-portable,std,gnet1,gnetN", "servers for the echo and syscall measurements ('' to skip)")
	bulkImpls := flag.String("bulk", "reactor-epoll,reactor-poll,reactor-portable,reactor-epoll/game,reactor-portable/game,std,gnet1", "servers for the bulk stream ('' to skip)")
	idleImpls := flag.String("idle", "reactor-epoll,reactor-poll,reactor-portable,std,gnet1", "servers for the idle-connection memory ('' to skip)")
	perfImpls := flag.String("perf", "", "servers to profile with perf record -g during an echo phase (files in -out)")
	secureImpls := flag.String("secure", "reactor-tls,reactor-tls/portable,std-tls,reactor-ws,reactor-ws/portable,reactor-ws/mixed,coder-ws", "servers for the TLS and WebSocket echo ('' to skip)")
	flag.IntVar(&cfg.conns, "conns", 50, "echo: connections")
	flag.IntVar(&cfg.size, "size", 64, "echo: message size in bytes")
	flag.DurationVar(&cfg.dur, "dur", 3*time.Second, "echo: measured time per round")
	flag.DurationVar(&cfg.warmup, "warmup", 500*time.Millisecond, "warm-up before each measurement")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds of echo and bulk (alternating servers; medians reported)")
	flag.IntVar(&cfg.secureRounds, "securerounds", 5, "rounds of the TLS and WebSocket echo (each reactor server next to its baseline; medians reported)")
	flag.DurationVar(&cfg.sysDur, "sysdur", 2*time.Second, "echo load while strace / perf stat count system calls")
	flag.BoolVar(&cfg.strace, "strace", true, "count system calls with strace -c (skipped if strace is missing)")
	flag.BoolVar(&cfg.pstat, "perfstat", true, "count system calls with perf stat (skipped if perf is missing)")
	flag.DurationVar(&cfg.bulkDur, "bulkdur", 3*time.Second, "bulk: measured time per round")
	flag.IntVar(&cfg.idleConns, "idleconns", 5000, "idle: connections")
	flag.IntVar(&cfg.idleRounds, "idlerounds", 2, "idle: rounds")
	flag.DurationVar(&cfg.idleSettle, "settle", time.Second, "idle: wait after the connections are up before reading RSS")
	flag.BoolVar(&cfg.heapProf, "heapprof", false, "after the idle rounds, write a heap profile (MemProfileRate 1) of each idle server holding its connections (files in -out)")
	flag.DurationVar(&cfg.perfRecordDur, "perfdur", 3*time.Second, "perf record: echo load while sampling")
	flag.StringVar(&cfg.outDir, "out", "", "directory for strace/perf files (default: a temporary one, removed unless -perf)")
	flag.IntVar(&cfg.maxUnread, "maxunread", 0, "reactor servers: core.WithMaxUnread(n) on the listener (0: the default)")
	flag.DurationVar(&cfg.timeout, "timeout", 15*time.Minute, "kill everything and fail after this long")
	quick := flag.Bool("quick", false, "smoke test: one short round of everything, 200 idle connections, no strace/perf")
	flag.Parse()

	if *role == "server" {
		if *memRate > 0 {
			runtime.MemProfileRate = *memRate
		}
		if err := serverMain(*impl, *drive, *mode, *addr, *srvMaxUnread); err != nil {
			fmt.Fprintln(os.Stderr, "netbench server:", err)
			os.Exit(1)
		}
		return
	}
	if *role != "driver" {
		fmt.Fprintln(os.Stderr, "netbench: unknown -role", *role)
		os.Exit(2)
	}
	if *quick {
		cfg.dur, cfg.warmup, cfg.rounds, cfg.secureRounds = 200*time.Millisecond, 50*time.Millisecond, 1, 1
		cfg.sysDur, cfg.bulkDur = 200*time.Millisecond, 200*time.Millisecond
		cfg.idleConns, cfg.idleRounds, cfg.idleSettle = 200, 1, 100*time.Millisecond
		cfg.strace, cfg.pstat = false, false
	}
	var err error
	for _, x := range []struct {
		dst *[]spec
		s   string
	}{{&cfg.echoImpls, *echoImpls}, {&cfg.bulkImpls, *bulkImpls}, {&cfg.idleImpls, *idleImpls}, {&cfg.perfImpls, *perfImpls}, {&cfg.secureImpls, *secureImpls}} {
		if *x.dst, err = parseSpecs(x.s); err != nil {
			fmt.Fprintln(os.Stderr, "netbench:", err)
			os.Exit(2)
		}
	}
	cfg.commandDisplay = "netbench " + strings.Join(os.Args[1:], " ")

	// Children die with us, whatever the way out.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "netbench: %v: killing children\n", s)
		killChildren()
		removeTempDir()
		os.Exit(130)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	go func() {
		<-ctx.Done()
		if ctx.Err() == context.DeadlineExceeded {
			fmt.Fprintf(os.Stderr, "netbench: timed out after %v: killing children\n", cfg.timeout)
			killChildren()
			removeTempDir()
			os.Exit(3)
		}
	}()
	code := 0
	func() {
		defer killChildren()
		if err := runDriver(&cfg); err != nil {
			fmt.Fprintln(os.Stderr, "netbench:", err)
			code = 1
		}
	}()
	os.Exit(code)
}

func parseSpecs(s string) ([]spec, error) {
	var out []spec
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		sp, ok := allSpecs[n]
		if !ok {
			sp, ok = secureSpecs[n]
		}
		if !ok {
			return nil, fmt.Errorf("unknown server %q (have %s)", n, strings.Join(rowOrder, ", "))
		}
		out = append(out, sp)
	}
	return out, nil
}

// rotate returns specs starting at the r-th, so that no server always runs
// first (or last) in a round.
func rotate(specs []spec, r int) []spec {
	if len(specs) == 0 {
		return nil
	}
	r %= len(specs)
	return append(append([]spec(nil), specs[r:]...), specs[:r]...)
}
