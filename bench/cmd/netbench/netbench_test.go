package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the netbench command: children started with
// NETBENCH_AS_MAIN=1 (servers, or the driver itself) run main.
func TestMain(m *testing.M) {
	if os.Getenv("NETBENCH_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestServers runs every server for a fraction of a second: a few echoed
// messages, the control protocol, and a short bulk stream into its sink.
func TestServers(t *testing.T) {
	t.Setenv("NETBENCH_AS_MAIN", "1")
	for _, name := range rowOrder {
		sp := allSpecs[name]
		t.Run(strings.ReplaceAll(name, "/", "-"), func(t *testing.T) {
			srv, err := startServer(sp, "echo")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.stop()
			cl, err := newEchoClient(srv.addr, 4, 64)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.close()
			s0, err := srv.stats()
			if err != nil {
				t.Fatal(err)
			}
			ph, err := cl.phase(100*time.Millisecond, true)
			if err != nil {
				t.Fatal(err)
			}
			if ph.msgs < 4 || len(ph.rtts) != ph.msgs {
				t.Fatalf("echoed %d messages, %d round trips", ph.msgs, len(ph.rtts))
			}
			s1, err := srv.stats()
			if err != nil {
				t.Fatal(err)
			}
			if s1["conns"] != 4 || s1["mallocs"] < s0["mallocs"] {
				t.Fatalf("stats before %v, after %v", s0, s1)
			}
			if _, err := srv.query("gc"); err != nil {
				t.Fatal(err)
			}
			if rss, err := statusKB(srv.pid, "VmRSS"); err != nil || rss <= 0 {
				t.Fatalf("VmRSS %d: %v", rss, err)
			}
			if _, err := cpuTicks(srv.pid); err != nil {
				t.Fatal(err)
			}

			sink, err := startServer(sp, "sink")
			if err != nil {
				t.Fatal(err)
			}
			defer sink.stop()
			stop := make(chan struct{})
			done, err := bulkSend(sink.addr, stop)
			if err != nil {
				t.Fatal(err)
			}
			// The sender runs until the sink (another process, asked over
			// its control connection) has counted some of its bytes.
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			deadline := time.Now().Add(5 * time.Second)
			for {
				st, err := sink.stats()
				if err != nil {
					close(stop)
					<-done
					t.Fatal(err)
				}
				if st["bytes"] > 0 {
					break
				}
				if time.Now().After(deadline) {
					close(stop)
					t.Fatalf("sent %d bytes, server counted none", <-done)
				}
				<-tick.C
			}
			close(stop)
			<-done
		})
	}
}

// TestQuick runs the whole driver briefly and checks the table.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-quick", "-idleconns", "50", "-timeout", "2m")
	cmd.Env = append(os.Environ(), "NETBENCH_AS_MAIN=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"reactor-epoll ", "reactor-poll ", "reactor-epoll/game ", "std ", "gnet1 ", "gnetN ", "msgs/s", "B/conn"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in the report:\n%s", want, out)
		}
	}
}

