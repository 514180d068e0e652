package e2e

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/bots/swarm"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
	"github.com/threadedselect/reactor/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(removeBins{m}) }

// serverBins holds the server command built for the tests that run it
// (procserver_test.go), removed once they have run.
var serverBins builtBins

type removeBins struct{ m *testing.M }

func (r removeBins) Run() int {
	defer serverBins.remove()
	return r.m.Run()
}

// logSink collects log lines from any goroutine and wakes waiters on every
// write.
type logSink struct{ testutil.LockedBuffer }

func newLogSink() *logSink { return &logSink{} }

// count returns how many lines contain every one of substrs.
func (l *logSink) count(substrs ...string) int { return l.countSince(0, substrs...) }

// tail returns the last n lines.
func (l *logSink) tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// mark returns the current end of the log, for countSince.
func (l *logSink) mark() int { return len(l.String()) }

// countSince counts like count, in the lines logged after mark.
func (l *logSink) countSince(mark int, substrs ...string) int {
	n := 0
	for _, line := range strings.Split(l.String()[mark:], "\n") {
		ok := line != ""
		for _, s := range substrs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			n++
		}
	}
	return n
}

// waitCount waits until at least n lines contain every one of substrs.
func (l *logSink) waitCount(t *testing.T, timeout time.Duration, n int, substrs ...string) {
	t.Helper()
	l.waitSince(t, 0, timeout, n, substrs...)
}

// waitSince waits like waitCount, in the lines logged after mark.
func (l *logSink) waitSince(t *testing.T, mark int, timeout time.Duration, n int, substrs ...string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		ch := l.Changed()
		if l.countSince(mark, substrs...) >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %d log lines with %q; have %d", timeout, n, substrs, l.countSince(mark, substrs...))
		}
	}
}

// loop is a reactor running Run on its own goroutine.
type loop struct {
	r *core.Reactor
}

// startLoop starts a reactor; the test's cleanup stops it and waits.
func startLoop(t testing.TB, log *slog.Logger, setup func(r *core.Reactor)) *loop {
	t.Helper()
	r, err := core.New(core.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(r)
	}
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	t.Cleanup(func() {
		_ = r.Stop()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("reactor did not stop")
		}
	})
	return &loop{r: r}
}

// do runs f on the loop's main thread and waits for it.
func (l *loop) do(t testing.TB, f func()) {
	t.Helper()
	done := make(chan struct{})
	if err := l.r.CallFromThread(func() { defer close(done); f() }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the main thread did not run the call")
	}
}

// waitFor evaluates cond on the main thread every few milliseconds (a
// reactor timer) until it holds, or fails the test after timeout.
func (l *loop) waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	ok := make(chan struct{})
	var mu sync.Mutex
	stopped := false
	var check func()
	check = func() {
		mu.Lock()
		s := stopped
		mu.Unlock()
		if s {
			return
		}
		if cond() {
			close(ok)
			return
		}
		_, _ = l.r.CallLater(5*time.Millisecond, check)
	}
	if err := l.r.CallFromThread(check); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ok:
	case <-time.After(timeout):
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// cluster is a server on one reactor and a swarm of bots on another.
type cluster struct {
	logs    *logSink
	srvLoop *loop
	srv     *gameserver.Server
	botLoop *loop
	sw      *swarm.Swarm
}

