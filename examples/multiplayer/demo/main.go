// Command demo runs the example multiplayer game on this machine: the
// server, a few bots and one client window. It is what `make run` starts.
//
//	go run ./examples/multiplayer/demo [-bots 4] [-name you] [-duration 0] [-screenshot file]
//
// The server also serves the browser client (the client built for
// WebAssembly, which `make web` puts in bin/web and `make run` builds) on
// -web (default: a free port on 127.0.0.1): the demo prints its URL, and
// a browser opened there joins the same match over WebSocket. Without
// bin/web the demo says so and runs without it.
//
// Every child's output is printed with its name in front ([server],
// [bots], [client]). Closing the window ends the demo: the client says
// goodbye to the server and exits, then the demo stops the server with
// SIGTERM (the server tells the bots it is shutting down, and they leave)
// and waits for everyone. Ctrl-C does the same, stopping the client first.
//
// Without a display (DISPLAY unset, as on a headless server) the demo runs
// itself again under scripts/with-display.sh, which starts a private Xvfb,
// for -duration (default 10s), saves a screenshot of the client window
// (default out/demo.png) and prints its path, so that you can see that it
// works. -headless does the same with a display.
//
// The server, bots and client are run from the directory given by -bin,
// by default the demo's own directory if they are there (`make run` builds
// them all into bin/), else they are built first with `go build`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the demo's flags.
type options struct {
	bots       int
	name       string
	duration   time.Duration
	screenshot string
	headless   bool
	bin        string
	web        string
	// underXvfb is set by the demo when it runs itself under
	// with-display.sh; it then stops when its stdin is closed.
	underXvfb bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.bots, "bots", 4, "number of bots")
	fs.StringVar(&o.name, "name", "you", "your player's `name`")
	fs.DurationVar(&o.duration, "duration", 0, "end the demo after this long (0: when the window is closed; 10s without a display)")
	fs.StringVar(&o.screenshot, "screenshot", "", "save a screenshot of the client window to this `file` (out/demo.png without a display)")
	fs.BoolVar(&o.headless, "headless", false, "run under a private Xvfb even if there is a display")
	fs.StringVar(&o.bin, "bin", "", "`directory` with the server, bots and client commands (default: the demo's own, else build them)")
	fs.StringVar(&o.web, "web", "127.0.0.1:0", "`address` of the server's web endpoint, for the browser client (needs web/ beside the server: make web); empty: none")
	fs.BoolVar(&o.underXvfb, "under-xvfb", false, "(internal) running under with-display.sh")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 || o.bots < 0 || o.duration < 0 {
		fmt.Fprintln(stderr, "demo: bad arguments; see -h")
		return o, errors.New("bad arguments")
	}
	return o, nil
}

// run is the whole demo; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	out := &output{w: stdout}
	if !opts.underXvfb && (opts.headless || !haveDisplay()) {
		return runUnderXvfb(out, stderr, opts, args)
	}
	if opts.underXvfb {
		if opts.duration == 0 {
			opts.duration = 10 * time.Second
		}
		if opts.screenshot == "" {
			opts.screenshot = filepath.Join("out", "demo.png")
		}
	}
	if opts.screenshot != "" {
		if abs, err := filepath.Abs(opts.screenshot); err == nil {
			opts.screenshot = abs
		}
		_ = os.Remove(opts.screenshot) // so that a stale one is not taken for this run's
	}

	// Stop on Ctrl-C or SIGTERM and, under Xvfb, when the demo that started
	// us closes our stdin.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	if opts.underXvfb {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}

	bin, cleanup, err := commands(out, opts.bin)
	if err != nil {
		out.printf("%v", err)
		return 1
	}
	defer cleanup()
	return play(ctx, out, opts, bin)
}

// demo is what the children's output told the demo.
type demo struct {
	listening  chan string // the server's address, once
	web        chan string // the browser client's URL, once
	screenshot chan string // the saved screenshot's path, once

	mu        sync.Mutex
	lastStats string // the server's latest stats line
}

