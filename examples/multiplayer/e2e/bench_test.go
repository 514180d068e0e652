package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/bots/swarm"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
)

// BenchmarkServerTick runs a server (on its own reactor) with 200 bots (on
// another reactor, in the same process) over loopback, snapshots over UDP
// or over TCP. One op is one server tick, so ns/op is the tick interval;
// the metrics that matter are reported separately:
//
//   - tick_p50_ms, tick_p99_ms, tick_max_ms: how long the server's tick
//     callback took (simulation plus encoding and sending 200 snapshots);
//   - out_B/s/client, in_B/s/client: the server's traffic per client (the
//     server reactor's byte counters);
//   - snaps/s/bot_min: the lowest snapshot message rate of one bot (with
//     200 players a tick's snapshot goes out in two messages);
//   - allocs/op and B/op count the whole process, bots included; the
//     server alone allocates nothing per tick (see the gameserver package's
//     BenchmarkTick and TestSteadyStateAllocations).
//
// Run it with:
//
//	go test -run '^$' -bench BenchmarkServerTick -benchtime 150x -benchmem ./examples/multiplayer/e2e/
func BenchmarkServerTick(b *testing.B) {
	for _, transport := range []string{"udp", "tcp"} {
		b.Run("bots=200/"+transport, func(b *testing.B) { benchServerTick(b, 200, transport) })
	}
}

func benchServerTick(b *testing.B, n int, transport string) {
	ticks := make(chan time.Duration, 1<<16)
	c := startCluster(b, gameserver.Config{
		MaxPlayers:    n,
		MaxConns:      n + 16,
		StatsInterval: -1,
		TickObserver: func(d time.Duration) {
			select {
			case ticks <- d:
			default:
			}
		},
	}, n, transport)
	// Warm up for two seconds (64 ticks): the bots' interpolation buffers
	// fill (32 snapshots each) and the joins' PlayerInfo storm passes, so
	// what follows is the steady state.
	for range 64 {
		select {
		case <-ticks:
		case <-time.After(10 * time.Second):
			b.Fatal("no server tick for 10s")
		}
	}
	for len(ticks) > 0 {
		<-ticks
	}
	var before core.Stats
	var t0 time.Time
	var meter swarm.Meter
	c.srvLoop.do(b, func() { before, t0 = c.srvLoop.r.Stats(), c.srvLoop.r.Now() })
	c.botLoop.do(b, func() { meter.Measure(c.sw, c.botLoop.r.Now()) })

	durs := make([]time.Duration, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		select {
		case d := <-ticks:
			durs = append(durs, d)
		case <-time.After(10 * time.Second):
			b.Fatal("no server tick for 10s")
		}
	}
	b.StopTimer()

	var after core.Stats
	var t1 time.Time
	var rep swarm.Report
	c.srvLoop.do(b, func() { after, t1 = c.srvLoop.r.Stats(), c.srvLoop.r.Now() })
	c.botLoop.do(b, func() { rep = meter.Measure(c.sw, c.botLoop.r.Now()) })
	secs := t1.Sub(t0).Seconds()
	slices.Sort(durs)
	msf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(msf(gameserver.Percentile(durs, 0.50)), "tick_p50_ms")
	b.ReportMetric(msf(gameserver.Percentile(durs, 0.99)), "tick_p99_ms")
	b.ReportMetric(msf(durs[len(durs)-1]), "tick_max_ms")
	b.ReportMetric(float64(after.BytesOut-before.BytesOut)/secs/float64(n), "out_B/s/client")
	b.ReportMetric(float64(after.BytesIn-before.BytesIn)/secs/float64(n), "in_B/s/client")
	b.ReportMetric(rep.PerBotMin, "snaps/s/bot_min")
	if rep.Connected != n {
		b.Errorf("only %d of %d bots connected at the end", rep.Connected, n)
	}
}
