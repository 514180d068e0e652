package e2e

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The contract an outside check relies on: the bots reconnect by
// themselves after the server restarts on the same address, and each
// prints msg=reconnected bot=NAME when it is back, within 5 s.
func TestBotsReconnectAfterServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the commands")
	}
	dir := buildCommands(t)
	srv := start(t, filepath.Join(dir, "server"), "-addr", "127.0.0.1:0")
	addr := strings.TrimPrefix(srv.waitLine(t, 10*time.Second, "listening line", func(l string) bool {
		return strings.HasPrefix(l, "listening on ")
	}), "listening on ")
	const n = 5
	bots := start(t, filepath.Join(dir, "bots"), "-addr", addr, "-n", "5")
	bots.waitLine(t, 20*time.Second, "every bot connected", func(l string) bool {
		return field(l, "msg") == "stats" && field(l, "connected") == "5"
	})
	if code := srv.signalAndWait(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("server exited %d after SIGTERM", code)
	}
	srv2 := start(t, filepath.Join(dir, "server"), "-addr", addr)
	srv2.waitLine(t, 10*time.Second, "listening line of the restarted server", func(l string) bool {
		return strings.HasPrefix(l, "listening on "+addr)
	})
	back := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for len(back) < n {
		l := bots.waitLine(t, time.Until(deadline), "msg=reconnected from every bot", func(l string) bool {
			return field(l, "msg") == "reconnected"
		})
		back[field(l, "bot")] = true
	}
	srv2.stderr.waitCount(t, 10*time.Second, n, "msg=join")
	if code := bots.signalAndWait(t, syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("bots exited %d after SIGTERM", code)
	}
	srv2.stderr.waitCount(t, 10*time.Second, n, "msg=leave", "reason=quit")
}
