package gameserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// A player joins and learns everybody's name, and everybody learns the
// newcomer's; beyond MaxPlayers a client is refused "server full", a client
// of another version of the game is refused; a player who quits leaves at
// once, the others are told, and every join and leave is logged once.
func TestHandshake(t *testing.T) {
	h := newHarness(t, Config{MaxPlayers: 2})
	a := h.join("alice")
	if a.id() != 1 {
		t.Fatalf("alice's id %d", a.id())
	}
	b := h.join("bob")
	h.until("names", func() bool { return len(a.names) == 2 && len(b.names) == 2 })
	for _, c := range []*client{a, b} {
		if c.names[1] != "alice" || c.names[2] != "bob" {
			t.Fatalf("%s knows %v", c.name, c.names)
		}
	}
	if n := len(h.logs.Lines("msg=join", "player=2", "name=bob", "addr=127.0.0.1:")); n != 1 {
		t.Fatalf("%d join lines for bob:\n%s", n, h.logs)
	}

	// Full: refused with the reason.
	if st := h.refused("carol", nil); st.Cause != session.CauseRefused || !errors.Is(st.Err, session.ErrServerFull) || !strings.Contains(st.Reason, "full") {
		t.Fatalf("third player: %v %q %v", st.Cause, st.Reason, st.Err)
	}
	// Another version of the game: refused.
	if st := h.refused("dave", func(c *session.ClientConfig) { c.App = "arena/999" }); !errors.Is(st.Err, session.ErrVersion) {
		t.Fatalf("wrong version: %v %q %v", st.Cause, st.Reason, st.Err)
	}

	// Goodbye: bob leaves at once, logged as quit, alice is told.
	bye := b.c.Goodbye()
	h.until("bob gone", func() bool {
		select {
		case <-bye:
			return len(a.left) == 1
		default:
			return false
		}
	})
	if a.left[0] != 2 || h.s.world.Len() != 1 {
		t.Fatalf("alice was told %v; %d players", a.left, h.s.world.Len())
	}
	if n := len(h.logs.Lines("msg=leave", "player=2", "name=bob", "reason=quit")); n != 1 {
		t.Fatalf("%d quit lines:\n%s", n, h.logs)
	}
	if st := h.s.Stats(); st.Conns != 1 || st.Players != 1 || st.Joins != 2 || st.Leaves != 1 || st.Rejects != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Each event once: the session package's own join and leave lines
	// are not logged beside the game's.
	if n := len(h.logs.Lines("join")); n != 2 {
		t.Errorf("%d lines about joins:\n%s", n, h.logs)
	}
	if n := len(h.logs.Lines("leave")); n != 1 {
		t.Errorf("%d lines about leaves:\n%s", n, h.logs)
	}
}

// Every kind of bad message from a player kicks that player, with a
// logged reason (msg=leave reason=error) the client is told; bad frames
// from a connection that never joined drop it; the player who behaves is
// unaffected.
func TestBadInputDisconnects(t *testing.T) {
	h := newHarness(t, Config{})
	good := h.join("good")
	for i, tc := range []struct {
		name    string
		payload func(id uint16) []byte
		want    string
	}{
		{"unknown type", func(uint16) []byte { return []byte{200, 1, 2} }, "200"},
		{"server message", func(uint16) []byte { return game.AppendPlayerLeft(nil, game.PlayerLeft{ID: 1}) }, "type"},
		{"trailing bytes", func(id uint16) []byte {
			return append(game.AppendInput(nil, game.Input{PlayerID: id, Seq: 1}), 0)
		}, "trailing"},
		{"undefined buttons", func(id uint16) []byte {
			return game.AppendInput(nil, game.Input{PlayerID: id, Seq: 1, Buttons: 0x40})
		}, "button"},
		{"foreign player id", func(uint16) []byte { return game.AppendInput(nil, game.Input{PlayerID: 1, Seq: 1}) }, "input for player 1 from player"},
		{"truncated input", func(id uint16) []byte { return game.AppendInput(nil, game.Input{PlayerID: id, Seq: 1})[:2] }, "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.join(fmt.Sprint("p", i))
			c.send(tc.payload(c.id()))
			reason := c.kicked()
			if !strings.Contains(reason, tc.want) {
				t.Fatalf("kicked with %q, want %q", reason, tc.want)
			}
			if c.inWorld() {
				t.Fatal("a kicked player is still in the world")
			}
			if n := len(h.logs.Lines("msg=leave", "name="+c.name+" ", "reason=error", "detail=")); n != 1 {
				t.Fatalf("%d leave lines:\n%s", n, h.logs)
			}
		})
	}
	// Bad frames before any Hello: the connection is dropped by the
	// session package, which logs why.
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"huge length prefix", binary.AppendUvarint(nil, 1<<30), "too large"},
		{"oversized frame", binary.AppendUvarint(nil, DefaultMaxMessage+1), "too large"},
		{"malformed prefix", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "drop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", h.s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			addr := "addr=" + conn.LocalAddr().String()
			h.until("the drop line", func() bool { return len(h.logs.Lines(`msg="session: drop"`, addr, tc.want)) == 1 })
		})
	}
	if good.c.State().Status != session.Connected || !good.inWorld() || h.s.world.Len() != 1 {
		t.Fatalf("the good player was affected: %v, %d players", good.c.State().Status, h.s.world.Len())
	}
}