// startCluster starts a server with cfg and n bots (UDP as udp says; with
// udp "mixed", odd-numbered bots use UDP) and waits until every bot is
// connected and knows every player.
func startCluster(t testing.TB, cfg gameserver.Config, n int, udp string) *cluster {
	t.Helper()
	c := &cluster{logs: newLogSink()}
	log := slog.New(slog.NewTextHandler(c.logs, nil))
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = log
	c.srvLoop = startLoop(t, log, func(r *core.Reactor) {
		var err error
		c.srv, err = gameserver.New(r, cfg)
		if err != nil {
			t.Fatal(err)
		}
	})
	botLog := slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c.botLoop = startLoop(t, botLog, nil)
	i := 0
	c.botLoop.do(t, func() {
		var err error
		c.sw, err = swarm.Start(c.botLoop.r, swarm.Config{
			Addr: c.srv.Addr().String(), N: n, UDP: udp != "tcp", Seed: 1,
			Client: func(cc *netclient.Config) {
				i++
				if udp == "mixed" {
					cc.UDP = i%2 == 1
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	// Bots say goodbye before their reactor stops (cleanups run last in,
	// first out, so this runs before the loops stop).
	t.Cleanup(func() {
		var bye <-chan struct{}
		c.botLoop.do(t, func() { bye = c.sw.Goodbye() })
		select {
		case <-bye:
		case <-time.After(20 * time.Second):
			t.Error("bots' goodbyes did not finish")
		}
		if t.Failed() {
			t.Logf("logs (last 80 lines):\n%s", c.logs.tail(80))
		}
	})
	c.botLoop.waitFor(t, "every bot connected, knowing every player", 30*time.Second, func() bool {
		for _, b := range c.sw.Bots {
			st := b.Session.State()
			if st.Status != netclient.StatusConnected || len(b.Session.PlayerIDs(nil)) != n || st.Snapshots == 0 {
				return false
			}
			if cc := b.Session; udp == "udp" && cc.State().UDP != netclient.UDPBound {
				return false
			}
		}
		return true
	})
	return c
}

// measure reports the bots' activity over at least d (by the bots'
// reactor clock), running during(t) first on the test goroutine.
func (c *cluster) measure(t testing.TB, d time.Duration, during func()) swarm.Report {
	t.Helper()
	var m swarm.Meter
	var start time.Time
	c.botLoop.do(t, func() { start = c.botLoop.r.Now(); m.Measure(c.sw, start) })
	if during != nil {
		during()
	}
	c.botLoop.waitFor(t, "the measuring window", d+10*time.Second, func() bool {
		return c.botLoop.r.Now().Sub(start) >= d
	})
	var rep swarm.Report
	c.botLoop.do(t, func() { rep = m.Measure(c.sw, c.botLoop.r.Now()) })
	return rep
}

// ratesOK reports whether every bot stayed connected and received at
// least 90% of the tick rate.
func ratesOK(rep swarm.Report, tickRate int) bool {
	return rep.Connected == rep.Bots && rep.PerBotMin >= 0.9*float64(tickRate)
}

// measureRates measures the bots over d while during runs, and checks the
// rates. A machine busy with other work can stall the server's process for
// 100 ms or more (the server then merges ticks, and sends fewer snapshots),
// so a window below the rate is measured once more, running during again:
// a real regression fails twice, one stall does not.
func (c *cluster) measureRates(t testing.TB, d time.Duration, tickRate int, during func()) swarm.Report {
	t.Helper()
	rep := c.measure(t, d, during)
	if ratesOK(rep, tickRate) {
		return rep
	}
	t.Logf("first window below the rate, measuring again: %v", rep)
	rep = c.measure(t, d, during)
	c.checkRates(t, rep, tickRate)
	return rep
}

// checkRates fails the test unless every bot stayed connected and received
// at least 90% of the tick rate. The server sends one snapshot per tick
// callback, so a machine too busy to run the callback on time (say another
// test binary saturating the CPUs) lowers the rate too: the message shows
// the server's late and skipped ticks to tell the two apart.
func (c *cluster) checkRates(t testing.TB, rep swarm.Report, tickRate int) {
	t.Helper()
	if !ratesOK(rep, tickRate) {
		var st gameserver.Stats
		c.srvLoop.do(t, func() { st = c.srv.Stats() })
		t.Errorf("bots: %v; want all connected and at least %.1f snapshots/s each (server: %d ticks, %d run late, %d skipped)",
			rep, 0.9*float64(tickRate), st.Ticks, st.TicksLate, st.TicksSkipped)
	}
}

// checkFds fails the test if it leaves more descriptors open than it found.
func checkFds(t *testing.T) {
	t.Helper()
	testutil.CheckFds(t)
}
