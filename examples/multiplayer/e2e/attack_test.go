package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// Attacks on the server command, as a process, from outside, with honest
// bots playing throughout and the server's stderr read at 20 KB/s (a slow
// log sink): every attack is bounded in count and time, and the bots keep
// at least 29 snapshots a second and stay connected. The per-address
// limits are applied to loopback (-addr-limit-exempt ""), so that
// attackers on 127.0.0.x addresses other than the bots' 127.0.0.1 stand
// for other hosts. The slow-client timeout is 2 s instead of 5 s to keep
// the test short.
func TestAttacksOnTheServerCommand(t *testing.T) {
	serverBins.get(t)
	checkFds(t)
	srv := startServerProc(t, 20<<10, "-addr-limit-exempt", "", "-slow-timeout", "2s")
	h := startHonest(t, srv.addr, 5, nil)
	window := 3 * time.Second

	t.Run("refused hello flood", func(t *testing.T) {
		mark := srv.stderr.mark()
		var tries, rejects atomic.Int64
		var failures atomic.Value
		var elapsed time.Duration
		rep := h.duringAttack(t, window, func(stop <-chan struct{}) {
			start := time.Now()
			defer func() { elapsed = time.Since(start) }()
			var wg sync.WaitGroup
			limit := start.Add(20 * time.Second)
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ip := fmt.Sprintf("127.0.0.%d", 50+g)
					for i := 0; i < 10000 && !stopped(stop) && time.Now().Before(limit); i++ {
						tries.Add(1)
						m, c, _, err := helloFrom(ip, srv.addr, helloPayload(game.ProtocolVersion+1, "x"))
						if err != nil {
							failures.Store(err)
							continue
						}
						c.Close()
						if _, ok := m.(game.Reject); ok {
							rejects.Add(1)
						}
					}
				}()
			}
			wg.Wait()
		})
		t.Logf("%d Hellos refused in %v; bots during the flood: %v", rejects.Load(), elapsed.Round(time.Millisecond), rep)
		if err := failures.Load(); err != nil || rejects.Load() != tries.Load() || tries.Load() < 1000 {
			t.Fatalf("%d tries, %d Rejects; a failure: %v", tries.Load(), rejects.Load(), err)
		}
		// The budget: a burst of 100 and 20 a second; then a line that
		// says how many were suppressed.
		srv.stderr.waitSince(t, mark, 20*time.Second, 1, "msg=suppressed")
		logged := srv.stderr.countSince(mark, `msg="session: refuse"`)
		if limit := 100 + int(20*(elapsed.Seconds()+2)); logged > limit {
			t.Errorf("%d reject lines for %v of flood, budget %d", logged, elapsed, limit)
		}
		t.Logf("reject lines logged: %d of %d", logged, rejects.Load())
	})

	t.Run("one address takes the slots", func(t *testing.T) {
		const ip = "127.0.0.66"
		var welcomed, refused int
		var mu sync.Mutex
		var conns []net.Conn
		keep := func(c net.Conn) {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		mark := srv.stderr.mark()
		rep := h.duringAttack(t, window, func(<-chan struct{}) {
			for i := range 20 {
				m, c, br, err := helloFrom(ip, srv.addr, helloPayload(game.ProtocolVersion, fmt.Sprintf("hog%02d", i)))
				if err != nil {
					t.Error(err)
					return
				}
				switch {
				case m.Type() == game.MsgWelcome:
					welcomed++
					keep(c)
					go answerPings(c, br) // reads its snapshots, answers the server's pings
				case isReject(m, "too many sessions from"), isReject(m, "too many connections from"):
					refused++
					c.Close()
				default:
					t.Errorf("hello %d: %#v", i, m)
					c.Close()
				}
			}
		})
		t.Logf("20 players from one address: %d joined, %d refused; bots: %v", welcomed, refused, rep)
		if welcomed != 8 || refused != 12 {
			t.Fatalf("%d joined, %d refused; want 8 and 12", welcomed, refused)
		}
		// Once the refused connections are gone: 5 bots and 8 hogs.
		srv.stderr.waitSince(t, mark, 10*time.Second, 1, "msg=stats", "players=13 ", "conns=13 ")

		// 520 silent connections from the same address: 8 more are taken
		// (up to 16 from one address), 16 get a Reject, the rest are
		// closed at once.
		var silent, rejected, closed atomic.Int64
		rep = h.duringAttack(t, window, func(<-chan struct{}) {
			var wg sync.WaitGroup
			for range 520 {
				c, err := dialFrom(ip, srv.addr, 0)
				if err != nil {
					t.Error(err)
					continue
				}
				keep(c)
				wg.Add(1)
				go func() {
					defer wg.Done()
					m, err := readMsg(c, bufio.NewReader(c), 1500*time.Millisecond)
					switch {
					case err == nil && isReject(m, "too many connections from"):
						rejected.Add(1)
					case errors.Is(err, io.EOF) || isReset(err):
						closed.Add(1)
					case isTimeout(err):
						silent.Add(1) // taken: the handshake deadline drops it later
					default:
						t.Errorf("silent connection: %#v %v", m, err)
					}
				}()
			}
			wg.Wait()
		})
		t.Logf("520 silent connections: %d taken, %d refused with a Reject, %d closed at accept; bots: %v", silent.Load(), rejected.Load(), closed.Load(), rep)
		if silent.Load() != 8 || rejected.Load() != 16 || closed.Load() != 520-24 {
			t.Errorf("taken %d (want 8, with the 8 players: 16), refused %d (want 16), closed %d (want 496)", silent.Load(), rejected.Load(), closed.Load())
		}

		// Somebody else still gets in.
		m, c, _, err := helloFrom("127.0.0.67", srv.addr, helloPayload(game.ProtocolVersion, "newcomer"))
		if err != nil {
			t.Fatal(err)
		}
		keep(c)
		if m.Type() != game.MsgWelcome {
			t.Fatalf("a player from another address: %#v", m)
		}
	})

	t.Run("impersonation and bad hellos", func(t *testing.T) {
		cases := []struct {
			payload []byte
			want    string
		}{
			{helloPayload(game.ProtocolVersion, "bot01"), "name in use"},
			{helloPayload(game.ProtocolVersion, "BOT01"), "name in use"},
			{helloPayload(game.ProtocolVersion, "b\u043et01"), "name in use"}, // Cyrillic о
			{helloPayload(game.ProtocolVersion, "b0t01"), "name in use"},
			{helloPayload(game.ProtocolVersion, "\u2800"), "bad name"},
			{helloPayload(game.ProtocolVersion, "bot01\u2800"), "bad name"},
			{helloPayload(game.ProtocolVersion, "\u3164"), "bad name"},
			{helloPayload(game.ProtocolVersion, "\u0301"), "bad name"},
			{helloPayload(game.ProtocolVersion, ""), "bad name"},
			{[]byte{byte(game.MsgHello), 0x80, 0x80, 0x04, 1, 'x'}, "arena/65536"},
		}
		rep := h.duringAttack(t, window, func(<-chan struct{}) {
			for _, tc := range cases {
				m, c, _, err := helloFrom("127.0.0.70", srv.addr, tc.payload)
				if err != nil {
					t.Errorf("hello % x: %v, want a Reject", tc.payload, err)
					continue
				}
				c.Close()
				if !isReject(m, tc.want) {
					t.Errorf("hello % x: %#v, want a Reject with %q", tc.payload, m, tc.want)
				}
			}
		})
		t.Logf("bots: %v", rep)
	})

	t.Run("input flood", func(t *testing.T) {
		m, c, br, err := helloFrom("127.0.0.71", srv.addr, helloPayload(game.ProtocolVersion, "flooder"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		w, ok := m.(game.Welcome)
		if !ok {
			t.Fatalf("%#v", m)
		}
		var kicked string
		rep := h.duringAttack(t, window, func(<-chan struct{}) {
			var buf []byte
			for seq := uint32(1); seq <= 2000; seq++ {
				buf = framing.Append(buf, game.AppendInput(nil, game.Input{PlayerID: w.PlayerID, Seq: seq, Buttons: game.ButtonUp}))
			}
			_, _ = c.Write(buf)
			for {
				m, err := readMsg(c, br, 10*time.Second)
				if err != nil {
					t.Errorf("no Reject before %v", err)
					return
				}
				if r, ok := m.(game.Reject); ok {
					kicked = r.Reason
					return
				}
			}
		})
		t.Logf("flooder: %q; bots: %v", kicked, rep)
		if !strings.Contains(kicked, "flood: input") {
			t.Fatalf("flooder got %q", kicked)
		}
	})

	t.Run("players that never read", func(t *testing.T) {
		// 20 players over TCP only, from 5 addresses, with a small receive
		// buffer; they ping every half second and never read.
		const n = 20
		mark := srv.stderr.mark()
		times := make([]time.Duration, n)
		rep := h.duringAttack(t, window, func(<-chan struct{}) {
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					times[i] = neverReads(t, fmt.Sprintf("127.0.0.%d", 100+i/4), srv.addr, fmt.Sprintf("deaf%02d", i), 4096, 60*time.Second)
				}()
			}
			wg.Wait()
		})
		slices.Sort(times)
		t.Logf("time from join to drop: min %v, median %v, max %v; bots meanwhile: %v",
			times[0].Round(time.Millisecond), times[n/2].Round(time.Millisecond), times[n-1].Round(time.Millisecond), rep)
		if times[0] <= 0 {
			t.Fatalf("a player that never reads was not dropped within 60s")
		}
		srv.stderr.waitSince(t, mark, 20*time.Second, n, "msg=leave", "name=deaf", "reason=slow")
	})

	t.Run("churn of UDP-bound players that never read", func(t *testing.T) {
		before := srv.rssKB(t)
		peak := before
		var cycles atomic.Int64
		// 24 players bound to UDP that never read TCP and rejoin when
		// dropped, from 3 addresses, and 16 that join and leave at once,
		// from 8 more, for 8 seconds.
		const attack = 8 * time.Second
		deadline := time.Now().Add(attack)
		rep := h.duringAttack(t, attack, func(<-chan struct{}) {
			var wg sync.WaitGroup
			for i := range 24 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := 0; time.Now().Before(deadline); k++ {
						_ = udpBoundNeverReads(fmt.Sprintf("127.0.0.%d", 110+i/8), srv.addr, fmt.Sprintf("u%02d-%d", i, k), deadline)
						cycles.Add(1)
					}
				}()
			}
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := 0; time.Now().Before(deadline); k++ {
						m, c, _, err := helloFrom(fmt.Sprintf("127.0.0.%d", 120+i/2), srv.addr, helloPayload(game.ProtocolVersion, fmt.Sprintf("c%02d-%d", i, k%10000)))
						if err != nil {
							continue
						}
						if m.Type() == game.MsgWelcome {
							_ = send(c, game.AppendGoodbye(nil, game.Goodbye{}))
							cycles.Add(1)
						}
						c.Close()
					}
				}()
			}
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for time.Now().Before(deadline) {
				<-tick.C
				peak = max(peak, srv.rssKB(t))
			}
			wg.Wait()
		})
		// Memory back near where it was once the attackers are gone.
		mark := srv.stderr.mark()
		srv.stderr.waitSince(t, mark, 30*time.Second, 1, "msg=stats", "players=5 ", "conns=5 ")
		var after int
		waitUntil(t, time.Now().Add(20*time.Second), func() bool {
			after = srv.rssKB(t)
			return after < before+16<<10
		})
		t.Logf("%d join/leave cycles; server RSS before %d KiB, peak %d KiB, after %d KiB; bots: %v", cycles.Load(), before, peak, after, rep)
		if peak > before+64<<10 {
			t.Errorf("RSS peaked %d KiB above its start", peak-before)
		}
	})

	var st string
	for _, l := range strings.Split(srv.stderr.String(), "\n") {
		if strings.Contains(l, "msg=stats") && strings.Contains(l, "logs_suppressed=") {
			st = l
		}
	}
	t.Logf("last stats line: %s", st)
}

