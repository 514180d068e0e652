package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/threadedselect/reactor/internal/testutil"
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

// Resume, end to end with the real commands: the bots' connections go
// through a proxy; when it resets them (a network failure), every bot
// reconnects by itself within the server's grace period and gets its own
// player back (msg=reconnected ... resumed=true; the server logs
// msg=detach and msg=resume with the same player id, and no leave and no
// second join). When the bots cannot come back within the grace period,
// the server lets their players go (msg=leave), and the bots join as new
// players (resumed=false).
func TestBotsResumeAfterACut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the commands")
	}
	dir := buildCommands(t)
	srv := start(t, filepath.Join(dir, "server"), "-addr", "127.0.0.1:0", "-grace", "2s")
	addr := strings.TrimPrefix(srv.waitLine(t, 10*time.Second, "listening line", func(l string) bool {
		return strings.HasPrefix(l, "listening on ")
	}), "listening on ")
	px := testutil.NewProxy(t, addr)
	const n = 3
	bots := start(t, filepath.Join(dir, "bots"), "-addr", px.Addr(), "-n", fmt.Sprint(n))
	bots.waitLine(t, 20*time.Second, "every bot connected", func(l string) bool {
		return field(l, "msg") == "stats" && field(l, "connected") == fmt.Sprint(n)
	})
	srv.stderr.waitCount(t, 10*time.Second, n, "msg=join")
	ids := map[string]string{} // bot name -> player id
	for _, l := range strings.Split(srv.stderr.String(), "\n") {
		if strings.Contains(l, "msg=join") {
			ids[field(l, "name")] = field(l, "player")
		}
	}
	reconnected := func(resumed bool, connects int) {
		t.Helper()
		back := map[string]bool{}
		for len(back) < n {
			l := bots.waitLine(t, 10*time.Second, "msg=reconnected from every bot", func(l string) bool {
				return field(l, "msg") == "reconnected"
			})
			if field(l, "resumed") != fmt.Sprint(resumed) || field(l, "connects") != fmt.Sprint(connects) {
				t.Fatalf("%q, want resumed=%v connects=%d", l, resumed, connects)
			}
			back[field(l, "bot")] = true
		}
	}

	// A cut: back within the grace period, as the same players.
	mark := srv.stderr.mark()
	px.Cut()
	reconnected(true, 2)
	srv.stderr.waitSince(t, mark, 10*time.Second, n, "msg=resume")
	for name, id := range ids {
		if srv.stderr.countSince(mark, "msg=detach", "player="+id+" ", "name="+name+" ") != 1 ||
			srv.stderr.countSince(mark, "msg=resume", "player="+id+" ", "name="+name+" ") != 1 {
			t.Fatalf("no detach and resume lines for %s, player %s:\n%s", name, id, srv.stderr.tail(40))
		}
	}
	if srv.stderr.countSince(mark, "msg=leave") != 0 || srv.stderr.countSince(mark, "msg=join") != 0 {
		t.Fatalf("a leave or a join after the cut:\n%s", srv.stderr.tail(40))
	}

	// Away longer than the grace period: new players.
	mark = srv.stderr.mark()
	px.Pause()
	px.Cut()
	srv.stderr.waitSince(t, mark, 10*time.Second, n, "msg=leave", "not resumed within 2s")
	px.Resume()
	reconnected(false, 3)
	srv.stderr.waitSince(t, mark, 10*time.Second, n, "msg=join")

	if code := bots.signalAndWait(t, syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("bots exited %d after SIGTERM", code)
	}
	srv.stderr.waitSince(t, mark, 10*time.Second, n, "msg=leave", "reason=quit")
}
