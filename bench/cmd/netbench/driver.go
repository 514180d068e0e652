package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

type echoRound struct {
	rate      float64 // messages per second
	p50, p99  time.Duration
	cpuPerMsg time.Duration // server utime+stime / messages
	mallocs   float64       // server heap allocations per message
	mallocN   int64         // server heap allocations over the interval
	clientCPU time.Duration // load generator CPU per message
	ranPerMsg float64       // reactor: callbacks run per message
	drPerMsg  float64       // reactor: DataReceived calls per message
	// secure echo: the server's context switches per message, voluntary
	// (a thread slept) and involuntary (preempted)
	volSwitches, involSwitches float64
}

type bulkRound struct {
	mbps float64
	late float64 // game mode: fraction of frames whose Drain left work queued
}

type idleRound struct {
	perConn, perConnGC float64 // bytes of RSS per connection: as is, and after GC + FreeOSMemory
	rss0, rss1         int64   // kB
}

type results struct {
	echo       map[string][]echoRound
	strace     map[string]sysCount
	perfstat   map[string]sysCount
	bulk       map[string][]bulkRound
	idle       map[string][]idleRound
	loads      []string
	notes      []string
	perfData   map[string]string
	secure     map[string][]echoRound
	securePerf map[string]sysCount // perf stat of the TLS and WebSocket servers
	// securePair holds, for each reactor server of the secure echo, the
	// baseline's rounds run next to its own, one per round, in order.
	securePair map[string][]echoRound
	heapProfs  []string
}

// tempDir is a directory the driver made for itself and removes on any
// way out (see main's signal handler).
var tempDir atomic.Value

func removeTempDir() {
	if d, ok := tempDir.Load().(string); ok && d != "" {
		os.RemoveAll(d)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "netbench: "+format+"\n", args...)
}

func (res *results) load(when string) {
	res.loads = append(res.loads, fmt.Sprintf("%s %s", when, loadavg()))
}

