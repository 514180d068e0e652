//go:build unix

package main

import (
	"bufio"
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOutputPrefixesLines(t *testing.T) {
	var b bytes.Buffer
	out := &output{w: &b}
	var wg sync.WaitGroup
	for _, name := range []string{"server", "bots", "client"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				out.line(name, "a line from "+name)
			}
		}()
	}
	wg.Wait()
	out.printf("%d children", 3)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 301 {
		t.Fatalf("%d lines, want 301", len(lines))
	}
	for _, l := range lines[:300] {
		name := strings.TrimSuffix(strings.TrimPrefix(strings.Fields(l)[0], "["), "]")
		if l != "["+name+"] a line from "+name {
			t.Fatalf("mangled line %q", l)
		}
	}
	if lines[300] != "[demo] 3 children" {
		t.Errorf("got %q", lines[300])
	}
	if got := field(`time=x level=INFO msg=screenshot path=/tmp/a.png players=5`, "path"); got != "/tmp/a.png" {
		t.Errorf("field: got %q", got)
	}
}

// demoBinaries builds the demo and the commands it runs into a temporary
// directory, as `make run` does into bin/.
func demoBinaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the whole demo")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the demo with")
	}
	if _, err := exec.LookPath("Xvfb"); err != nil {
		t.Skip("no Xvfb")
	}
	dir := t.TempDir()
	build := exec.Command(goBin, "build", "-o", dir+"/",
		"github.com/threadedselect/reactor/examples/multiplayer/server",
		"github.com/threadedselect/reactor/examples/multiplayer/bots",
		"github.com/threadedselect/reactor/examples/multiplayer/client",
		"github.com/threadedselect/reactor/examples/multiplayer/demo")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	// Stand-ins for the browser client that make web builds into bin/web:
	// the server only needs them to be there to serve them.
	if err := os.Mkdir(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "wasm_exec.js", "client.wasm"} {
		if err := os.WriteFile(filepath.Join(dir, "web", f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runningDemo is the demo running as a process, its output collected.
type runningDemo struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  []string
	seen chan struct{} // closed and replaced on every line
	done chan struct{}
}

func startDemo(t *testing.T, bin string, args ...string) *runningDemo {
	t.Helper()
	d := &runningDemo{cmd: exec.Command(filepath.Join(bin, "demo"), args...), seen: make(chan struct{}), done: make(chan struct{})}
	// The binaries are not in the repository: the demo finds
	// scripts/with-display.sh from its working directory.
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Dir = root
	d.cmd.Stderr = os.Stderr
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.mu.Lock()
			d.out = append(d.out, sc.Text())
			close(d.seen)
			d.seen = make(chan struct{})
			d.mu.Unlock()
		}
		_ = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		// A demo still running is stopped as Ctrl-C would: killing it
		// would leave its children running.
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-d.done:
			case <-time.After(30 * time.Second):
				_ = d.cmd.Process.Kill()
				<-d.done
			}
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", d.output())
		}
	})
	return d
}

func (d *runningDemo) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.out, "\n")
}

// waitLine waits for an output line containing every one of substrs.
func (d *runningDemo) waitLine(t *testing.T, timeout time.Duration, substrs ...string) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		seen := d.seen
		for _, l := range d.out {
			ok := true
			for _, s := range substrs {
				ok = ok && strings.Contains(l, s)
			}
			if ok {
				d.mu.Unlock()
				return l
			}
		}
		d.mu.Unlock()
		select {
		case <-seen:
		case <-d.done:
			select {
			case <-seen: // one more line may have come
				continue
			default:
			}
			t.Fatalf("the demo exited without a line with %q", substrs)
		case <-deadline:
			t.Fatalf("no line with %q within %v", substrs, timeout)
		}
	}
}

func (d *runningDemo) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-d.done:
		return d.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("the demo did not exit within %v", timeout)
		return -1
	}
}

// The demo as `make run` runs it without a display: under Xvfb for a
// while, with every child's output prefixed, the browser client's URL
// printed, a screenshot saved, and every
// process ending cleanly: the client says goodbye, the server shuts down
// and tells the bots.
func TestDemoHeadless(t *testing.T) {
	bin := demoBinaries(t)
	shot := filepath.Join(t.TempDir(), "demo.png")
	d := startDemo(t, bin, "-headless", "-duration", "4s", "-bots", "2", "-screenshot", shot)
	if code := d.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("demo exited %d", code)
	}
	for _, want := range [][]string{
		{"[server] listening on 127.0.0.1:"},
		{"[server] browser client at http://127.0.0.1:"},
		{"[demo] play in a browser too: http://127.0.0.1:", "/?name=guest"},
		{"[server] ", "msg=stats", "players=3"},
		{"[bots] ", "msg=done", `"server shutdown":2`},
		{"[client] ", "msg=connected"},
		{"[server] ", "msg=leave", "name=you", "reason=quit"},
		{"[demo] screenshot of the client window: " + shot},
		{"[demo] done (exit statuses: client 0, server 0, bots 0)"},
	} {
		d.waitLine(t, time.Second, want...)
	}
	if strings.Contains(d.output(), "XGB:") {
		t.Errorf("the X library's noise was not filtered")
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("the screenshot: %v", err)
	}
}

// Ctrl-C (SIGINT to the demo, as the terminal sends it) stops everything
// in order: the client first, which says goodbye, then the server and the
// bots; the demo exits 0.
func TestDemoInterrupted(t *testing.T) {
	bin := demoBinaries(t)
	d := startDemo(t, bin, "-headless", "-duration", "1m", "-bots", "1", "-screenshot", filepath.Join(t.TempDir(), "x.png"))
	d.waitLine(t, 30*time.Second, "[client] ", "msg=connected")
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("demo exited %d after SIGINT", code)
	}
	d.waitLine(t, time.Second, "[server] ", "msg=leave", "name=you", "reason=quit")
	d.waitLine(t, time.Second, "[client] ", "msg=exit", "code=0", "shutdown=signal")
	d.waitLine(t, time.Second, "[demo] done (exit statuses: client 0, server 0, bots 0)")
}
