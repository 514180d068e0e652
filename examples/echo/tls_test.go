//go:build unix

package main

import (
	"bufio"
	"crypto/tls"
	"errors"
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
	"github.com/threadedselect/reactor/internal/testcert"
)

// TestEchoCommandTLS: with -tls-cert and -tls-key the command serves the
// same echo over TLS, on each backend: a client that trusts the
// certificate gets every byte back; one that does not fails its
// handshake with the verification error, and so does a client speaking
// plain TCP (it never gets an echo); SIGTERM closes the TLS connection
// cleanly (close_notify: the client reads EOF).
func TestEchoCommandTLS(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "echo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cert := testcert.New(t, dir)
	certFile, keyFile := cert.CertFile, cert.KeyFile
	for _, b := range core.Backends() {
		t.Run(b, func(t *testing.T) {
			cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-backend", b, "-tls-cert", certFile, "-tls-key", keyFile)
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
			if i < 0 || !strings.Contains(first, "TLS") {
				t.Fatalf("first line %q", first)
			}
			addr := strings.Fields(first[i+len("listening on "):])[0]

			// Not trusted: the handshake fails on the client's side.
			d := &net.Dialer{Timeout: 5 * time.Second}
			if c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
				c.Close()
				t.Fatal("a client that does not trust the certificate connected")
			} else if ve := (*tls.CertificateVerificationError)(nil); !errors.As(err, &ve) {
				t.Fatalf("untrusting client: %v, want a certificate verification error", err)
			}
			// Plain TCP: no echo, the server drops what is no handshake.
			plain, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			plain.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := plain.Write([]byte("hello, plain text\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			reply, _ := io.ReadAll(plain)
			plain.Close()
			if strings.Contains(string(reply), "hello, plain text") {
				t.Fatalf("a plain TCP client was echoed: %q", reply)
			}

			c, err := tls.DialWithDialer(d, "tcp", addr, cert.Client)
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