// A connection that does not say Hello within the handshake timeout is
// dropped; a player that pings stays past the idle timeout.
func TestTimeouts(t *testing.T) {
	h := newHarness(t, Config{HandshakeTimeout: time.Second, IdleTimeout: 2 * time.Second})
	silent, err := net.Dial("tcp", h.s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	p := h.join("pinger")
	h.until("the silent connection accepted", func() bool { return h.s.Stats().Conns == 2 })
	h.advance(900 * time.Millisecond)
	if h.s.Stats().Conns != 2 {
		t.Fatal("dropped before the handshake deadline")
	}
	h.advance(100 * time.Millisecond)
	h.until("the silent connection dropped", func() bool {
		return len(h.logs.Lines(`msg="session: drop"`, "addr="+silent.LocalAddr().String(), "no hello")) == 1
	})
	// Five seconds in steps of 100 ms; after each, the pinger's pings
	// (every 2s/3) have reached the server: on a fake clock, a step that
	// fires a client's ping timer and the server's idle timer together
	// would otherwise race the ping's bytes on the socket.
	for range 50 {
		h.advance(100 * time.Millisecond)
		h.until("the pinger's ping", func() bool {
			peer := h.s.sess.Peer(uint32(p.id()))
			return peer == nil || h.clock.Now().Sub(peer.LastReceived()) <= 800*time.Millisecond
		})
	}
	if p.c.State().Status != session.Connected || !p.inWorld() {
		t.Fatalf("a player that pings was dropped: %+v", p.c.State())
	}
}

// The rate-limit policy: at the tick rate nothing is dropped; a little
// above, the excess is dropped but the client stays; a client whose inputs
// claim to be a second ahead of the clock is disconnected.
func TestInputRatePolicy(t *testing.T) {
	const tick = 30
	for _, tc := range []struct {
		name    string
		perSec  float64
		seconds int
		dropped bool
		kicked  bool
	}{
		{"at the tick rate", tick, 3, false, false},
		{"8% fast, allowed", tick * 1.08, 3, false, false},
		{"50% fast: excess dropped", tick * 1.5, 2, true, false},
		{"50% fast: a second ahead after 2.5s", tick * 1.5, 3, true, true},
		{"2.5 times: kicked", tick * 2.5, 3, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{TickRate: tick})
			c := h.join("p")
			interval := time.Duration(float64(time.Second) / tc.perSec)
			var seq uint32
			for end := h.clock.Now().Add(time.Duration(tc.seconds) * time.Second); h.clock.Now().Before(end) && c.inWorld(); {
				seq++
				c.input(seq, game.ButtonRight)
				h.advance(interval) // the server's own tick runs as it falls due
			}
			st := h.s.Stats()
			if (st.InputsDropped > 0) != tc.dropped {
				t.Errorf("%d inputs dropped of %d", st.InputsDropped, seq)
			}
			if kicked := !c.inWorld(); kicked != tc.kicked {
				t.Fatalf("kicked=%v, want %v", kicked, tc.kicked)
			}
			if tc.kicked {
				if reason := c.kicked(); !strings.Contains(reason, "flood") || len(h.logs.Lines("msg=leave", "reason=error", "flood")) != 1 {
					t.Fatalf("reason %q, log:\n%s", reason, h.logs)
				}
			}
		})
	}
	t.Run("burst flood: kicked", func(t *testing.T) {
		h := newHarness(t, Config{TickRate: tick})
		c := h.join("p")
		for seq := uint32(1); seq <= 200; seq++ {
			c.send(game.AppendInput(nil, game.Input{PlayerID: c.id(), Seq: seq, Buttons: game.ButtonUp}))
		}
		if reason := c.kicked(); !strings.Contains(reason, "flood") {
			t.Fatalf("kicked with %q", reason)
		}
	})
}

