//go:build unix

package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/bots/swarm"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
	"github.com/threadedselect/reactor/internal/testutil"
)

// childLimit bounds a child client's whole life; tests wait more tightly.
const childLimit = 60 * time.Second

// logLines collects a log written from any goroutine and lets a test wait
// for a line.
type logLines struct{ testutil.LockedBuffer }

func newLogLines() *logLines { return &logLines{} }

// find returns the first complete line containing every one of substrs.
func (l *logLines) find(substrs ...string) (string, bool) { return l.First(substrs...) }

// wait waits up to timeout for a line containing every one of substrs.
func (l *logLines) wait(t *testing.T, timeout time.Duration, substrs ...string) string {
	t.Helper()
	return l.Wait(t, timeout, substrs...)
}

// server is a game server, with bots if asked, on a reactor running on its
// own goroutine; the test's cleanup stops it.
type server struct {
	addr string
	log  *logLines
}

func startServer(t *testing.T, bots int) *server {
	t.Helper()
	s := &server{log: newLogLines()}
	log := slog.New(slog.NewTextHandler(s.log, nil))
	r, err := core.New(core.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gameserver.New(r, gameserver.Config{Addr: "127.0.0.1:0", Logger: log, StatsInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.addr = srv.Addr().String()
	if bots > 0 {
		r.CallWhenRunning(func() {
			if _, err := swarm.Start(r, swarm.Config{Addr: s.addr, N: bots, UDP: true, Seed: 7}); err != nil {
				t.Errorf("bots: %v", err)
			}
		})
	}
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	t.Cleanup(func() {
		_ = r.Stop()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("server reactor: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("the server's reactor did not stop")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", tail(s.log.String()))
		}
	})
	if bots > 0 {
		s.log.wait(t, 10*time.Second, "msg=join", "name=bot"+twoDigits(bots))
	}
	return s
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// child is a client running in a child process.
type child struct {
	cmd    *exec.Cmd
	log    *logLines // its stderr: the client's slog lines
	stdout *logLines
	done   chan struct{} // closed once it has exited
	err    error         // Wait's result, after done
	cancel context.CancelFunc
}

// startClient starts the client with args in a child process, running
// probe instead of the plain command if probe is not "".
func startClient(t *testing.T, probe string, args ...string) *child {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), childLimit)
	c := &child{log: newLogLines(), stdout: newLogLines(), done: make(chan struct{}), cancel: cancel}
	c.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(raw), childProbeEnv+"="+probe)
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.log
	if err := c.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		cancel()
		if t.Failed() {
			t.Logf("client log:\n%s", tail(c.log.String()))
		}
	})
	return c
}

// wait waits for the child to exit and returns its exit code.
func (c *child) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("the client did not exit within %v; log:\n%s", timeout, tail(c.log.String()))
	}
	if c.cmd.ProcessState == nil {
		t.Fatalf("the client did not run: %v", c.err)
	}
	return c.cmd.ProcessState.ExitCode()
}

// exitLine returns the fields of the client's msg=exit line.
func (c *child) exitLine(t *testing.T) map[string]string {
	t.Helper()
	line, ok := c.log.find("msg=exit ")
	if !ok {
		t.Fatalf("no msg=exit line; log:\n%s", tail(c.log.String()))
	}
	return logfmt(line)
}

// logfmt parses a slog text line into its fields (key=value, values
// quoted when they need it).
func logfmt(line string) map[string]string {
	m := map[string]string{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			break
		}
		key, rest := line[:eq], line[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			// Find the closing quote, skipping escaped ones.
			end := 1
			for end < len(rest) && rest[end] != '"' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(rest) {
				end = len(rest) - 1
			}
			val, _ = strconv.Unquote(rest[:end+1])
			rest = rest[end+1:]
		} else if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			val, rest = rest[:sp], rest[sp:]
		} else {
			val, rest = rest, ""
		}
		m[key] = val
		line = rest
	}
	return m
}

// checkSockets fails the test if it leaves sockets open in this process
// (the in-process server's, or the X connection's): it counts them now and
// again, allowing a little time for closes, when the test ends.
func checkSockets(t *testing.T) {
	t.Helper()
	before, ok := openSockets()
	if !ok {
		return // no /proc/self/fd here
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			now, _ := openSockets()
			if now <= before {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d sockets open after the test, %d before", now, before)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func openSockets() (int, bool) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	n := 0
	for _, e := range ents {
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(link, "socket:") {
			n++
		}
	}
	return n, true
}

func tail(s string) string {
	const max = 6000
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}
