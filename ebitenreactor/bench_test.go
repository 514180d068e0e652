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
	if v, ok := benchResults.Load(name); ok {
		return v.(result)
	}
	b.StopTimer()
	res := runScenario(b, name, env...)
	benchResults.Store(name, res)
	return res
}

// BenchmarkDrainUnderFlood reports, for 32 connections whose peers write
// as fast as they can, the per-tick drain time by the wall clock (p50,
// p99, max) and by the game thread's CPU time (p50, p99) against the
// budget over 600 ticks, the ticks per second the game kept, and the bytes
// per second taken in at that rate. ns/op is the p50 drain time. With
// FLOOD_EXTERNAL=1 in the environment the peers run in a process of their
// own (and with FLOOD_PEER_NICE=19 at low priority), which is closer to
// peers on other machines.
func BenchmarkDrainUnderFlood(b *testing.B) {
	m := benchScenario(b, "flood", "FLOOD_FRAMES=600").Metrics
	b.ReportMetric(m["drain_p50_us"]*1e3, "ns/op")
	b.ReportMetric(m["drain_p50_us"], "p50-µs")
	b.ReportMetric(m["drain_p99_us"], "p99-µs")
	b.ReportMetric(m["drain_max_us"], "max-µs")
	b.ReportMetric(m["drain_cpu_p50_us"], "cpu-p50-µs")
	b.ReportMetric(m["drain_cpu_p99_us"], "cpu-p99-µs")
	b.ReportMetric(m["budget_us"], "budget-µs")
	b.ReportMetric(m["tps"], "tps")
	b.ReportMetric(m["window_bytes_per_sec"], "bytes/s")
	b.ReportMetric(m["callbacks_per_frame"], "callbacks/tick")
	b.ReportMetric(m["conns"], "conns")
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
