package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
)

const tickRate = game.DefaultTickRate

// Twenty bots play for a few seconds: every bot sees every other, gets the
// full snapshot rate, and draws the others where the server has them (within
// the interpolation delay); its own prediction matches the server too.
func TestBotsSeeEachOther(t *testing.T) {
	checkFds(t)
	const n = 20
	c := startCluster(t, gameserver.Config{}, n, "udp")
	rep := c.measureRates(t, 2*time.Second, tickRate, nil)
	t.Logf("%v", rep)

	// Positions: the server's, then every bot's view, a moment apart.
	for round := range 3 {
		var truth []game.PlayerState
		var truthAt, viewAt time.Time
		c.srvLoop.do(t, func() { truth = c.srv.Players(nil); truthAt = time.Now() })
		type view struct {
			self   game.PlayerState
			others []game.PlayerState
			rtt    time.Duration
		}
		views := make([]view, n)
		c.botLoop.do(t, func() {
			viewAt = time.Now()
			for i, b := range c.sw.Bots {
				views[i].self, _ = b.Session.Self()
				views[i].others = b.Session.Remote(nil)
				views[i].rtt = b.Session.State().RTT
			}
		})
		byID := map[uint16]game.PlayerState{}
		for _, p := range truth {
			byID[p.ID] = p
		}
		if len(byID) != n {
			t.Fatalf("server has %d players", len(byID))
		}
		// Remote players are drawn InterpDelay in the past, and snapshots
		// are up to a tick old when they arrive; allow that plus two ticks,
		// plus how far anyone could move between the two reads (measured: a
		// busy machine can stall the test between them), and 50 ms for a
		// snapshot in flight when the bots were read.
		apart := viewAt.Sub(truthAt)
		gap := apart + 50*time.Millisecond
		slack := game.DefaultInterpDelay + 4*time.Second/tickRate + gap
		maxRemote := game.PlayerSpeed * slack.Seconds()
		worst := 0.0
		for i, v := range views {
			if len(v.others) != n-1 {
				t.Fatalf("bot %d sees %d others, want %d", i+1, len(v.others), n-1)
			}
			for _, o := range v.others {
				tr, ok := byID[o.ID]
				if !ok {
					t.Fatalf("bot %d sees player %d, unknown to the server", i+1, o.ID)
				}
				d := math.Hypot(o.X-tr.X, o.Y-tr.Y)
				worst = max(worst, d)
				if d > maxRemote {
					t.Errorf("round %d: bot %d draws player %d %.1fpx from the server's position (limit %.1f)", round, i+1, o.ID, d, maxRemote)
				}
			}
			// The prediction runs ahead of the server by the inputs in
			// flight: about an RTT plus a tick or two.
			tr := byID[v.self.ID]
			lead := game.PlayerSpeed * (v.rtt + 3*time.Second/tickRate + gap).Seconds()
			if d := math.Hypot(v.self.X-tr.X, v.self.Y-tr.Y); d > lead {
				t.Errorf("round %d: bot %d predicts itself %.1fpx from the server (limit %.1f)", round, i+1, d, lead)
			}
		}
		t.Logf("round %d: worst remote error %.1fpx (limit %.1f, reads %v apart)", round, worst, maxRemote, apart)
	}
	if n := c.logs.count("level=WARN") + c.logs.count("level=ERROR"); n != 0 {
		t.Errorf("%d warnings or errors logged:\n%s", n, c.logs.tail(80))
	}
	if got := c.logs.count("msg=join"); got != n {
		t.Errorf("%d join lines, want %d", got, n)
	}
}

// addrAttr is the addr attribute of the server's log lines about conn.
func addrAttr(conn net.Conn) string { return "addr=" + conn.LocalAddr().String() + " " }

// dial opens a raw TCP connection to the server, closed at the end of the
// test.
func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.(*net.TCPConn)
}

