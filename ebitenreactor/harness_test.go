//go:build unix

package ebitenreactor_test

// Ebiten allows ebiten.RunGame once per process, and only on the main
// goroutine. So every scenario that runs a real game is a child process:
// the test re-executes its own binary with scenarioEnv naming the scenario,
// TestMain runs it on the main goroutine as the whole process, and the
// child prints one JSON result line that the parent asserts on.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threadedselect/reactor/internal/testutil"
)

const (
	scenarioEnv  = "EBITENREACTOR_SCENARIO"
	resultPrefix = "SCENARIO-RESULT "
	// childLimit bounds a whole child process; scenarios bound their own
	// waits more tightly.
	childLimit = 90 * time.Second
)

// result is what a child scenario reports.
type result struct {
	RunErr   string             `json:"runErr"`
	Failures []string           `json:"failures"`
	Events   []string           `json:"events"`
	Logs     []logLine          `json:"logs"`
	Metrics  map[string]float64 `json:"metrics"`
	Leaks    string             `json:"leaks"`
}

type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Attrs string `json:"attrs"`
}

// report collects a child's result; safe from any goroutine, since peers
// and the game report concurrently (the test may lock; the plugin may not).
type report struct {
	mu  sync.Mutex
	res result
}

func (r *report) failf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if len(r.res.Failures) < 50 {
		r.res.Failures = append(r.res.Failures, msg)
	}
}

func (r *report) event(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Events = append(r.res.Events, fmt.Sprintf(format, args...))
}

func (r *report) metric(name string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res.Metrics == nil {
		r.res.Metrics = map[string]float64{}
	}
	r.res.Metrics[name] = v
}

// logHandler records log records into the report (and echoes them to
// stderr for a human reading a failure).
type logHandler struct {
	rep   *report
	attrs []slog.Attr
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	for _, a := range h.attrs {
		fmt.Fprintf(&b, "%s=%v ", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key != "stack" {
			fmt.Fprintf(&b, "%s=%v ", a.Key, a.Value)
		}
		return true
	})
	line := logLine{Level: rec.Level.String(), Msg: rec.Message, Attrs: strings.TrimSpace(b.String())}
	h.rep.mu.Lock()
	h.rep.res.Logs = append(h.rep.res.Logs, line)
	h.rep.mu.Unlock()
	fmt.Fprintf(os.Stderr, "log: %s %s %s\n", line.Level, line.Msg, line.Attrs)
	return nil
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{rep: h.rep, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }

// runChildScenario is TestMain's side: run the named scenario as the
// whole process and print its result.
func runChildScenario(name string) int {
	sc, ok := scenarios[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown scenario %q\n", name)
		return 2
	}
	// A watchdog: a scenario that hangs prints every stack and fails
	// rather than hold the parent until its own timeout.
	watchdog := time.AfterFunc(childLimit-10*time.Second, func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		fmt.Fprintf(os.Stderr, "scenario %s: watchdog fired; stacks:\n%s\n", name, buf[:n])
		os.Exit(3)
	})
	rep := &report{}
	func() {
		defer func() {
			if v := recover(); v != nil {
				buf := make([]byte, 1<<16)
				n := runtime.Stack(buf, false)
				rep.failf("scenario panicked: %v\n%s", v, buf[:n])
			}
		}()
		sc(rep)
	}()
	watchdog.Stop()
	rep.mu.Lock()
	out, err := json.Marshal(rep.res)
	rep.mu.Unlock()
	if err != nil {
		fmt.Fprintf(os.Stderr, "marshal: %v\n", err)
		return 2
	}
	fmt.Printf("%s%s\n", resultPrefix, out)
	return 0
}

// runScenario is the parent's side: run the scenario in a child process
// (under the same DISPLAY) and return its result. Extra env entries are
// KEY=VALUE.
func runScenario(t testing.TB, name string, env ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(append(os.Environ(), scenarioEnv+"="+name), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("scenario %s: child ran %v", name, time.Since(start).Round(time.Millisecond))
	var res result
	found := false
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
			if jerr := json.Unmarshal([]byte(line), &res); jerr != nil {
				t.Fatalf("scenario %s: bad result line: %v", name, jerr)
			}
			found = true
		}
	}
	if err != nil || !found {
		t.Fatalf("scenario %s: child failed: %v (result found: %v)\nstdout:\n%s\nstderr:\n%s", name, err, found, tail(stdout.String()), tail(stderr.String()))
	}
	for _, f := range res.Failures {
		t.Errorf("scenario %s: %s", name, f)
	}
	if res.Leaks != "" {
		t.Errorf("scenario %s: leaks: %s", name, res.Leaks)
	}
	if t.Failed() {
		t.Logf("scenario %s events: %q", name, res.Events)
		t.Logf("scenario %s stderr:\n%s", name, tail(stderr.String()))
	}
	return res
}

func tail(s string) string {
	const max = 8000
	if len(s) > max {
		return "..." + s[len(s)-max:]
	}
	return s
}

// goid returns the calling goroutine's id.
func goid() uint64 { return testutil.Goid() }