// play runs the server, the bots and the client, and stops them once the
// client has exited or ctx is done. It returns the exit status.
func play(ctx context.Context, out *output, opts options, bin string) int {
	d := &demo{listening: make(chan string, 1), web: make(chan string, 1), screenshot: make(chan string, 1)}

	serverArgs := []string{"-addr", "127.0.0.1:0"}
	web := opts.web != "" && haveWebClient(bin)
	if web {
		serverArgs = append(serverArgs, "-web", opts.web)
	}
	server, err := startProc(out, "server", filepath.Join(bin, exe("server")), serverArgs,
		func(line string) {
			if addr, ok := strings.CutPrefix(line, "listening on "); ok {
				offer(d.listening, addr)
			}
			if url, ok := strings.CutPrefix(line, "browser client at "); ok {
				offer(d.web, url)
			}
			if field(line, "msg") == "stats" {
				d.mu.Lock()
				d.lastStats = line
				d.mu.Unlock()
			}
		}, nil)
	if err != nil {
		out.printf("%v", err)
		return 1
	}
	var addr string
	select {
	case addr = <-d.listening:
	case <-server.done:
		out.printf("the server exited (status %d) before listening", server.exitCode())
		return 1
	case <-time.After(15 * time.Second):
		out.printf("the server did not say where it listens within 15s")
		server.stop(out, 5*time.Second)
		return 1
	case <-ctx.Done():
		server.stop(out, 5*time.Second)
		return 1
	}

	webURL := ""
	if web {
		select {
		case webURL = <-d.web:
			webURL = strings.TrimSuffix(webURL, "?name=you") + "?name=guest"
		case <-server.done:
		case <-time.After(5 * time.Second):
			out.printf("the server did not say where its web endpoint is within 5s")
		}
	}

	var bots *proc
	if opts.bots > 0 {
		bots, err = startProc(out, "bots", filepath.Join(bin, exe("bots")),
			[]string{"-addr", addr, "-n", strconv.Itoa(opts.bots), "-stats", "5s", "-reconnect=false"}, nil, nil)
		if err != nil {
			out.printf("%v", err)
			server.stop(out, 10*time.Second)
			return 1
		}
	}

	clientArgs := []string{"-addr", addr, "-name", opts.name}
	if opts.duration > 0 {
		clientArgs = append(clientArgs, "-exit-after", opts.duration.String())
	}
	if opts.screenshot != "" {
		// Once everybody is on the screen and the bots have spread out.
		delay := 4 * time.Second
		if opts.duration > 0 {
			delay = min(delay, opts.duration/2)
		}
		clientArgs = append(clientArgs, "-screenshot", opts.screenshot,
			"-screenshot-players", strconv.Itoa(opts.bots+1), "-screenshot-delay", delay.String())
	}
	if opts.underXvfb {
		clientArgs = append(clientArgs, "-netgraph") // for the screenshot
	}
	client, err := startProc(out, "client", filepath.Join(bin, exe("client")), clientArgs,
		func(line string) {
			if field(line, "msg") == "screenshot" && field(line, "path") != "" {
				offer(d.screenshot, field(line, "path"))
			}
		},
		// Ebiten's X11 code logs through package xgb, before the client's
		// main runs, that there is no ~/.Xauthority (there never is under
		// Xvfb) and that it connects without one: noise, not an error.
		func(line string) bool { return strings.HasPrefix(line, "XGB: ") })
	if err != nil {
		out.printf("%v", err)
		stopAll(out, nil, bots, server)
		return 1
	}
	if opts.underXvfb {
		out.printf("no display: running for %v under Xvfb; server on %s, %d bots, client %q", opts.duration, addr, opts.bots, opts.name)
	} else {
		out.printf("server on %s, %d bots, client %q: close the window (or press Ctrl-C) to stop", addr, opts.bots, opts.name)
		out.printf("another player can join with: go run ./examples/multiplayer/client -addr %s -name bob", addr)
	}
	switch {
	case webURL != "":
		out.printf("play in a browser too: %s", webURL)
	case opts.web != "" && !web:
		out.printf("no browser client beside the server (run make web, or make run, for %s)", filepath.Join(bin, "web"))
	}

	// Wait for the client to end: the window closed, -duration passed, or
	// we were told to stop. A client that outlives its -exit-after by far
	// is stopped too.
	var backstop <-chan time.Time
	if opts.duration > 0 {
		backstop = time.After(opts.duration + 20*time.Second)
	}
	interrupted := false
	select {
	case <-client.done:
	case <-ctx.Done():
		out.printf("stopping")
		interrupted = true
	case <-backstop:
		out.printf("the client did not quit after %v", opts.duration)
	}
	ok := stopAll(out, client, bots, server)

	codes := fmt.Sprintf("client %d, server %d", client.exitCode(), server.exitCode())
	if bots != nil {
		codes += fmt.Sprintf(", bots %d", bots.exitCode())
	}
	if opts.screenshot != "" {
		select {
		case path := <-d.screenshot:
			out.printf("screenshot of the client window: %s", path)
		default:
			out.printf("no screenshot was taken")
			ok = ok && interrupted // stopped before it was time for one
		}
	}
	d.mu.Lock()
	if d.lastStats != "" && opts.underXvfb {
		out.printf("the server's last stats: %s", d.lastStats)
	}
	d.mu.Unlock()
	if !ok {
		out.printf("done, with trouble (exit statuses: %s)", codes)
		return 1
	}
	out.printf("done (exit statuses: %s)", codes)
	return 0
}

