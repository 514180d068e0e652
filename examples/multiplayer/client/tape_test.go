//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The outside contract: `client -record FILE` records a session and
// `client -replay FILE` replays it with no server; both print an exit line
// with msg=exit and the same state_hash. Ten seconds of play with four
// bots are recorded; the replay checks the state hash of every frame
// against the recording on the way (a difference would end it with
// tape_err set and exit status 1).
func TestRecordAndReplay(t *testing.T) {
	checkSockets(t)
	srv := startServer(t, 4)
	file := filepath.Join(t.TempDir(), "session.rec")
	rec := startClient(t, "", "-addr", srv.addr, "-name", "taper", "-exit-after", "10s", "-record", file)
	if code := rec.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("recording client exited %d", code)
	}
	r := rec.exitLine(t)
	if r["tape"] != "record" || r["tape_err"] != "" || len(r["state_hash"]) != 16 || r["cause"] != "quit" {
		t.Fatalf("recording's exit line: %v", r)
	}
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s frames in %d bytes; state_hash=%s", r["tape_frames"], info.Size(), r["state_hash"])

	// No server: an address nothing listens on (the replay connects to
	// nothing anyway).
	rep := startClient(t, "", "-replay", file, "-addr", "127.0.0.1:1")
	if code := rep.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("replaying client exited %d", code)
	}
	p := rep.exitLine(t)
	if p["tape"] != "replay" || p["tape_err"] != "" || p["state_hash"] != r["state_hash"] || p["tape_frames"] != r["tape_frames"] {
		t.Fatalf("replay's exit line %v; the recording's %v", p, r)
	}
	if _, ok := rep.log.find("msg=\"replay finished\""); !ok {
		t.Fatal("no replay finished line")
	}

	// A damaged recording is refused at once, saying why.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// The last byte, which the last block's checksum covers: a byte in
	// the middle may be a block's length, and one made larger reads as a
	// file cut short (refused as truncated, not as corrupt).
	data[len(data)-1] ^= 0x10
	bad := filepath.Join(t.TempDir(), "bad.rec")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := startClient(t, "", "-replay", bad)
	if code := c.wait(t, 20*time.Second); code != 1 {
		t.Fatalf("a damaged recording: exit %d, want 1", code)
	}
	if line, ok := c.log.find("msg=start", "replay: corrupt file"); !ok || !strings.Contains(line, "checksum") {
		t.Fatalf("a damaged recording: log %s", tail(c.log.String()))
	}
}
