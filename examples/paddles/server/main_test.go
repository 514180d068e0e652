//go:build unix

package main

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/paddles/pong"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCommand builds the server, connects a player to it, and stops it
// with SIGTERM: the player hears that the server is shutting down, and the
// command exits 0.
func TestCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addrs := make(chan string, 1)
	go func() {
		listening := regexp.MustCompile(`msg="session: listening" addr=(\S+)`)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			if m := listening.FindStringSubmatch(lines.Text()); m != nil {
				addrs <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	var addr string
	select {
	case addr = <-addrs:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the server did not say where it listens: %v", <-exited)
	}

	r, err := core.New()
	if err != nil {
		t.Fatal(err)
	}
	statuses := make(chan session.State, 8)
	if _, err := session.Dial(r, session.ClientConfig{Addr: addr, App: pong.App, UDP: true,
		OnStatus: func(c *session.Client) { statuses <- c.State() }}); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	defer func() {
		_ = r.Stop()
		<-ran
	}()
	next := func() session.State {
		select {
		case st := <-statuses:
			return st
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("no status change")
		}
		return session.State{}
	}
	if st := next(); st.Status != session.Connected || st.ID != 1 {
		t.Fatalf("status %v, id %d", st.Status, st.ID)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := next(); st.Status != session.Reconnecting || st.Cause != session.CauseServerShutdown {
		t.Fatalf("status %v, cause %v", st.Status, st.Cause)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the server exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the server did not exit")
	}
}
