package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{"-addr", "127.0.0.1:0", "-tick", "0"}, 2, "-tick must be"},
		{[]string{"-addr", "127.0.0.1:0", "-tick", "300"}, 2, "-tick must be"},
		{[]string{"-addr", "127.0.0.1:0", "-max-players", "0"}, 2, "-max-players"},
		{[]string{"-addr", "no-port"}, 1, "listen"},
		{[]string{"-addr", "127.0.0.1:0", "-max-players-per-addr", "0"}, 2, "limits"},
		{[]string{"-addr", "127.0.0.1:0", "-addr-limit-exempt", "10.0.0.0/99"}, 2, "-addr-limit-exempt"},
		{[]string{"-addr", "127.0.0.1:0", "-slow-timeout", "0s"}, 2, "timeouts"},
		{[]string{"-addr", "127.0.0.1:0", "-tls-cert", "cert.pem"}, 2, "-tls-cert and -tls-key go together"},
		{[]string{"-addr", "127.0.0.1:0", "-tls-cert", "/nonexistent/cert.pem", "-tls-key", "/nonexistent/key.pem"}, 2, "no such file"},
		{[]string{"-addr", "127.0.0.1:0", "-web", "127.0.0.1:0", "-web-root", "/nonexistent"}, 2, "lacks [index.html wasm_exec.js client.wasm] (run `make web`"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

// -help lists the limits that keep the server up on a public network,
// with their defaults.
func TestHelpListsLimits(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-help"}, &stdout, &stderr); code != 2 {
		t.Fatalf("-help exited %d", code)
	}
	for _, want := range []string{
		"-max-conns-per-addr", "(default 16)", "-max-players-per-addr", "(default 8)",
		"-addr-limit-exempt", "127.0.0.0/8,::1/128", "-slow-queue", "(default 32768)",
		"-slow-timeout", "(default 5s)", "-send-buffer", "(default 65536)", "-log-rate", "(default 20)",
		"-log-queue", "(default 1024)", "-grace", "(default 5s)",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("-help lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes(" 127.0.0.0/8, ::1 ,10.1.2.3/16")
	if err != nil || prefixList(got) != "127.0.0.0/8,::1/128,10.1.0.0/16" {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := parsePrefixes(""); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty: %#v %v", got, err)
	}
}

// memRelease releases only after a burst of allocation, and once more
// after it, then not again until the next one.
func TestMemRelease(t *testing.T) {
	m := newMemRelease(1 << 20)
	if m.check() {
		t.Fatal("released with nothing allocated")
	}
	var keep [][]byte
	for range 64 {
		keep = append(keep, make([]byte, 64<<10)) // 4 MiB
	}
	_ = keep
	if !m.check() {
		t.Fatal("not released after 4 MiB")
	}
	if !m.check() {
		t.Fatal("not released once more, after the burst")
	}
	if m.check() {
		t.Fatal("released again without a new burst")
	}
}