// Logging never holds up the game: with the peer-log budget off
// (-log-rate -1), a flood of refused Hellos makes the server log far more
// than its stderr, read at 20 KB/s, takes; the honest bots keep their
// snapshot rate, and the server drops log records and says how many.
// Before core/asynclog, the bots fell to 5 snapshots a second.
func TestSlowStderrNeverStallsTheGame(t *testing.T) {
	serverBins.get(t)
	checkFds(t)
	srv := startServerProc(t, 20<<10, "-log-rate", "-1")
	h := startHonest(t, srv.addr, 5, nil)
	var rejects atomic.Int64
	rep := h.duringAttack(t, 3*time.Second, func(stop <-chan struct{}) {
		var wg sync.WaitGroup
		limit := time.Now().Add(20 * time.Second)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ip := fmt.Sprintf("127.0.0.%d", 60+g)
				for i := 0; i < 20000 && !stopped(stop) && time.Now().Before(limit); i++ {
					m, c, _, err := helloFrom(ip, srv.addr, helloPayload(game.ProtocolVersion+1, "x"))
					if err != nil {
						t.Errorf("hello: %v", err)
						return
					}
					c.Close()
					if _, ok := m.(game.Reject); ok {
						rejects.Add(1)
					}
				}
			}()
		}
		wg.Wait()
	})
	t.Logf("%d Hellos refused, each logged; bots: %v", rejects.Load(), rep)
	srv.stderr.waitCount(t, 30*time.Second, 1, "asynclog: records dropped", "dropped=")
	if logged := srv.stderr.count(`msg="session: refuse"`); int64(logged) >= rejects.Load() {
		t.Fatalf("%d reject lines for %d refusals: nothing dropped, the sink was not slow", logged, rejects.Load())
	}
}

