//go:build unix

package main

// Ebiten allows one RunGame per process, and a binary that imports it needs
// an X display: run these tests under ./scripts/with-display.sh. The test
// runs the game as a child process (the test binary itself, with childEnv
// holding its arguments) against a server and an opponent in this process.

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/paddles/pong"
)

const childEnv = "PADDLES_TEST_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childEnv); ok {
		os.Exit(run(strings.Fields(args)))
	}
	goleak.VerifyTestMain(m)
}

// lines is a log written from any goroutine that a test can wait on.
type lines struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.b.Write(p)
}

// wait waits for a line containing every one of substrs.
func (l *lines) wait(t *testing.T, timeout time.Duration, substrs ...string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		text, ch := l.b.String(), l.changed
		l.mu.Unlock()
		for _, line := range strings.Split(text, "\n") {
			ok := true
			for _, s := range substrs {
				ok = ok && strings.Contains(line, s)
			}
			if ok {
				return
			}
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no line with %q within %v in:\n%s", substrs, timeout, text)
		}
	}
}

// TestPlaysOverTheNetwork runs the game window (with -auto, so that it
// plays by itself) against a server and an opponent in this process: the
// window gets the left paddle, follows the ball with it (so it receives the
// court and sends its inputs), and on SIGTERM says goodbye to the server
// before it exits.
func TestPlaysOverTheNetwork(t *testing.T) {
	serverLog := newLines()
	log := slog.New(slog.NewTextHandler(serverLog, nil))
	r, err := core.New(core.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pong.Serve(r, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	defer func() {
		_ = r.Stop()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	}()

	childLog := newLines()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=-auto -addr "+srv.Addr().String())
	cmd.Stderr = childLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("game log:\n%s", childLog.b.String())
		}
	}()
	serverLog.wait(t, 30*time.Second, "session: join", "id=1")
	childLog.wait(t, 10*time.Second, "status=connected", "id=1")

	// The opponent takes the right paddle and watches the left one move.
	moved := make(chan struct{})
	_ = r.CallFromThread(func() {
		c, err := session.Dial(r, session.ClientConfig{Addr: srv.Addr().String(), App: pong.App, Logger: log})
		if err != nil {
			t.Error(err)
			close(moved)
			return
		}
		start, seen := -1.0, false
		_ = c.Handle(pong.MsgState, func(msg []byte) error {
			s, err := pong.DecodeState(msg)
			switch {
			case err != nil || !s.Present[0] || !s.Present[1]:
			case start < 0:
				start = s.Paddle[0]
			case s.Paddle[0] != start && !seen:
				seen = true
				close(moved)
			}
			return err
		})
	})
	select {
	case <-moved:
	case <-time.After(30 * time.Second):
		t.Fatal("the game's paddle did not follow the ball")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	serverLog.wait(t, 10*time.Second, "session: leave", "id=1", "reason=quit")
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Fatalf("the game exited with %v; log:\n%s", err, childLog.b.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the game did not exit")
	}
	childLog.wait(t, time.Second, "status=disconnected", "cause=quit")
}
