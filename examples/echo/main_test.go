//go:build unix

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// rss is a process's resident memory, from /proc (Linux).
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestEchoHoldsAgainstNonReadingPeer: a peer that writes 256 MB and never
// reads. The echo server stops reading from it once its unsent bytes pass
// the high-water mark (WithBackpressure), so its memory stays within a few
// MB of idle while the peer's writes block; reading everything back then
// gets every byte.
func TestEchoHoldsAgainstNonReadingPeer(t *testing.T) {
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
			defer cmd.Wait()
			defer cmd.Process.Kill()
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() {
				t.Fatal("no output")
			}
			first := lines.Text()
			addr := strings.Fields(first[strings.Index(first, "listening on ")+len("listening on "):])[0]
			idle := rss(t, cmd.Process.Pid)
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const total = 256 << 20
			block := make([]byte, 1<<20)
			sent := 0
			// Write until the server pushes back: a write that makes no
			// progress for 500ms. Bounded by the 256 MB.
			for sent < total {
				c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
				n, err := c.Write(block)
				sent += n
				if err != nil {
					break
				}
			}
			peak := rss(t, cmd.Process.Pid)
			t.Logf("idle RSS %.1f MB; after %d MB sent without reading: %.1f MB", float64(idle)/1e6, sent>>20, float64(peak)/1e6)
			if sent >= total {
				t.Fatalf("the server took all %d MB without the peer reading", total>>20)
			}
			if peak-idle > 16<<20 {
				t.Fatalf("RSS grew from %.1f MB to %.1f MB", float64(idle)/1e6, float64(peak)/1e6)
			}
			// Everything sent comes back once the peer reads.
			c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.CopyN(io.Discard, c, int64(sent)); err != nil {
				t.Fatalf("reading back %d bytes: %v", sent, err)
			}
		})
	}
}