// neverReads joins from ip as name over TCP with a receive buffer of
// rcvbuf, then only sends a Ping every half second, never reading, until a
// write fails (the server dropped it) or limit passes. It returns the time
// from the Welcome to the failed write, or 0 at the limit.
func neverReads(t *testing.T, ip, addr, name string, rcvbuf int, limit time.Duration) time.Duration {
	c, err := dialFrom(ip, addr, rcvbuf)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer c.Close()
	if err := send(c, helloPayload(game.ProtocolVersion, name)); err != nil {
		t.Error(err)
		return 0
	}
	m, err := readMsg(c, bufio.NewReader(c), 10*time.Second)
	if err != nil || m.Type() != game.MsgWelcome {
		t.Errorf("%s: %#v %v", name, m, err)
		return 0
	}
	joined := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if time.Since(joined) > limit {
			return 0
		}
		if err := send(c, game.AppendPing(nil, game.Ping{T: 1})); err != nil {
			return time.Since(joined)
		}
	}
	return 0
}

// udpBoundNeverReads joins from ip as name, reads the Welcome, binds its
// UDP address and then never reads TCP (nor UDP), pinging every half
// second, until the server drops it or deadline passes.
func udpBoundNeverReads(ip, addr, name string, deadline time.Time) error {
	c, err := dialFrom(ip, addr, 4096)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := send(c, helloPayload(game.ProtocolVersion, name)); err != nil {
		return err
	}
	m, err := readMsg(c, bufio.NewReader(c), 10*time.Second)
	if err != nil {
		return err
	}
	w, ok := m.(game.Welcome)
	if !ok {
		return fmt.Errorf("%#v", m)
	}
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		return err
	}
	defer u.Close()
	server := netip.MustParseAddrPort(addr)
	bind := sessionBind(w.PlayerID, w.Token)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for range 3 {
		_, _ = u.WriteToUDPAddrPort(bind, server)
	}
	if !time.Now().Before(deadline) {
		return nil // join, bind, leave
	}
	for range tick.C {
		if time.Now().After(deadline) {
			return nil
		}
		if err := send(c, game.AppendPing(nil, game.Ping{T: 1})); err != nil {
			return nil // dropped
		}
	}
	return nil
}

// waitUntil polls cond every 50 ms until it holds, or fails the test at
// deadline.
func waitUntil(t *testing.T, deadline time.Time, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met by %v", deadline.Format(time.TimeOnly))
		}
		<-tick.C
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// stopped reports whether stop is closed.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// answerPings plays an honest reader on a raw connection: it reads
// everything and answers the server's Pings, until the connection ends.
func answerPings(c net.Conn, br *bufio.Reader) {
	for {
		m, err := readMsg(c, br, time.Minute)
		if err != nil {
			return
		}
		if p, ok := m.(game.Ping); ok {
			if send(c, game.AppendPong(nil, game.Pong(p))) != nil {
				return
			}
		}
	}
}
