package main

// Child processes (servers, strace, perf) and what /proc says about them.
// Every child is registered so that any exit of the driver — return,
// panic in main, SIGINT/SIGTERM, the global timeout — kills it; servers
// also die with the driver (Pdeathsig) and when their stdin closes.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var children struct {
	sync.Mutex
	set map[*exec.Cmd]struct{}
}

func track(c *exec.Cmd) {
	children.Lock()
	defer children.Unlock()
	if children.set == nil {
		children.set = map[*exec.Cmd]struct{}{}
	}
	children.set[c] = struct{}{}
}

func untrack(c *exec.Cmd) {
	children.Lock()
	defer children.Unlock()
	delete(children.set, c)
}

// killChildren kills every child still registered (each by its own pid).
func killChildren() {
	children.Lock()
	defer children.Unlock()
	for c := range children.set {
		if c.Process != nil {
			c.Process.Kill()
		}
	}
}

// serverMaxUnread is passed to reactor servers (-maxunread).
var serverMaxUnread int

// server is a running server process.
type server struct {
	spec  spec
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	addr  string
	pid   int
	done  chan struct{}
}

// startServer runs this binary as a server and waits for its address.
func startServer(sp spec, mode string, extra ...string) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-role", "server", "-impl", sp.impl, "-drive", sp.drive,
		"-mode", mode, "-addr", "127.0.0.1:0", "-server-maxunread", strconv.Itoa(serverMaxUnread)}
	cmd := exec.Command(exe, append(args, extra...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	track(cmd)
	s := &server{spec: sp, cmd: cmd, stdin: stdin, lines: make(chan string, 16), pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	go func() {
		cmd.Wait()
		untrack(cmd)
		close(s.done)
	}()
	line, err := s.readLine(10 * time.Second)
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("%s: %w", sp.name, err)
	}
	addr, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		s.stop()
		return nil, fmt.Errorf("%s: unexpected first line %q", sp.name, line)
	}
	s.addr = addr
	return s, nil
}

func (s *server) readLine(timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l, ok := <-s.lines:
		if !ok {
			return "", fmt.Errorf("server exited")
		}
		return l, nil
	case <-t.C:
		return "", fmt.Errorf("server did not answer within %v", timeout)
	}
}

// serverStats is the server's own report.
type serverStats map[string]int64

func (s *server) query(cmd string) (serverStats, error) {
	if _, err := io.WriteString(s.stdin, cmd+"\n"); err != nil {
		return nil, err
	}
	line, err := s.readLine(10 * time.Second)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(line)
	if len(f) == 0 || f[0] == "error" {
		return nil, fmt.Errorf("%s: %q -> %q", s.spec.name, cmd, line)
	}
	st := serverStats{}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad stats %q", s.spec.name, line)
		}
		st[k] = n
	}
	return st, nil
}

func (s *server) stats() (serverStats, error) { return s.query("stats") }

// stop closes stdin (the server exits), and kills it if it lingers.
func (s *server) stop() {
	s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// cpuTicks is utime+stime of a process in clock ticks (USER_HZ, 100 on
// Linux), threads that exited included.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces: fields start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return u + s, nil
}

const tickDur = 10 * time.Millisecond // 1/USER_HZ

// ctxSwitches sums the context switches, voluntary (a thread that slept:
// a futex, epoll_wait, nanosleep) and not (preempted), of pid's threads
// from /proc/<pid>/task/*/status. A thread that ended takes its counts
// with it; the Go runtime keeps its threads.
func ctxSwitches(pid int) (vol, invol int64, err error) {
	tids := threads(pid)
	if len(tids) == 0 {
		return 0, 0, fmt.Errorf("no threads in /proc/%d/task", pid)
	}
	for _, tid := range tids {
		file := fmt.Sprintf("/proc/%d/task/%d/status", pid, tid)
		v, err1 := statusField(file, "voluntary_ctxt_switches")
		n, err2 := statusField(file, "nonvoluntary_ctxt_switches")
		if err1 != nil || err2 != nil {
			continue // the thread ended
		}
		vol, invol = vol+v, invol+n
	}
	return vol, invol, nil
}

// statusKB reads a "Key:   N kB" field of /proc/<pid>/status.
func statusKB(pid int, key string) (int64, error) {
	return statusField(fmt.Sprintf("/proc/%d/status", pid), key)
}

// statusField reads the number of a "Key:   N [unit]" field of a status
// file of /proc.
func statusField(file, key string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in %s", key, file)
}

// threads lists the thread ids of a process.
func threads(pid int) []int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var tids []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, n)
		}
	}
	return tids
}

// allTraced waits until every thread of pid has tracer as its TracerPid.
func allTraced(pid, tracer int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ok := true
		for _, tid := range threads(pid) {
			b, err := os.ReadFile(filepath.Join(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid)))
			if err != nil || !strings.Contains(string(b), fmt.Sprintf("TracerPid:\t%d\n", tracer)) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
