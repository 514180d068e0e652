//go:build unix

package ebitenreactor_test

import (
	"sync"
	"testing"
)

// The benchmarks need a running game, which needs the main goroutine of a
// process of its own: each runs its scenario once in a child process and
// reports the child's measurements through b.ReportMetric (overriding
// ns/op, B/op and allocs/op where it measured them). Run them under a
// display, without the race detector:
//
//	./scripts/with-display.sh go test -run '^$' -bench . -benchmem -count 1 ./ebitenreactor/
//
// A child result is cached for the process, so the benchmark framework's
// repeated calls with a growing b.N cost nothing more.

var benchResults sync.Map // scenario name -> result

func benchScenario(b *testing.B, name string, env ...string) result {
	res, _ := benchScenarioOnce(b, name, env...)
	return res
}

// benchScenarioOnce is benchScenario, also saying whether this call ran
// the child (the first) or found its result cached.
func benchScenarioOnce(b *testing.B, name string, env ...string) (res result, fresh bool) {
	if v, ok := benchResults.Load(name); ok {
		return v.(result), false
	}
	b.StopTimer()
	res = runScenario(b, name, env...)
	benchResults.Store(name, res)
	return res, true
}

// BenchmarkDrainUnderFlood runs issue 9's flood (flood_test.go): a game
// listening on TCP, 32 peers in another process sending length-prefixed
// messages (core/framing) of 16–128 bytes as fast as they can for 10 s,
// and about 2 µs of work per message in the game (framing.Protocol and a
// calibrated hash loop). It reports the per-tick drain by the wall clock
// (p50, p99, max) and by the game thread's CPU time (p50, p99) against the
// budget, the ticks per second the game kept, the messages and bytes per
// second taken in, and how long the backlog took to clear once the peers
// stopped; ns/op is the p50 drain time. It fails if a message was lost.
// The FLOOD_* variables of flood_test.go change the run (FLOOD_SECONDS,
// FLOOD_BUDGET_US, FLOOD_PEER_NICE, ...).
func BenchmarkDrainUnderFlood(b *testing.B) {
	res, fresh := benchScenarioOnce(b, "flood")
	m := res.Metrics
	b.ReportMetric(m["drain_p50_us"]*1e3, "ns/op")
	b.ReportMetric(m["drain_p50_us"], "p50-µs")
	b.ReportMetric(m["drain_p99_us"], "p99-µs")
	b.ReportMetric(m["drain_max_us"], "max-µs")
	b.ReportMetric(m["drain_cpu_p50_us"], "cpu-p50-µs")
	b.ReportMetric(m["drain_cpu_p99_us"], "cpu-p99-µs")
	b.ReportMetric(m["budget_us"], "budget-µs")
	b.ReportMetric(m["tps"], "tps")
	b.ReportMetric(m["msgs_per_sec"], "msgs/s")
	b.ReportMetric(m["window_bytes_per_sec"], "bytes/s")
	b.ReportMetric(m["backlog_clear_ms"], "clear-ms")
	b.ReportMetric(m["conns"], "conns")
	if fresh {
		logFlood(b, res)
	}
}

// BenchmarkNetGraphDraw reports the net graph's Draw in a running game:
// time, bytes and allocations per Draw, averaged over 600 frames, as
// measured (allocs/op, B/op), and the same for the smallest possible draw
// call in the same place (1tri-allocs/op, 1tri-B/op): Ebitengine v2.8.8
// allocates 48 bytes for each draw command it cannot merge with the
// previous one, which a Draw first on the screen is; the graph's own code
// allocates nothing, so the two columns match.
func BenchmarkNetGraphDraw(b *testing.B) {
	m := benchScenario(b, "graphbench", "GRAPH_FRAMES=600").Metrics
	b.ReportMetric(m["ns_per_draw"], "ns/op")
	b.ReportMetric(m["bytes_per_draw"], "B/op")
	b.ReportMetric(m["allocs_per_draw"], "allocs/op")
	b.ReportMetric(m["one_triangle_allocs_per_draw"], "1tri-allocs/op")
	b.ReportMetric(m["one_triangle_bytes_per_draw"], "1tri-B/op")
	b.ReportMetric(m["one_triangle_ns_per_draw"], "1tri-ns/op")
	b.ReportMetric(m["worst_allocs_in_a_draw"], "worst-allocs/frame")
}
