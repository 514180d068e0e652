package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianOf[T any](rs []T, f func(T) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return median(xs)
}

// table lays out rows of cells with aligned columns (first column left,
// the rest right-aligned, the last left-aligned if leftLast). A row of one
// "-" cell is a rule across the table.
type table struct {
	rows     [][]string
	leftLast bool
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	var width []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	total := 0
	for i, w := range width {
		total += w
		if i > 0 {
			total += 2
		}
	}
	for _, r := range t.rows {
		if len(r) == 1 && r[0] == "-" {
			fmt.Fprintln(w, strings.Repeat("-", total))
			continue
		}
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			switch {
			case i == 0:
				b.WriteString(c + pad)
			case t.leftLast && i == len(r)-1:
				b.WriteString("  " + c)
			default:
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func ratio(x, ref float64) string {
	if x == 0 || ref == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", x/ref)
}

func f0(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", x)
}

func durUS(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", x/float64(time.Microsecond))
}

func report(w io.Writer, cfg *config, res *results, took time.Duration) {
	fmt.Fprintf(w, "\n%s   (took %v)\n", cfg.commandDisplay, took.Round(time.Second))
	for _, e := range environment() {
		fmt.Fprintf(w, "  %s\n", e)
	}
	fmt.Fprintf(w, "  load average (1/5/15 min): %s\n", strings.Join(res.loads, "; "))
	fmt.Fprintf(w, "  echo: %d connections ping-ponging %d-byte messages, %v per round after %v warm-up, %d alternating rounds, medians\n",
		cfg.conns, cfg.size, cfg.dur, cfg.warmup, cfg.rounds)
	fmt.Fprintf(w, "  bulk: 1 connection sending 64 KiB writes, %v per round, %d alternating rounds, MB = 10^6 bytes received by the server\n",
		cfg.bulkDur, cfg.rounds)
	fmt.Fprintf(w, "  idle: %d connections, each used once (1 byte each way), RSS read %v after; %d rounds, medians\n",
		cfg.idleConns, cfg.idleSettle, cfg.idleRounds)
	fmt.Fprintf(w, "  std: goroutine per connection, 4 KiB read buffer per connection (echo); 64 KiB (bulk sink)\n")
	fmt.Fprintf(w, "  gnet1: gnet v2.9.7, one event loop; gnetN: WithMulticore (one loop per CPU)\n")
	fmt.Fprintf(w, "  /game: Start, then Drain(4ms) on a 60 Hz ticker; otherwise reactors use Run()\n\n")

	ref := func(m map[string]float64) float64 { return m["std"] }
	rate, cpu, p50, p99, mal, sysS, sysP, bulk, idle, idleGC := map[string]float64{}, map[string]float64{}, map[string]float64{},
		map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}
	malloc := map[string]bool{}
	for n, rs := range res.echo {
		rate[n] = medianOf(rs, func(r echoRound) float64 { return r.rate })
		cpu[n] = medianOf(rs, func(r echoRound) float64 { return float64(r.cpuPerMsg) })
		p50[n] = medianOf(rs, func(r echoRound) float64 { return float64(r.p50) })
		p99[n] = medianOf(rs, func(r echoRound) float64 { return float64(r.p99) })
		mal[n] = medianOf(rs, func(r echoRound) float64 { return r.mallocs })
		malloc[n] = true
	}
	for n, sc := range res.strace {
		sysS[n] = sc.perMsg("")
	}
	for n, sc := range res.perfstat {
		sysP[n] = sc.perMsg("")
	}
	for n, rs := range res.bulk {
		bulk[n] = medianOf(rs, func(r bulkRound) float64 { return r.mbps })
	}
	for n, rs := range res.idle {
		idle[n] = medianOf(rs, func(r idleRound) float64 { return r.perConn })
		idleGC[n] = medianOf(rs, func(r idleRound) float64 { return r.perConnGC })
	}

	var t table
	t.add("", "echo", "", "", "", "", "server CPU", "", "", "syscalls/msg", "", "", "mallocs", "bulk", "", "idle RSS", "", "after GC", "")
	t.add("server", "msgs/s", "×std", "×gnet1", "p50 µs", "p99 µs", "µs/msg", "×std", "×gnet1", "perf", "×std", "strace", "/msg", "MB/s", "×std", "B/conn", "×std", "B/conn", "×std")
	t.add("-")
	for _, n := range rowOrder {
		_, e := res.echo[n]
		_, b := res.bulk[n]
		_, i := res.idle[n]
		_, s := res.strace[n]
		_, p := res.perfstat[n]
		if !e && !b && !i && !s && !p {
			continue
		}
		sysRatio := ratio(sysP[n], ref(sysP))
		if sysP[n] == 0 {
			sysRatio = ratio(sysS[n], ref(sysS))
		}
		mallocs := "-"
		if malloc[n] {
			mallocs = fmt.Sprintf("%.3f", mal[n])
		}
		t.add(n,
			f0(rate[n]), ratio(rate[n], ref(rate)), ratio(rate[n], rate["gnet1"]),
			durUS(p50[n]), durUS(p99[n]),
			fmtF(cpu[n]/float64(time.Microsecond), 2), ratio(cpu[n], ref(cpu)), ratio(cpu[n], cpu["gnet1"]),
			fmtF(sysP[n], 2), sysRatio, fmtF(sysS[n], 2),
			mallocs,
			fmtF(bulk[n], 0), ratio(bulk[n], ref(bulk)),
			f0(idle[n]), ratio(idle[n], ref(idle)), f0(idleGC[n]), ratio(idleGC[n], ref(idleGC)))
	}
	if len(t.rows) > 3 {
		t.write(w)
	}

	// Per-round detail that explains the medians.
	if len(res.echo) > 0 {
		fmt.Fprintf(w, "\necho rounds (msgs/s; server µs/msg; client µs/msg):\n")
		d := table{leftLast: true}
		for _, n := range rowOrder {
			rs, ok := res.echo[n]
			if !ok {
				continue
			}
			row := []string{"  " + n}
			for _, r := range rs {
				row = append(row, fmt.Sprintf("%.0f; %.2f; %.2f", r.rate, us(r.cpuPerMsg), us(r.clientCPU)))
			}
			if rs[0].drPerMsg > 0 {
				row = append(row, fmt.Sprintf("(callbacks %.2f/msg, DataReceived %.2f/msg)",
					medianOf(rs, func(r echoRound) float64 { return r.ranPerMsg }),
					medianOf(rs, func(r echoRound) float64 { return r.drPerMsg })))
			} else {
				row = append(row, "")
			}
			d.add(row...)
		}
		d.write(w)
	}
	if ref := res.echo["std"]; len(ref) > 0 || len(res.echo["gnet1"]) > 0 {
		fmt.Fprintf(w, "\necho, paired ratios (each round against the same round's std / gnet1): median [min..max]\n")
		d := table{leftLast: true}
		for _, n := range rowOrder {
			rs, ok := res.echo[n]
			if !ok || n == "std" {
				continue
			}
			row := []string{"  " + n}
			for _, x := range []struct {
				what string
				f    func(echoRound) float64
			}{{"msgs/s", func(r echoRound) float64 { return r.rate }},
				{"CPU/msg", func(r echoRound) float64 { return float64(r.cpuPerMsg) }}} {
				for _, against := range []string{"std", "gnet1"} {
					if against == n {
						row = append(row, "")
						continue
					}
					row = append(row, x.what+" ÷"+against+" "+pairedRatio(rs, res.echo[against], x.f))
				}
			}
			row = append(row, "")
			d.add(row...)
		}
		d.write(w)
	}
	if len(res.bulk) > 0 {
		fmt.Fprintf(w, "\nbulk rounds (MB/s):\n")
		d := table{leftLast: true}
		for _, n := range rowOrder {
			rs, ok := res.bulk[n]
			if !ok {
				continue
			}
			row := []string{"  " + n}
			for _, r := range rs {
				row = append(row, fmt.Sprintf("%.1f", r.mbps))
			}
			if strings.HasSuffix(n, "/game") {
				row = append(row, fmt.Sprintf("(frames with work left after Drain: %.0f%%)",
					100*medianOf(rs, func(r bulkRound) float64 { return r.late })))
			} else {
				row = append(row, "")
			}
			d.add(row...)
		}
		d.write(w)
	}
	for _, x := range []struct {
		title string
		m     map[string]sysCount
	}{{"strace -c -f (calls per echoed message; errors in brackets, e.g. read EAGAIN)", res.strace},
		{"perf stat, raw_syscalls:sys_enter (calls per echoed message, unslowed)", res.perfstat}} {
		if len(x.m) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nsyscalls by %s:\n", x.title)
		writeSyscalls(w, rowOrder, x.m)
	}
	reportSecure(w, cfg, res)
	for _, n := range res.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// pairedRatio is the median, min and max over rounds of a[r]/b[r].
func pairedRatio(a, b []echoRound, f func(echoRound) float64) string {
	var xs []float64
	for r := 0; r < len(a) && r < len(b); r++ {
		if f(b[r]) != 0 {
			xs = append(xs, f(a[r])/f(b[r]))
		}
	}
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f [%.2f..%.2f]", median(xs), slices.Min(xs), slices.Max(xs))
}

func fmtF(x float64, prec int) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

// writeSyscalls writes the calls per message of each server in order, the
// most frequent call first.
func writeSyscalls(w io.Writer, order []string, m map[string]sysCount) {
	d := table{leftLast: true}
	for _, n := range order {
		sc, ok := m[n]
		if !ok {
			continue
		}
		row := []string{"  " + n, fmt.Sprintf("total %.3f", sc.perMsg("")), fmt.Sprintf("(%d msgs)", sc.msgs)}
		var parts []string
		var rest int64
		for _, name := range sc.names() {
			if sc.perMsg(name) < 0.0005 || name == "(other)" {
				rest += sc.calls[name]
				continue
			}
			p := fmt.Sprintf("%s %.3f", name, sc.perMsg(name))
			if e := sc.errors[name]; e > 0 {
				p += fmt.Sprintf(" [%.3f err]", float64(e)/float64(sc.msgs))
			}
			parts = append(parts, p)
		}
		parts = append(parts, fmt.Sprintf("others %.4f", float64(rest)/float64(sc.msgs)))
		row = append(row, strings.Join(parts, ", "))
		d.add(row...)
	}
	d.write(w)
}