func TestTooManyConnections(t *testing.T) {
	h := newHarness(t, Config{MaxConns: 2})
	for range 3 {
		c, err := net.Dial("tcp", h.s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	h.until("the third connection dropped", func() bool {
		return len(h.logs.Lines(`msg="session: drop"`, "too many connections")) == 1
	})
	if st := h.s.Stats(); st.Conns != 2 || st.Drops != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Catching up: a tick callback that runs late runs the missed ticks (at
// most maxCatchUp) and sends one snapshot; further behind, the backlog is
// dropped, and the next tick is in the future.
func TestTickCatchUp(t *testing.T) {
	h := newHarness(t, Config{TickRate: 10})
	c := h.join("p")
	h.advance(250 * time.Millisecond) // ticks due at 100 and 200 ms
	if got := h.s.world.CurrentTick(); got != 2 {
		t.Fatalf("tick %d after 250ms, want 2", got)
	}
	h.until("the snapshot", func() bool { return c.snaps == 1 })
	if c.lastTick != 2 {
		t.Fatalf("snapshot of tick %d, want 2", c.lastTick)
	}
	h.advance(time.Second) // 10 more due; at most 3 run
	st := h.s.Stats()
	if got := h.s.world.CurrentTick(); got != 5 || st.TicksSkipped != 7 || st.TicksLate != 1+2 {
		t.Fatalf("tick %d, stats %+v", got, st)
	}
	h.until("the second snapshot", func() bool { return c.snaps == 2 })
	if c.lastTick != 5 {
		t.Fatalf("snapshot of tick %d, want 5", c.lastTick)
	}
	if !h.s.nextTick.After(h.clock.Now()) {
		t.Fatal("next tick not in the future")
	}
	// Back on time: one tick per period.
	h.advance(h.s.nextTick.Sub(h.clock.Now()))
	if got := h.s.world.CurrentTick(); got != 6 || h.s.Stats().TicksSkipped != 7 {
		t.Fatalf("tick %d after catching up", got)
	}
}

// With more players than fit in one snapshot (148), each client gets
// several snapshots of the same tick that together hold everybody: every
// client sees every player.
func TestSnapshotSplit(t *testing.T) {
	const n = 200 // ids from 128 take 2 bytes: 200 players take 1273
	h := newHarness(t, Config{MaxPlayers: n, DisableUDP: true})
	cs := make([]*client, 0, n)
	for i := range n {
		cs = append(cs, h.dial(fmt.Sprintf("p%03d", i), nil))
	}
	h.until("every player joined", func() bool { return h.s.world.Len() == n })
	for _, c := range cs {
		h.until(c.name+" welcomed", func() bool { return c.c.State().Status == session.Connected })
	}
	before := h.s.Stats().SnapshotsTCP
	h.advance(h.s.dt)
	tick := h.s.world.CurrentTick()
	h.until("every client saw every player", func() bool {
		for _, c := range cs {
			if c.lastTick != tick || len(c.seen) != n {
				return false
			}
		}
		return true
	})
	if sent := h.s.Stats().SnapshotsTCP - before; sent != 2*n {
		t.Fatalf("%d snapshot messages for %d clients, want 2 each", sent, n)
	}
}

// The hot paths allocate nothing in steady state: a tick with its
// snapshots to every client, and an input message. The clients are on the
// server's reactor, so what is counted is the server's tick, core's writes
// and reads on both ends, and the clients' session layer. 200 clients, so
// that a snapshot is split in two messages.
func TestSteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector; run without -race")
	}
	const n = 200
	h := newHarness(t, Config{MaxPlayers: n, DisableUDP: true, InputRate: 1e9, InputBurst: 1 << 20, FloodTolerance: 1 << 30})
	cs := make([]*client, 0, n)
	for i := range n {
		c := h.dial(fmt.Sprintf("p%03d", i), nil)
		c.countOnly = true
		cs = append(cs, c)
	}
	h.until("every player joined", func() bool { return h.s.world.Len() == n })
	// want counts snapshot messages: with more than 148 players a
	// snapshot is split in several, and every client gets them all.
	want := 0
	send := func() {
		h.s.world.Tick()
		sent := h.s.stats.SnapshotsTCP
		h.s.sendSnapshots()
		want += int(h.s.stats.SnapshotsTCP-sent) / n
	}
	tick := func() {
		send()
		h.until("the snapshots", func() bool {
			for _, c := range cs {
				if c.snaps < want {
					return false
				}
			}
			return true
		})
	}
	// Warm the buffers: core's pools take some ticks to hold as many of
	// each size as the clients use at once.
	for range 10 {
		tick()
	}
	if want < 2*10 {
		t.Fatalf("%d snapshot messages a client in 10 ticks: the snapshots were not split", want)
	}
	// The reactor delivers each tick's snapshots before the next, as it
	// does at 30 ticks a second: what is counted is the server's tick,
	// core's writes and reads, and the clients' session layer.
	deadline := time.Now().Add(watchdog)
	if a := testing.AllocsPerRun(20, func() {
		send()
		for i := 0; i < len(cs); {
			if cs[i].snaps >= want {
				i++
				continue
			}
			if h.r.Drain(time.Millisecond).Ran == 0 {
				runtime.Gosched()
			}
			if time.Now().After(deadline) {
				panic("timed out waiting for the snapshots")
			}
		}
	}); a != 0 {
		t.Errorf("%v allocations per tick and its snapshots with %d clients", a, n)
	}

	c := cs[0]
	p := h.s.sess.Peer(uint32(c.id()))
	payload := make([]byte, 0, 16)
	seq := uint32(0)
	if a := testing.AllocsPerRun(1000, func() {
		seq++
		payload = game.AppendInput(payload[:0], game.Input{PlayerID: c.id(), Seq: seq, Buttons: game.ButtonLeft})
		if err := h.s.input(p, payload); err != nil {
			t.Fatal(err)
		}
		h.s.world.Tick()
	}); a != 0 {
		t.Errorf("%v allocations per input", a)
	}
	if !c.inWorld() {
		t.Fatal("dropped")
	}
}

// BenchmarkTick measures one server tick (simulation and the snapshots to
// 200 clients on loopback TCP, two messages each), the server's part: the
// clients' reading is outside the timer, but the poll thread reads for
// the clients' ends meanwhile, so core's reads are counted too.
// TestSteadyStateAllocations checks that the whole tick allocates nothing.
func BenchmarkTick(b *testing.B) {
	const n = 200
	h := newHarness(b, Config{MaxPlayers: n, DisableUDP: true})
	cs := make([]*client, 0, n)
	for i := range n {
		c := h.dial(fmt.Sprintf("p%03d", i), nil)
		c.countOnly = true
		cs = append(cs, c)
	}
	h.until("every player joined", func() bool { return h.s.world.Len() == n })
	want := 0
	b.ReportAllocs()
	for b.Loop() {
		h.s.world.Tick()
		h.s.sendSnapshots()
		b.StopTimer()
		want += 2
		h.until("the snapshots", func() bool {
			for _, c := range cs {
				if c.snaps < want {
					return false
				}
			}
			return true
		})
		b.StartTimer()
	}
}

// BenchmarkInput measures an Input message from a client's Send to the
// world's queue over loopback TCP: sent in batches of
// game.MaxQueuedInputs, then the world ticks.
func BenchmarkInput(b *testing.B) {
	h := newHarness(b, Config{DisableUDP: true, InputRate: 1e12, InputBurst: 1 << 30, FloodTolerance: 1 << 30})
	c := h.join("p")
	seq := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		if err := c.c.Send(game.AppendInput(c.c.Begin(byte(game.MsgInput))[:0], game.Input{PlayerID: c.id(), Seq: seq, Buttons: game.ButtonUp})); err != nil {
			b.Fatal(err)
		}
		c.sent++
		if seq%game.MaxQueuedInputs == 0 {
			c.handled()
			h.s.world.Tick()
		}
	}
	c.handled()
	if !c.inWorld() {
		b.Fatal("the client was dropped")
	}
}
