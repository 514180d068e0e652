package webtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// built is what TestMain built once for every test: the server and bots
// commands and the browser client's web root (as `make web` makes it).
type built struct {
	dir      string // holds server, bots and web/
	chromium string // the browser's executable
	skip     string // why the browser tests cannot run here
}

// env is set by TestMain.
var env built

// repoRoot is the main module's directory.
func repoRoot() (string, error) { return filepath.Abs(filepath.Join("..", "..", "..")) }

// findChromium returns the browser to drive: $CHROMIUM, else the first of
// Debian's chromium and its other usual names on PATH.
func findChromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH (make deps installs Debian's chromium; or set CHROMIUM)")
}

// build makes the server and bots commands and the web root in a new
// temporary directory.
func build() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "webtest-")
	if err != nil {
		return "", err
	}
	web := filepath.Join(dir, "web")
	run := func(env []string, args ...string) error {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run(nil, "build", "-o", dir+string(os.PathSeparator), "./examples/multiplayer/server", "./examples/multiplayer/bots"); err != nil {
		return dir, err
	}
	if err := run([]string{"GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0"}, "build", "-o", filepath.Join(web, "client.wasm"), "./examples/multiplayer/client"); err != nil {
		return dir, err
	}
	out, err := exec.Command(goBin, "env", "GOROOT").Output()
	if err != nil {
		return dir, err
	}
	for src, dst := range map[string]string{
		filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm", "wasm_exec.js"):  "wasm_exec.js",
		filepath.Join(root, "examples", "multiplayer", "client", "web", "index.html"): "index.html",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			return dir, err
		}
		if err := os.WriteFile(filepath.Join(web, dst), b, 0o644); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

// logSink collects lines from any goroutine and wakes waiters on every
// write.
type logSink struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{})} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mark returns the current end of the log, for waitLine.
func (l *logSink) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// find returns the first line after mark that contains every one of
// substrs.
func (l *logSink) find(mark int, substrs ...string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(l.b.String()[mark:], "\n") {
		ok := line != ""
		for _, s := range substrs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return line, true
		}
	}
	return "", false
}

// waitLine waits until a line after mark contains every one of substrs,
// and returns it and when it was seen.
func (l *logSink) waitLine(t *testing.T, mark int, timeout time.Duration, substrs ...string) (string, time.Time) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if line, ok := l.find(mark, substrs...); ok {
			return line, time.Now()
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for a line with %q", timeout, substrs)
		}
	}
}

// tail returns the last n lines.
func (l *logSink) tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// proc is a command of the game running as a process, its stdout and
// stderr collected.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *logSink // stdout and stderr
	copied sync.WaitGroup
}

// startProc starts bin with args; the test's cleanup stops it with SIGTERM
// (SIGKILL after 20 s) and waits.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(filepath.Join(env.dir, name), args...), out: newLogSink()}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []io.Reader{stdout, stderr} {
		p.copied.Add(1)
		go func() {
			defer p.copied.Done()
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				_, _ = p.out.Write(append(sc.Bytes(), '\n'))
			}
		}()
	}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s's output (last 40 lines):\n%s", name, p.out.tail(40))
		}
	})
	return p
}

func (p *proc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() {
		p.copied.Wait()
		done <- p.cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		t.Errorf("%s did not exit within 20s of SIGTERM", p.name)
	}
}

// startBrowser starts a headless Chromium (flags that work on machines
// without a GPU: SwiftShader through ANGLE) and returns its context; the
// test's cleanup closes it.
func startBrowser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(env.chromium),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.Flag("use-angle", "swiftshader"),
		chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// Start the browser now, so that its start-up is not charged to the
	// first page.
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("starting %s: %v", env.chromium, err)
	}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// newTab opens a tab in the browser of bctx, collecting its console into
// console.
func newTab(t *testing.T, bctx context.Context, console *logSink) (context.Context, context.CancelFunc) {
	t.Helper()
	tctx, cancel := chromedp.NewContext(bctx)
	if err := chromedp.Do(tctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	listened := listenConsole(tctx, console)
	return tctx, func() {
		cancel()
		<-listened
	}
}
