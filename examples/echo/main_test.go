//go:build unix

package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
)

// TestEchoCommand builds the command, runs it on each backend, echoes
// through it, and stops it with SIGTERM.
func TestEchoCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "echo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, b := range core.Backends() {
		t.Run(b, func(t *testing.T) {
			cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-backend", b)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() {
				t.Fatal("no output")
			}
			first := lines.Text()
			i := strings.Index(first, "listening on ")
			if i < 0 {
				t.Fatalf("first line %q", first)
			}
			addr := strings.Fields(first[i+len("listening on "):])[0]
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := strings.Repeat("echo me ", 10000)
			go c.Write([]byte(msg))
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
				t.Fatalf("echo: %v (%d bytes)", err, len(got))
			}
			// SIGTERM with the connection open: it is closed cleanly.
			cmd.Process.Signal(syscall.SIGTERM)
			if n, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("after SIGTERM the client read %d, %v; want EOF", n, err)
			}
			c.Close()
			var rest []string
			for lines.Scan() {
				rest = append(rest, lines.Text())
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit: %v", err)
			}
			if len(rest) == 0 || rest[len(rest)-1] != "echo: stopped" {
				t.Fatalf("last lines %q", rest)
			}
		})
	}
}
