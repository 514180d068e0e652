package main

// System calls per echoed message, counted two ways:
//
//   - strace -c -f -p <server>: per system call name, with error counts
//     (read returning EAGAIN shows up as errors). strace stops the server
//     at every call, which changes timing (and so how much each
//     epoll_wait batches), but not what the server does per message.
//   - perf stat on the raw_syscalls:sys_enter tracepoint (and one
//     tracepoint per interesting call): counts at full speed.
//
// Both attach to a server whose load is paused, then the load runs for a
// fixed interval and is paused again (every message answered) before they
// detach, so the calls counted are those of the messages counted.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sysCount is the system calls of one interval.
type sysCount struct {
	tool   string
	msgs   int
	total  int64
	calls  map[string]int64
	errors map[string]int64
}

func (s sysCount) perMsg(name string) float64 {
	if s.msgs == 0 {
		return 0
	}
	if name == "" {
		return float64(s.total) / float64(s.msgs)
	}
	return float64(s.calls[name]) / float64(s.msgs)
}

// names lists the calls, most frequent first.
func (s sysCount) names() []string {
	var ns []string
	for n := range s.calls {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool {
		if s.calls[ns[i]] != s.calls[ns[j]] {
			return s.calls[ns[i]] > s.calls[ns[j]]
		}
		return ns[i] < ns[j]
	})
	return ns
}

// phaser is a load generator that runs one echo phase: the raw-socket
// echoClient, or the secureClient of the TLS and WebSocket echo.
type phaser interface {
	phase(d time.Duration, keepRTTs bool) (phaseResult, error)
}

// underTool attaches a tool (made by mk, given the server's pid) to the
// server, runs one echo phase of d, detaches and returns the phase.
func underTool(srv *server, cl phaser, d time.Duration, cmd *exec.Cmd, needTrace bool) (phaseResult, error) {
	cmd.Stdout = nil
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		return phaseResult{}, err
	}
	track(cmd)
	defer untrack(cmd)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopTool := func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	if needTrace {
		if !allTraced(srv.pid, cmd.Process.Pid, 5*time.Second) {
			stopTool()
			return phaseResult{}, fmt.Errorf("%s did not attach to every thread of %d", cmd.Path, srv.pid)
		}
	}
	time.Sleep(300 * time.Millisecond) // perf has no attach signal; strace: let it settle
	res, err := cl.phase(d, false)
	stopTool()
	return res, err
}

func straceCount(srv *server, cl phaser, d time.Duration, dir string) (sysCount, error) {
	out := filepath.Join(dir, fmt.Sprintf("strace-%s.txt", fileName(srv.spec.name)))
	cmd := exec.Command("strace", "-c", "-f", "-o", out, "-p", strconv.Itoa(srv.pid))
	res, err := underTool(srv, cl, d, cmd, true)
	if err != nil {
		return sysCount{}, err
	}
	sc, err := parseStrace(out)
	sc.msgs = res.msgs
	return sc, err
}

// parseStrace reads strace -c's table.
func parseStrace(path string) (sysCount, error) {
	f, err := os.Open(path)
	if err != nil {
		return sysCount{}, err
	}
	defer f.Close()
	sc := sysCount{tool: "strace", calls: map[string]int64{}, errors: map[string]int64{}}
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		fs := strings.Fields(lines.Text())
		if len(fs) < 5 || fs[0] == "%" || strings.HasPrefix(fs[0], "---") {
			continue
		}
		name := fs[len(fs)-1]
		calls, err := strconv.ParseInt(fs[3], 10, 64)
		if err != nil {
			continue
		}
		if name == "total" {
			sc.total = calls
			continue
		}
		sc.calls[name] = calls
		if len(fs) == 6 {
			if e, err := strconv.ParseInt(fs[4], 10, 64); err == nil {
				sc.errors[name] = e
			}
		}
	}
	if sc.total == 0 {
		for _, n := range sc.calls {
			sc.total += n
		}
	}
	return sc, lines.Err()
}

// perfSyscalls are the calls perf stat counts one by one; the rest is
// "other" (total - their sum).
var perfSyscalls = []string{"read", "write", "readv", "writev", "recvfrom", "sendto",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "poll", "ppoll",
	"futex", "nanosleep", "clock_nanosleep", "sched_yield", "getpid", "tgkill", "accept4"}

func perfCount(srv *server, cl phaser, d time.Duration, dir string) (sysCount, error) {
	out := filepath.Join(dir, fmt.Sprintf("perfstat-%s.csv", fileName(srv.spec.name)))
	args := []string{"stat", "-x,", "-o", out, "-p", strconv.Itoa(srv.pid), "-e", "raw_syscalls:sys_enter"}
	for _, n := range perfSyscalls {
		args = append(args, "-e", "syscalls:sys_enter_"+n)
	}
	res, err := underTool(srv, cl, d, exec.Command("perf", args...), false)
	if err != nil {
		return sysCount{}, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return sysCount{}, err
	}
	sc := sysCount{tool: "perf", msgs: res.msgs, calls: map[string]int64{}}
	var named int64
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Split(line, ",")
		if len(fs) < 3 {
			continue
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue // "<not counted>", "<not supported>", comments
		}
		ev := fs[2]
		switch {
		case ev == "raw_syscalls:sys_enter":
			sc.total = n
		case strings.HasPrefix(ev, "syscalls:sys_enter_"):
			if n > 0 {
				sc.calls[strings.TrimPrefix(ev, "syscalls:sys_enter_")] = n
				named += n
			}
		}
	}
	if other := sc.total - named; other > 0 {
		sc.calls["(other)"] = other
	}
	if sc.total == 0 {
		return sc, fmt.Errorf("perf stat counted nothing (see %s)", out)
	}
	return sc, nil
}

// perfRecord samples the server with call graphs during one echo phase.
func perfRecord(srv *server, cl phaser, d time.Duration, dir string) (string, phaseResult, error) {
	out := filepath.Join(dir, fmt.Sprintf("perf-%s.data", fileName(srv.spec.name)))
	cmd := exec.Command("perf", "record", "-g", "-F", "2000", "-o", out, "-p", strconv.Itoa(srv.pid))
	res, err := underTool(srv, cl, d, cmd, false)
	return out, res, err
}

func have(tool string) bool {
	_, err := exec.LookPath(tool)
	return err == nil
}

// fileName is a server's name as part of a file name ("reactor-tls/portable"
// becomes "reactor-tls-portable").
func fileName(name string) string { return strings.ReplaceAll(name, "/", "-") }
