package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a command of this example running as a process.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line
	stderr *logSink
	exited chan error // Wait's result, once stdout is closed
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), lines: make(chan string, 10000), stderr: newLogSink(), exited: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody reads that far; keep draining
			}
		}
		close(p.lines)
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(bin), p.stderr)
		}
	})
	return p
}

// waitLine returns the first stdout line for which match is true.
func (p *proc) waitLine(t *testing.T, timeout time.Duration, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s: stdout closed before %s", p.cmd.Path, what)
			}
			if match(line) {
				return line
			}
		case <-deadline:
			t.Fatalf("%s: no %s within %v", p.cmd.Path, what, timeout)
		}
	}
}

// signalAndWait sends sig and waits for the process to exit; it returns
// the exit code.
func (p *proc) signalAndWait(t *testing.T, sig os.Signal, timeout time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return p.wait(t, timeout)
}

func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	// Drain what is left of stdout so the reader reaches EOF.
	go func() {
		for range p.lines {
		}
	}()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v", p.cmd.Path, timeout)
	}
	return -1
}

// field returns the value of key=value in a line, or "".
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func fieldFloat(line, key string) float64 {
	v, _ := strconv.ParseFloat(field(line, key), 64)
	return v
}

// The real commands: the server prints its address, bots connect and
// report the full snapshot rate, SIGTERM to the bots makes them say
// goodbye (reason=quit), and SIGTERM to the server sends Shutdown to the
// clients, which exit on their own, and the server exits 0.
func TestCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the commands")
	}
	dir := buildCommands(t)

	srv := start(t, filepath.Join(dir, "server"), "-addr", "127.0.0.1:0")
	addr := strings.TrimPrefix(srv.waitLine(t, 10*time.Second, "listening line", func(l string) bool {
		return strings.HasPrefix(l, "listening on ")
	}), "listening on ")

	bots := start(t, filepath.Join(dir, "bots"), "-addr", addr, "-n", "20")
	line := bots.waitLine(t, 20*time.Second, "a stats line at the full rate", func(l string) bool {
		return field(l, "msg") == "stats" && field(l, "connected") == "20" && field(l, "udp") == "20" &&
			fieldFloat(l, "per_bot_min") >= 0.9*tickRate
	})
	t.Logf("bots: %s", line)
	if fieldFloat(line, "rtt_avg_ms") <= 0 {
		t.Errorf("no RTT in %q", line)
	}
	if code := bots.signalAndWait(t, syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("bots exited %d after SIGTERM", code)
	}
	if srv.stderr.count("msg=join") != 20 {
		t.Fatalf("%d joins logged", srv.stderr.count("msg=join"))
	}
	srv.stderr.waitCount(t, 10*time.Second, 20, "msg=leave", "reason=quit")

	// A second group, still playing when the server stops.
	more := start(t, filepath.Join(dir, "bots"), "-addr", addr, "-n", "3", "-prefix", "late", "-reconnect=false")
	more.waitLine(t, 20*time.Second, "a stats line with 3 bots", func(l string) bool {
		return field(l, "msg") == "stats" && field(l, "connected") == "3"
	})
	srv.stderr.waitCount(t, 10*time.Second, 1, "msg=stats", "players=3")
	if code := srv.signalAndWait(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("server exited %d after SIGTERM", code)
	}
	done := more.waitLine(t, 10*time.Second, "done line", func(l string) bool { return strings.HasPrefix(l, "msg=done") })
	if !strings.Contains(done, `"server shutdown":3`) {
		t.Errorf("bots ended with %q, want all 3 told of the shutdown", done)
	}
	if code := more.wait(t, 10*time.Second); code != 0 {
		t.Errorf("bots exited %d after the server's shutdown", code)
	}
	if n := srv.stderr.count("msg=leave", "reason=shutdown"); n != 3 {
		t.Errorf("%d leave lines with reason=shutdown, want 3", n)
	}
	for _, level := range []string{"level=WARN", "level=ERROR"} {
		if srv.stderr.count(level) != 0 {
			t.Errorf("server logged %s:\n%s", level, srv.stderr)
		}
	}
	if srv.stderr.count("msg=stats", "tick_p99_ms=", "in_bps=", "out_bps=", "conns=") == 0 {
		t.Errorf("no stats line:\n%s", srv.stderr)
	}
}

// buildCommands builds the server and bots commands into a temporary
// directory and returns it.
func buildCommands(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binaries with")
	}
	dir := t.TempDir()
	build := exec.Command(goBin, "build", "-o", dir,
		"github.com/threadedselect/reactor/examples/multiplayer/server",
		"github.com/threadedselect/reactor/examples/multiplayer/bots")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}
