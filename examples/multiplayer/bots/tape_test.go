package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
)

// startServer runs a game server on its own reactor until the test ends.
func startServer(t *testing.T) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := core.New(core.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gameserver.New(r, gameserver.Config{Addr: "127.0.0.1:0", Logger: log, StatsInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	t.Cleanup(func() {
		_ = r.Stop()
		select {
		case <-ran:
		case <-time.After(20 * time.Second):
			t.Error("the server did not stop")
		}
	})
	return srv.Addr().String()
}

// exitLine returns the fields of the msg=exit line.
func exitLine(t *testing.T, out string) map[string]string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "msg=exit ") {
			m := map[string]string{}
			for _, f := range strings.Fields(line) {
				k, v, _ := strings.Cut(f, "=")
				m[k] = v
			}
			return m
		}
	}
	t.Fatalf("no msg=exit line in:\n%s", out)
	return nil
}

// One bot recorded for two seconds against a real server, through a
// simulated 4G network, replays with no server: the replay ends with the
// same state hash, and checked every write on the way. A damaged or
// foreign file is refused with a clear error.
func TestRecordAndReplay(t *testing.T) {
	addr := startServer(t)
	file := filepath.Join(t.TempDir(), "bot.rec")
	var out, errOut bytes.Buffer
	if code := run([]string{"-addr", addr, "-n", "1", "-duration", "2s", "-sim", "4g", "-record", file}, &out, &errOut); code != 0 {
		t.Fatalf("recording: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	rec := exitLine(t, out.String())
	if rec["tape"] != "record" || rec["state_hash"] == "" || rec["tape_err"] != `""` {
		t.Fatalf("recording: %v", rec)
	}

	out.Reset()
	errOut.Reset()
	if code := run([]string{"-replay", file, "-addr", "127.0.0.1:1"}, &out, &errOut); code != 0 {
		t.Fatalf("replay: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	rep := exitLine(t, out.String())
	if rep["tape"] != "replay" || rep["state_hash"] != rec["state_hash"] || rep["tape_err"] != `""` {
		t.Fatalf("replay: %v; recording: %v", rep, rec)
	}
	t.Logf("state_hash=%s both ways", rep["state_hash"])

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Damage a byte the last block's checksum covers: its last (a byte in
	// the middle of the file may be a block's length, and a length made
	// larger reads as a file cut short, which it is refused as instead).
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 0x40
	for name, content := range map[string][]byte{"corrupt": bad, "not a replay": []byte("hello\n"), "truncated": data[:len(data)-20]} {
		path := filepath.Join(t.TempDir(), "bad.rec")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		errOut.Reset()
		if code := run([]string{"-replay", path}, &out, &errOut); code != 1 {
			t.Errorf("%s file: exit %d, want 1", name, code)
		}
		if m := exitLine(t, out.String()); m["code"] != "1" || !strings.Contains(out.String(), "tape_err=\"") ||
			!strings.Contains(out.String(), "replay: "+name) {
			t.Errorf("%s file: %s", name, out.String())
		}
		if name == "corrupt" && !strings.Contains(out.String(), "checksum") {
			t.Errorf("corrupt file: refused without its checksum failing: %s", out.String())
		}
	}
}
