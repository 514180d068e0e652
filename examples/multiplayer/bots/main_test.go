package main

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
	"github.com/threadedselect/reactor/internal/testcert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-n", "0"}, {"-stats", "0s"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// With no server, every bot fails to connect: the command says why and
// exits 1.
func TestNoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-addr", addr, "-n", "2", "-reconnect=false"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stdout.String(), `"unreachable":2`) || !strings.Contains(stderr.String(), "connection refused") {
		t.Fatalf("stdout %q\nstderr %q", stdout.String(), stderr.String())
	}
}

// -tls-ca: the bots connect over TLS to a server whose game port speaks
// it, trusting its self-signed certificate; they play until -duration and
// quit cleanly. Without the flag they cannot join it.
func TestTLS(t *testing.T) {
	cert := testcert.New(t, t.TempDir())
	r, err := core.New(core.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gameserver.New(r, gameserver.Config{Addr: "127.0.0.1:0", TLS: cert.Server, Logger: slog.New(slog.DiscardHandler)})
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
	addr := srv.Addr().String()

	var stdout, stderr bytes.Buffer
	if code := run([]string{"-addr", addr, "-n", "2", "-tls-ca", cert.CertFile, "-duration", "1s", "-stats", "500ms"}, &stdout, &stderr); code != 0 {
		t.Fatalf("with -tls-ca: exit %d\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), `msg=done causes={"quit":2}`) || !strings.Contains(stdout.String(), "connected=2") {
		t.Fatalf("with -tls-ca: stdout %q", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"-addr", addr, "-n", "1", "-duration", "1s", "-reconnect=false"}, &stdout, &stderr); code != 1 {
		t.Fatalf("without TLS: exit %d, want 1\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
}