func runDriver(cfg *config) error {
	res := &results{
		echo: map[string][]echoRound{}, strace: map[string]sysCount{}, perfstat: map[string]sysCount{},
		bulk: map[string][]bulkRound{}, idle: map[string][]idleRound{}, perfData: map[string]string{},
		secure: map[string][]echoRound{}, securePerf: map[string]sysCount{}, securePair: map[string][]echoRound{},
	}
	dir := cfg.outDir
	if dir == "" {
		d, err := os.MkdirTemp("", "netbench-")
		if err != nil {
			return err
		}
		dir = d
		if len(cfg.perfImpls) == 0 && !cfg.heapProf {
			tempDir.Store(d)
			defer removeTempDir()
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	start := time.Now()
	serverMaxUnread = cfg.maxUnread
	res.load("start")
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && len(cfg.idleImpls) > 0 {
		if need := uint64(cfg.idleConns + 256); lim.Max < need {
			n := int(lim.Max) - 256
			res.notes = append(res.notes, fmt.Sprintf("RLIMIT_NOFILE hard limit %d: idle connections cut from %d to %d", lim.Max, cfg.idleConns, n))
			cfg.idleConns = n
		}
	}

	// 1. Echo: alternating rounds.
	for r := 0; r < cfg.rounds && len(cfg.echoImpls) > 0; r++ {
		for _, sp := range rotate(cfg.echoImpls, r) {
			er, err := runEchoRound(cfg, sp)
			if err != nil {
				return fmt.Errorf("echo %s round %d: %w", sp.name, r+1, err)
			}
			res.echo[sp.name] = append(res.echo[sp.name], er)
			logf("echo  %-18s round %d: %8.0f msg/s  p50 %-9v p99 %-9v server %5.2f µs/msg  client %5.2f µs/msg  mallocs %d in %d msgs",
				sp.name, r+1, er.rate, er.p50.Round(time.Microsecond), er.p99.Round(time.Microsecond), us(er.cpuPerMsg), us(er.clientCPU), er.mallocN, int64(er.rate*cfg.dur.Seconds()))
		}
		res.load(fmt.Sprintf("after echo round %d", r+1))
	}

	// 1b. TLS and WebSocket echo: each reactor server measured together with a
	// round of its baseline (see securePlan).
	for r := 0; r < cfg.secureRounds && len(cfg.secureImpls) > 0; r++ {
		plan := securePlan(cfg.secureImpls, r)
		for i := 0; i < len(plan); i++ {
			runs := plan[i : i+1]
			var ers []echoRound
			if i+1 < len(plan) && pairedRuns(plan[i], plan[i+1]) {
				runs = plan[i : i+2]
				i++
				a, b, err := runSecurePair(cfg, runs[0].sp, runs[1].sp)
				if err != nil {
					return fmt.Errorf("secure echo %s and %s round %d: %w", runs[0].sp.name, runs[1].sp.name, r+1, err)
				}
				ers = []echoRound{a, b}
			} else {
				er, err := runSecureRound(cfg, runs[0].sp)
				if err != nil {
					return fmt.Errorf("secure echo %s round %d: %w", runs[0].sp.name, r+1, err)
				}
				ers = []echoRound{er}
			}
			for k, run := range runs {
				sp, er := run.sp, ers[k]
				res.secure[sp.name] = append(res.secure[sp.name], er)
				if run.pairOf != "" {
					res.securePair[run.pairOf] = append(res.securePair[run.pairOf], er)
				}
				logf("echo  %-18s round %d: %8.0f msg/s  p50 %-9v p99 %-9v server %5.2f µs/msg  switches %.3f+%.3f/msg  client %5.2f µs/msg  mallocs %d",
					sp.name, r+1, er.rate, er.p50.Round(time.Microsecond), er.p99.Round(time.Microsecond), us(er.cpuPerMsg), er.volSwitches, er.involSwitches, us(er.clientCPU), er.mallocN)
			}
		}
		res.load(fmt.Sprintf("after secure echo round %d", r+1))
	}

	// 2. System calls, and perf record where asked.
	doStrace := cfg.strace && have("strace")
	doPerf := cfg.pstat && have("perf")
	if cfg.strace && !doStrace {
		res.notes = append(res.notes, "strace not found: strace syscall counts skipped")
	}
	if cfg.pstat && !doPerf {
		res.notes = append(res.notes, "perf not found: perf stat syscall counts skipped")
	}
	for _, sp := range cfg.echoImpls {
		record := slices.Contains(cfg.perfImpls, sp)
		if !doStrace && !doPerf && !record {
			continue
		}
		if err := runSyscallPass(cfg, sp, dir, doStrace, doPerf, record, res); err != nil {
			return fmt.Errorf("syscalls %s: %w", sp.name, err)
		}
	}
	for _, sp := range cfg.secureImpls {
		record := slices.Contains(cfg.perfImpls, sp)
		if !doPerf && !record {
			continue
		}
		if err := runSyscallPass(cfg, sp, dir, false, doPerf, record, res); err != nil {
			return fmt.Errorf("syscalls %s: %w", sp.name, err)
		}
	}
	for _, sp := range cfg.perfImpls {
		if !slices.Contains(cfg.echoImpls, sp) && !slices.Contains(cfg.secureImpls, sp) {
			if err := runSyscallPass(cfg, sp, dir, false, false, true, res); err != nil {
				return fmt.Errorf("perf record %s: %w", sp.name, err)
			}
		}
	}
	if len(cfg.echoImpls) > 0 {
		res.load("after syscalls")
	}

	// 3. Bulk stream.
	for r := 0; r < cfg.rounds && len(cfg.bulkImpls) > 0; r++ {
		for _, sp := range rotate(cfg.bulkImpls, r) {
			br, err := runBulkRound(cfg, sp)
			if err != nil {
				return fmt.Errorf("bulk %s round %d: %w", sp.name, r+1, err)
			}
			res.bulk[sp.name] = append(res.bulk[sp.name], br)
			logf("bulk  %-18s round %d: %7.1f MB/s  late frames %.0f%%", sp.name, r+1, br.mbps, 100*br.late)
		}
	}
	if len(cfg.bulkImpls) > 0 {
		res.load("after bulk")
	}

	// 4. Idle connections.
	for r := 0; r < cfg.idleRounds && len(cfg.idleImpls) > 0; r++ {
		for _, sp := range rotate(cfg.idleImpls, r) {
			ir, err := runIdleRound(cfg, sp)
			if err != nil {
				return fmt.Errorf("idle %s round %d: %w", sp.name, r+1, err)
			}
			res.idle[sp.name] = append(res.idle[sp.name], ir)
			logf("idle  %-18s round %d: %6.0f B/conn (%6.0f after GC)  RSS %d -> %d kB",
				sp.name, r+1, ir.perConn, ir.perConnGC, ir.rss0, ir.rss1)
		}
	}
	if len(cfg.idleImpls) > 0 {
		res.load("end")
	}
	if cfg.heapProf {
		for _, sp := range cfg.idleImpls {
			f, err := heapProfile(cfg, sp, dir)
			if err != nil {
				return fmt.Errorf("heap profile %s: %w", sp.name, err)
			}
			res.heapProfs = append(res.heapProfs, fmt.Sprintf("heap profile of %s holding %d connections: go tool pprof -sample_index=inuse_space -top %s", sp.name, cfg.idleConns, f))
		}
	}
	report(os.Stdout, cfg, res, time.Since(start))
	for _, h := range res.heapProfs {
		fmt.Println(h)
	}
	if len(res.perfData) > 0 {
		fmt.Println()
		for _, sp := range cfg.perfImpls {
			if f, ok := res.perfData[sp.name]; ok {
				fmt.Printf("perf record of %s: perf report -i %s --no-children --stdio | head -60\n", sp.name, f)
			}
		}
	}
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func runEchoRound(cfg *config, sp spec) (echoRound, error) {
	var er echoRound
	srv, err := startServer(sp, "echo")
	if err != nil {
		return er, err
	}
	defer srv.stop()
	cl, err := newEchoClient(srv.addr, cfg.conns, cfg.size)
	if err != nil {
		return er, err
	}
	defer cl.close()
	if _, err := cl.phase(cfg.warmup, false); err != nil {
		return er, err
	}
	// Two queries in a row while the load is paused: the second delta is
	// what one query itself allocates, subtracted below.
	sA, err := srv.stats()
	if err != nil {
		return er, err
	}
	s0, err := srv.stats()
	if err != nil {
		return er, err
	}
	c0, err := cpuTicks(srv.pid)
	if err != nil {
		return er, err
	}
	ph, err := cl.phase(cfg.dur, true)
	if err != nil {
		return er, err
	}
	c1, err := cpuTicks(srv.pid)
	if err != nil {
		return er, err
	}
	s1, err := srv.stats()
	if err != nil {
		return er, err
	}
	if ph.msgs == 0 {
		return er, fmt.Errorf("no messages echoed")
	}
	m := float64(ph.msgs)
	er.rate = m / ph.elapsed.Seconds()
	slices.Sort(ph.rtts)
	er.p50 = ph.rtts[len(ph.rtts)*50/100]
	er.p99 = ph.rtts[min(len(ph.rtts)-1, len(ph.rtts)*99/100)]
	er.cpuPerMsg = time.Duration(float64(c1-c0) * float64(tickDur) / m)
	er.mallocN = max(0, (s1["mallocs"]-s0["mallocs"])-(s0["mallocs"]-sA["mallocs"]))
	er.mallocs = float64(er.mallocN) / m
	er.clientCPU = time.Duration(float64(ph.cpu) / m)
	er.ranPerMsg = float64(s1["ran"]-s0["ran"]) / m
	er.drPerMsg = float64(s1["msgsin"]-s0["msgsin"]) / m
	return er, nil
}

func runSyscallPass(cfg *config, sp spec, dir string, doStrace, doPerf, record bool, res *results) error {
	srv, err := startServer(sp, "echo")
	if err != nil {
		return err
	}
	defer srv.stop()
	var cl phaser
	if isSecure(sp.impl) {
		sc, err := newSecureClient(sp.impl, srv.addr, cfg.conns, cfg.size)
		if err != nil {
			return err
		}
		defer sc.close()
		cl = sc
	} else {
		ec, err := newEchoClient(srv.addr, cfg.conns, cfg.size)
		if err != nil {
			return err
		}
		defer ec.close()
		cl = ec
	}
	if _, err := cl.phase(cfg.warmup, false); err != nil {
		return err
	}
	if doPerf {
		sc, err := perfCount(srv, cl, cfg.sysDur, dir)
		if err != nil {
			return err
		}
		if isSecure(sp.impl) {
			res.securePerf[sp.name] = sc
		} else {
			res.perfstat[sp.name] = sc
		}
		logf("sys   %-18s perf stat: %.3f syscalls/msg over %d msgs", sp.name, sc.perMsg(""), sc.msgs)
	}
	if doStrace {
		sc, err := straceCount(srv, cl, cfg.sysDur, dir)
		if err != nil {
			return err
		}
		res.strace[sp.name] = sc
		logf("sys   %-18s strace:    %.3f syscalls/msg over %d msgs", sp.name, sc.perMsg(""), sc.msgs)
	}
	if record {
		f, ph, err := perfRecord(srv, cl, cfg.perfRecordDur, dir)
		if err != nil {
			return err
		}
		res.perfData[sp.name] = f
		logf("perf  %-18s %d msgs sampled into %s", sp.name, ph.msgs, f)
	}
	return nil
}

func runBulkRound(cfg *config, sp spec) (bulkRound, error) {
	var br bulkRound
	srv, err := startServer(sp, "sink")
	if err != nil {
		return br, err
	}
	defer srv.stop()
	stop := make(chan struct{})
	done, err := bulkSend(srv.addr, stop)
	if err != nil {
		return br, err
	}
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			<-done
		}
	}()
	time.Sleep(cfg.warmup)
	s0, err := srv.stats()
	if err != nil {
		return br, err
	}
	t0 := time.Now()
	time.Sleep(cfg.bulkDur)
	s1, err := srv.stats()
	if err != nil {
		return br, err
	}
	el := time.Since(t0)
	close(stop)
	stopped = true
	<-done
	br.mbps = float64(s1["bytes"]-s0["bytes"]) / el.Seconds() / 1e6
	if f := s1["frames"] - s0["frames"]; f > 0 {
		br.late = float64(s1["late"]-s0["late"]) / float64(f)
	}
	if br.mbps <= 0 {
		return br, fmt.Errorf("no bytes received")
	}
	return br, nil
}

func runIdleRound(cfg *config, sp spec) (idleRound, error) {
	var ir idleRound
	srv, err := startServer(sp, "echo")
	if err != nil {
		return ir, err
	}
	defer srv.stop()
	time.Sleep(300 * time.Millisecond)
	if ir.rss0, err = statusKB(srv.pid, "VmRSS"); err != nil {
		return ir, err
	}
	if _, err := srv.query("gc"); err != nil {
		return ir, err
	}
	rss0gc, err := statusKB(srv.pid, "VmRSS")
	if err != nil {
		return ir, err
	}
	n := cfg.idleConns
	cl, err := newEchoClient(srv.addr, n, 1)
	if err != nil {
		return ir, err
	}
	defer cl.close()
	// One byte each way, so every connection has been used once.
	if _, err := cl.phase(0, false); err != nil {
		return ir, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := srv.stats()
		if err != nil {
			return ir, err
		}
		if st["conns"] == int64(n) {
			break
		}
		if time.Now().After(deadline) {
			return ir, fmt.Errorf("server reports %d connections, want %d", st["conns"], n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(cfg.idleSettle)
	if ir.rss1, err = statusKB(srv.pid, "VmRSS"); err != nil {
		return ir, err
	}
	if _, err := srv.query("gc"); err != nil {
		return ir, err
	}
	rss1gc, err := statusKB(srv.pid, "VmRSS")
	if err != nil {
		return ir, err
	}
	ir.perConn = float64(ir.rss1-ir.rss0) * 1024 / float64(n)
	ir.perConnGC = float64(rss1gc-rss0gc) * 1024 / float64(n)
	return ir, nil
}

// heapProfile opens the idle connections to a server that records every
// allocation, and has it write a heap profile.
func heapProfile(cfg *config, sp spec, dir string) (string, error) {
	srv, err := startServer(sp, "echo", "-server-memprofilerate", "1")
	if err != nil {
		return "", err
	}
	defer srv.stop()
	cl, err := newEchoClient(srv.addr, cfg.idleConns, 1)
	if err != nil {
		return "", err
	}
	defer cl.close()
	if _, err := cl.phase(0, false); err != nil {
		return "", err
	}
	time.Sleep(cfg.idleSettle)
	f := filepath.Join(dir, "heap-"+strings.ReplaceAll(sp.name, "/", "-")+".pb.gz")
	if _, err := srv.query("heap " + f); err != nil {
		return "", err
	}
	return f, nil
}

// environment describes the machine, for the report.
func environment() []string {
	var out []string
	out = append(out, fmt.Sprintf("go %s, GOMAXPROCS %d, %d CPUs", runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU()))
	if b, err := exec.Command("git", "log", "-1", "--format=%h %s").Output(); err == nil {
		line := "reactor at " + strings.TrimSpace(string(b))
		if top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output(); err == nil {
			st, _ := exec.Command("git", "-C", strings.TrimSpace(string(top)), "status", "--porcelain", "--", "core").Output()
			if n := len(strings.Fields(strings.ReplaceAll(string(st), " ", ""))); n > 0 {
				line += fmt.Sprintf(" (+ uncommitted changes in core/: %d files)", n)
			}
		}
		out = append(out, line)
	}
	if serverMaxUnread > 0 {
		out = append(out, fmt.Sprintf("reactor servers listen with core.WithMaxUnread(%d)", serverMaxUnread))
	}
	if b, err := exec.Command("uname", "-sr").Output(); err == nil {
		out = append(out, "kernel "+strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile("/proc/self/limits"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Max open files") {
				f := strings.Fields(l)
				if len(f) >= 5 {
					out = append(out, fmt.Sprintf("RLIMIT_NOFILE soft %s hard %s (Go raises soft to hard in every process)", f[3], f[4]))
				}
			}
		}
	}
	return out
}