// stopAll stops the children in order: the client (it says goodbye), then
// the server (it tells the bots it is shutting down, and they leave on
// their own), then whatever bots remain. It reports whether every one
// exited cleanly with status 0. client and bots may be nil.
func stopAll(out *output, client, bots, server *proc) bool {
	ok := true
	if client != nil {
		ok = client.stop(out, 10*time.Second) && ok
	}
	ok = server.stop(out, 15*time.Second) && ok
	if bots != nil {
		select {
		case <-bots.done:
		case <-time.After(5 * time.Second):
			ok = bots.stop(out, 10*time.Second) && ok
		}
	}
	for _, p := range []*proc{client, server, bots} {
		if p != nil && p.exitCode() != 0 {
			ok = false
		}
	}
	return ok
}

// haveWebClient reports whether the browser client is beside the server
// commands in bin (bin/web, which make web fills and the server serves
// with -web).
func haveWebClient(bin string) bool {
	for _, f := range []string{"index.html", "wasm_exec.js", "client.wasm"} {
		if _, err := os.Stat(filepath.Join(bin, "web", f)); err != nil {
			return false
		}
	}
	return true
}

// offer sends v on a channel of capacity one unless it already holds one.
func offer(ch chan string, v string) {
	select {
	case ch <- v:
	default:
	}
}

// haveDisplay reports whether a window can be opened. Only X11 needs a
// DISPLAY (Ebiten uses X11 on Linux and the BSDs, through XWayland under
// Wayland).
func haveDisplay() bool {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "android":
		return true
	}
	return os.Getenv("DISPLAY") != ""
}

// runUnderXvfb runs the demo again, with the same flags, under
// scripts/with-display.sh, which starts a private Xvfb for it. The child
// is in a process group of its own, so that a Ctrl-C in the terminal does
// not reach Xvfb before the client has said goodbye: the demo passes the
// request on by closing the child's stdin. A second Ctrl-C kills them all.
func runUnderXvfb(out *output, stderr io.Writer, opts options, args []string) int {
	root, err := moduleRoot()
	if err != nil {
		out.printf("no display, and %v", err)
		return 1
	}
	script := filepath.Join(root, "scripts", "with-display.sh")
	self, err := os.Executable()
	if err != nil {
		out.printf("%v", err)
		return 1
	}
	cmd := exec.Command("/bin/sh", append([]string{script, self, "-under-xvfb"}, args...)...)
	cmd.Stdout, cmd.Stderr = out.w, stderr
	cmd.Env = os.Environ()
	if opts.headless {
		cmd.Env = append(cmd.Env, "FORCE_XVFB=1")
	}
	cmd.SysProcAttr = ownProcessGroup()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		out.printf("%v", err)
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		out.printf("starting %s: %v", script, err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for signals := 0; ; {
		select {
		case err := <-done:
			if err != nil {
				var exitErr *exec.ExitError
				if errors.As(err, &exitErr) {
					return exitErr.ExitCode()
				}
				out.printf("%v", err)
				return 1
			}
			return 0
		case <-sigs:
			signals++
			if signals == 1 {
				_ = stdin.Close() // the demo under Xvfb stops everything in order
			} else {
				_ = killGroup(cmd.Process)
			}
		}
	}
}

// moduleRoot finds the repository's root (where scripts/with-display.sh
// is) from the working directory or the demo's own location.
func moduleRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if self, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(self))
	}
	for _, dir := range starts {
		for {
			if _, err := os.Stat(filepath.Join(dir, "scripts", "with-display.sh")); err == nil {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("scripts/with-display.sh is not found: run the demo from the repository")
}

// commands returns the directory holding the server, bots and client
// commands: dir if given, else the demo's own directory if they are there,
// else a temporary directory they are built into (removed by cleanup).
func commands(out *output, dir string) (bin string, cleanup func(), err error) {
	nothing := func() {}
	have := func(dir string) bool {
		for _, c := range []string{"server", "bots", "client"} {
			if _, err := os.Stat(filepath.Join(dir, exe(c))); err != nil {
				return false
			}
		}
		return true
	}
	if dir != "" {
		if !have(dir) {
			return "", nil, fmt.Errorf("-bin %s: the server, bots and client commands are not all there", dir)
		}
		return dir, nothing, nil
	}
	if self, err := os.Executable(); err == nil && have(filepath.Dir(self)) {
		return filepath.Dir(self), nothing, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp("", "reactor-demo-")
	if err != nil {
		return "", nil, err
	}
	out.printf("building the server, bots and client…")
	build := exec.Command("go", "build", "-o", tmp+string(os.PathSeparator),
		"./examples/multiplayer/server", "./examples/multiplayer/bots", "./examples/multiplayer/client")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("go build: %v\n%s", err, b)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}