// hello joins over a raw connection and returns the Welcome.
func hello(t *testing.T, conn net.Conn, name string) game.Welcome {
	t.Helper()
	if _, err := conn.Write(framing.Append(nil, toSession(game.AppendHello(nil, game.Hello{Version: game.ProtocolVersion, Name: name})))); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	n, err := binary.ReadUvarint(br)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	m, err := fromSession(payload)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := m.(game.Welcome)
	if !ok {
		t.Fatalf("answer to hello: %#v", m)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return w
}

// drainUntilClosed reads (and discards) until the server closes the
// connection, or fails the test after timeout.
func drainUntilClosed(t *testing.T, conn net.Conn, timeout time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection within %v", timeout)
	}
}

// Attacks from raw connections while twenty bots play: each offending
// connection is dropped with a logged reason, and the bots keep getting
// the full snapshot rate.
func TestBadInputUnderLoad(t *testing.T) {
	checkFds(t)
	const handshake = 500 * time.Millisecond
	c := startCluster(t, gameserver.Config{
		HandshakeTimeout: handshake,
		IdleTimeout:      2 * time.Second,
		MaxConns:         600,
		PeerLogRate:      -1, // log every drop: the test counts them
	}, 20, "mixed")
	addr := c.srv.Addr().String()
	// Two seconds: one scheduling hiccup of the machine (a tick callback
	// descheduled for 50 ms merges two ticks into one snapshot) must not
	// decide the test.
	window := 2 * time.Second

	attack := func(name string, run func(t *testing.T, mark int)) {
		t.Run(name, func(t *testing.T) {
			rep := c.measureRates(t, window, tickRate, func() { run(t, c.logs.mark()) })
			t.Logf("during the attack: %v", rep)
		})
	}

	attack("random bytes", func(t *testing.T, mark int) {
		conn := dial(t, addr)
		junk := make([]byte, 4096)
		_, _ = rand.Read(junk)
		junk[0] = 0x85 // a first frame that cannot be a Hello
		_, _ = conn.Write(junk)
		c.logs.waitSince(t, mark, 5*time.Second, 1, `msg="session: drop"`, addrAttr(conn), "bad input")
		drainUntilClosed(t, conn, 5*time.Second)
	})
	attack("oversized length prefix", func(t *testing.T, mark int) {
		conn := dial(t, addr)
		_, _ = conn.Write(binary.AppendUvarint(nil, 1<<30))
		c.logs.waitSince(t, mark, 5*time.Second, 1, `msg="session: drop"`, addrAttr(conn), "frame too large")
		drainUntilClosed(t, conn, 5*time.Second)
	})
	attack("frame that never completes", func(t *testing.T, mark int) {
		conn := dial(t, addr)
		_, _ = conn.Write([]byte{20, byte(game.MsgHello), 1, 5, 'a'})
		c.logs.waitSince(t, mark, 5*time.Second, 1, `msg="session: drop"`, addrAttr(conn), "no handshake")
		drainUntilClosed(t, conn, 5*time.Second)
	})
	attack("handshake that never comes", func(t *testing.T, mark int) {
		conn := dial(t, addr)
		c.logs.waitSince(t, mark, 5*time.Second, 1, `msg="session: drop"`, addrAttr(conn), "no handshake")
		drainUntilClosed(t, conn, 5*time.Second)
	})
	attack("input flood", func(t *testing.T, mark int) {
		conn := dial(t, addr)
		w := hello(t, conn, "flooder")
		go func() { _, _ = io.Copy(io.Discard, conn) }() // keep reading snapshots
		var buf []byte
		for seq := uint32(1); seq <= 2000; seq++ {
			buf = framing.Append(buf, game.AppendInput(nil, game.Input{PlayerID: w.PlayerID, Seq: seq, Buttons: game.ButtonUp}))
		}
		_, _ = conn.Write(buf) // may fail once the server drops us
		c.logs.waitSince(t, mark, 5*time.Second, 1, "msg=leave", fmt.Sprintf("player=%d ", w.PlayerID), "reason=error", "flood")
	})
	attack("claimed foreign player id", func(t *testing.T, mark int) {
		conn := dial(t, addr)
		w := hello(t, conn, "impostor")
		_, _ = conn.Write(framing.Append(nil, game.AppendInput(nil, game.Input{PlayerID: 1, Seq: 1, Buttons: game.ButtonUp})))
		c.logs.waitSince(t, mark, 5*time.Second, 1, "msg=leave", fmt.Sprintf("player=%d ", w.PlayerID), "reason=error", "another player")
		drainUntilClosed(t, conn, 5*time.Second)
	})
	attack("spoofed UDP binds get no datagram", func(t *testing.T, _ int) {
		sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
		server := c.srv.UDPAddr()
		for id := uint16(1); id <= 25; id++ {
			var tok [16]byte
			_, _ = rand.Read(tok[:])
			b := sessionBind(id, tok)
			_, _ = sock.WriteToUDPAddrPort(b, server)
			_, _ = sock.WriteToUDPAddrPort([]byte{0xff, 1, 2}, server)
		}
		_ = sock.SetReadDeadline(time.Now().Add(window))
		if n, _, err := sock.ReadFromUDPAddrPort(make([]byte, 2048)); err == nil {
			t.Fatalf("the server sent %d bytes to an address that never bound", n)
		}
	})
	attack("500 connections that never speak", func(t *testing.T, mark int) {
		const n = 500
		conns := make([]*net.TCPConn, 0, n)
		for range n {
			conns = append(conns, dial(t, addr))
		}
		c.logs.waitSince(t, mark, 20*time.Second, n, `msg="session: drop"`)
		for _, conn := range conns {
			if c.logs.countSince(mark, `msg="session: drop"`, addrAttr(conn)) != 1 {
				t.Fatalf("no drop line for %v", conn.LocalAddr())
			}
		}
		for _, conn := range conns {
			drainUntilClosed(t, conn, 5*time.Second)
		}
	})

	var st gameserver.Stats
	c.srvLoop.do(t, func() { st = c.srv.Stats() })
	if st.Players != 20 || st.UDPClients != 10 {
		t.Errorf("after the attacks: %+v", st)
	}
	if c.logs.count("level=ERROR") != 0 {
		t.Errorf("errors logged:\n%s", c.logs.tail(80))
	}
}