func TestParseStrace(t *testing.T) {
	const sample = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 45.00    0.010000           1     10000      2000 read
 40.00    0.008000           1     10000           write
 15.00    0.001000           1      1000           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.019000           1     21000      2000 total
`
	f := filepath.Join(t.TempDir(), "strace.txt")
	if err := os.WriteFile(f, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := parseStrace(f)
	if err != nil {
		t.Fatal(err)
	}
	sc.msgs = 10000
	if sc.total != 21000 || sc.calls["read"] != 10000 || sc.errors["read"] != 2000 || sc.calls["epoll_wait"] != 1000 {
		t.Fatalf("%+v", sc)
	}
	if got := sc.perMsg(""); got != 2.1 {
		t.Fatalf("per message %v", got)
	}
}

// TestSecureServers runs every TLS and WebSocket echo server briefly: a
// few messages echoed on each connection, the control protocol, and the
// server's connections counted.
func TestSecureServers(t *testing.T) {
	t.Setenv("NETBENCH_AS_MAIN", "1")
	for _, name := range secureOrder {
		sp := secureSpecs[name]
		t.Run(strings.ReplaceAll(name, "/", "-"), func(t *testing.T) {
			srv, err := startServer(sp, "echo")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.stop()
			cl, err := newSecureClient(sp.impl, srv.addr, 4, 64)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.close()
			ph, err := cl.phase(100*time.Millisecond, true)
			if err != nil {
				t.Fatal(err)
			}
			if ph.msgs < 4 || len(ph.rtts) != ph.msgs {
				t.Fatalf("echoed %d messages, %d round trips", ph.msgs, len(ph.rtts))
			}
			st, err := srv.stats()
			if err != nil {
				t.Fatal(err)
			}
			if st["conns"] != 4 {
				t.Fatalf("the server counts %d connections, want 4 (%v)", st["conns"], st)
			}
		})
	}
}

// TestSliceOwner: in a paired round the two servers take turns A B B A,
// each gets half the slices, and neither has two turns in a row but in
// the middle of an A B B A group.
func TestSliceOwner(t *testing.T) {
	want := []int{0, 1, 1, 0, 0, 1, 1, 0}
	got := make([]int, len(want))
	for k := range want {
		got[k] = sliceOwner(k)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("slice owners %v, want %v", got, want)
	}
	for _, n := range []int{1, 2, 5, 12} {
		count := 0
		for k := 0; k < 2*n; k++ {
			count += sliceOwner(k)
		}
		if count != n {
			t.Fatalf("%d slices each: the second server got %d of %d", n, count, 2*n)
		}
	}
}

// TestPairedRuns: the driver measures together exactly the runs that the
// plan put next to each other as a pair, in either order.
func TestPairedRuns(t *testing.T) {
	var all []spec
	for _, n := range []string{"reactor-tls", "reactor-tls/portable", "std-tls", "reactor-ws", "coder-ws"} {
		all = append(all, secureSpecs[n])
	}
	for r := 0; r < 4; r++ {
		plan := securePlan(all, r)
		pairs := 0
		for i := 0; i < len(plan); i++ {
			if i+1 < len(plan) && pairedRuns(plan[i], plan[i+1]) {
				x, y := plan[i], plan[i+1]
				reactor, base := x, y
				if x.pairOf != "" {
					reactor, base = y, x
				}
				if secureBaseline[reactor.sp.name] != base.sp.name || base.pairOf != reactor.sp.name {
					t.Fatalf("round %d: %s and %s measured together, not a reactor server and its baseline", r, x.sp.name, y.sp.name)
				}
				pairs++
				i++
			}
		}
		if pairs != 3 {
			t.Fatalf("round %d: %d pairs, want 3 (each reactor server with its baseline): %v", r, pairs, plan)
		}
	}
}

// TestSecurePlan: every reactor server runs next to a round of its
// baseline, the pair's order alternates between rounds, and servers
// without a partner still run.
func TestSecurePlan(t *testing.T) {
	specs := func(names ...string) []spec {
		var out []spec
		for _, n := range names {
			out = append(out, secureSpecs[n])
		}
		return out
	}
	all := specs(secureOrder...)
	for r := 0; r < 4; r++ {
		plan := securePlan(all, r)
		// 5 reactor servers, each with its baseline's round.
		if len(plan) != 10 {
			t.Fatalf("round %d: %d runs, want 10", r, len(plan))
		}
		pairs := 0
		for i, run := range plan {
			if run.pairOf == "" {
				continue
			}
			pairs++
			if secureBaseline[run.pairOf] != run.sp.name {
				t.Fatalf("round %d: %s paired with %s", r, run.sp.name, run.pairOf)
			}
			// Its partner is the run next to it: after it on odd rounds.
			j := i + 1
			if r%2 == 0 {
				j = i - 1
			}
			if j < 0 || j >= len(plan) || plan[j].sp.name != run.pairOf {
				t.Fatalf("round %d: baseline run %d (%s for %s) not next to its partner: %v", r, i, run.sp.name, run.pairOf, plan)
			}
		}
		if pairs != 5 {
			t.Fatalf("round %d: %d paired baseline runs, want 5", r, pairs)
		}
	}
	if a, b := securePlan(all, 0)[0].sp.name, securePlan(all, 2)[0].sp.name; a == b {
		t.Fatalf("rounds 0 and 2 both start with %s: the pairs do not rotate", a)
	}
	// A reactor server without its baseline, and a baseline without one.
	plan := securePlan(specs("reactor-tls", "coder-ws"), 1)
	if len(plan) != 2 || plan[0].pairOf != "" || plan[1].pairOf != "" {
		t.Fatalf("unpaired servers: %v", plan)
	}
}
