//go:build unix

// Package readme checks that every Go snippet in the README compiles, and
// that the headless echo server it shows runs: a new user copies them
// first.
package readme

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
)

// snippets returns the README's ```go blocks.
func snippets(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var cur *strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```go":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			out = append(out, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line)
			cur.WriteByte('\n')
		}
	}
	if len(out) == 0 {
		t.Fatal("no Go snippets in the README")
	}
	return out
}

// build writes src as a main package inside the module (so that its
// imports resolve to this checkout) and builds it.
func build(t *testing.T, i int, src string) string {
	t.Helper()
	if !strings.HasPrefix(strings.TrimSpace(src), "package ") {
		t.Fatalf("snippet %d is not a whole program (starts %q): a user cannot run it", i, strings.SplitN(src, "\n", 2)[0])
	}
	dir, err := os.MkdirTemp(".", "snippet")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "snippet")
	cmd := exec.Command("go", "build", "-o", bin, "./"+filepath.Base(dir))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("snippet %d does not build: %v\n%s\n%s", i, err, out, src)
	}
	return bin
}

func TestREADMESnippetsBuild(t *testing.T) {
	for i, src := range snippets(t) {
		build(t, i, src)
	}
}

// TestREADMEEchoRuns: the echo snippet echoes and stops cleanly on SIGTERM.
func TestREADMEEchoRuns(t *testing.T) {
	var echo string
	for _, src := range snippets(t) {
		if strings.Contains(src, "type echo struct") {
			echo = src
		}
	}
	if echo == "" {
		t.Fatal("no echo snippet")
	}
	bin := build(t, 0, echo)
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The snippet says where it listens once it does.
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatal("the echo snippet printed nothing")
	}
	first := lines.Text()
	i := strings.Index(first, "listening on ")
	if i < 0 {
		t.Fatalf("first line %q", first)
	}
	c, err := net.DialTimeout("tcp", strings.TrimSpace(first[i+len("listening on "):]), 10*time.Second)
	if err != nil {
		t.Fatalf("the echo snippet does not listen: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte("hello, reactor")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo: %q, %v", got, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after SIGTERM the client read %v; want EOF", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the echo snippet did not exit after SIGTERM")
	}
}