// Goodbye is logged as reason=quit; a client that vanishes (connected but
// silent) as reason=timeout, after the idle deadline and the grace period
// its player is kept for.
func TestQuitAndTimeout(t *testing.T) {
	checkFds(t)
	c := startCluster(t, gameserver.Config{IdleTimeout: 300 * time.Millisecond, Grace: 500 * time.Millisecond}, 2, "udp")
	var bye <-chan struct{}
	b := c.sw.Bots[0]
	c.botLoop.do(t, func() { bye = b.Session.Goodbye() })
	select {
	case <-bye:
	case <-time.After(10 * time.Second):
		t.Fatal("goodbye did not finish")
	}
	c.logs.waitCount(t, 5*time.Second, 1, "msg=leave", "name=bot01", "reason=quit")

	conn := dial(t, c.srv.Addr().String())
	w := hello(t, conn, "ghost")
	go func() { _, _ = io.Copy(io.Discard, conn) }()
	c.logs.waitCount(t, 5*time.Second, 1, "msg=leave", fmt.Sprintf("player=%d ", w.PlayerID), "name=ghost", "reason=timeout")

	// The other bot pings, so it stays despite the short deadline.
	rep := c.measure(t, time.Second, nil)
	if st := c.sw.Bots[1].Session; rep.Connected != 1 {
		t.Fatalf("the pinging bot was dropped: %+v", st)
	}
	var after netclient.State
	c.botLoop.do(t, func() { after = b.Session.State() })
	if after.Status != netclient.StatusDisconnected || after.Cause != netclient.CauseQuit {
		t.Fatalf("bot01 after goodbye: %+v", after)
	}
	if strings.Contains(c.logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", c.logs.tail(80))
	}
}
