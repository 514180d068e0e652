package gameserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// connectFrom accepts a connection from ip; it returns the transport, or
// the factory's error.
func (h *harness) connectFrom(ip string) (*fakeTransport, error) {
	h.t.Helper()
	h.n++
	remote := &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000 + h.n}
	p, err := h.s.buildProtocol(remote)
	if err != nil {
		return nil, err
	}
	f := &fakeTransport{p: p, remote: remote}
	p.ConnectionMade(f)
	return f, nil
}

// hello sends a Hello with name on f and returns the answer: a Welcome or a
// Reject.
func hello(t *testing.T, f *fakeTransport, version uint16, name string) game.Message {
	t.Helper()
	f.send(game.AppendHello(nil, game.Hello{Version: version, Name: name}))
	msgs := f.messages(t)
	if len(msgs) == 0 {
		t.Fatalf("no answer to Hello %q (lost=%v %v)", name, f.lost, f.reason)
	}
	return msgs[0]
}

// rejected reports whether f got exactly one Reject containing want and is
// being closed gracefully.
func rejected(t *testing.T, f *fakeTransport, want string) bool {
	t.Helper()
	msgs := f.messages(t)
	if len(msgs) != 1 || !f.closing || f.lost {
		return false
	}
	r, ok := msgs[0].(game.Reject)
	return ok && strings.Contains(r.Reason, want)
}

// runTicks advances the clock by d in ticks, running the world (as the
// server's tick does, without snapshots).
func runTicks(h *harness, d time.Duration) {
	for end := h.clock.Now().Add(d); h.clock.Now().Before(end); {
		h.advance(h.s.dt)
		h.s.world.Tick()
	}
}

// Inputs that were sent in real time but arrive together, after a stall of
// the network or of the server, are no flood: the client stays, the excess
// is dropped. Tested for stalls up to the idle timeout.
func TestLateInputsAreNoFlood(t *testing.T) {
	for _, stall := range []time.Duration{1500 * time.Millisecond, 5 * time.Second, 9 * time.Second} {
		t.Run(stall.String(), func(t *testing.T) {
			h := newHarness(t, Config{TickRate: 30})
			f, w := h.join("p")
			var seq uint32
			send := func() {
				seq++
				f.send(game.AppendInput(nil, game.Input{PlayerID: w.PlayerID, Seq: seq, Buttons: game.ButtonRight}))
			}
			// A second of play, one input per tick.
			for range 30 {
				send()
				h.advance(h.s.dt)
				h.s.world.Tick()
			}
			// The stall: the client goes on producing inputs, none arrives.
			produced := int(stall / h.s.dt)
			runTicks(h, stall)
			// Then all of them at once, and the client plays on.
			for range produced {
				send()
			}
			for range 30 {
				send()
				h.advance(h.s.dt)
				h.s.world.Tick()
			}
			if reason, kicked := dismissed(t, f); kicked || f.closing {
				t.Fatalf("kicked after a %v stall: %q", stall, reason)
			}
			st := h.s.Stats()
			if st.InputsDropped == 0 || st.InputsApplied < 60 {
				t.Fatalf("after the burst: %+v", st)
			}
		})
	}
}

// A flood is still a flood: inputs numbered ahead of the clock disconnect
// at once; inputs repeating an old number disconnect once they exceed what
// a stall as long as the idle timeout could queue.
func TestInputFloodByClaims(t *testing.T) {
	t.Run("ahead of the clock", func(t *testing.T) {
		h := newHarness(t, Config{TickRate: 30})
		f, w := h.join("p")
		h.advance(2 * time.Second) // 2s of play allow 2*33 + 30 inputs
		var seq uint32
		for seq < 200 && !f.closing {
			seq++
			f.send(game.AppendInput(nil, game.Input{PlayerID: w.PlayerID, Seq: seq, Buttons: game.ButtonUp}))
		}
		reason, ok := dismissed(t, f)
		if !ok || !strings.Contains(reason, "ahead of the clock") || seq != 97 {
			t.Fatalf("dismissed=%v %q at input %d, want at 97", ok, reason, seq)
		}
	})
	t.Run("repeated numbers", func(t *testing.T) {
		h := newHarness(t, Config{TickRate: 30, IdleTimeout: 10 * time.Second})
		f, w := h.join("p")
		n := 0
		for n < 1000 && !f.closing {
			n++
			f.send(game.AppendInput(nil, game.Input{PlayerID: w.PlayerID, Seq: 1, Buttons: game.ButtonUp}))
		}
		reason, ok := dismissed(t, f)
		if !ok || !strings.Contains(reason, "flood") || n != 331 {
			t.Fatalf("dismissed=%v %q after %d inputs, want after 331", ok, reason, n)
		}
		if h.s.Stats().InputsStale == 0 {
			t.Fatal("no stale input counted")
		}
	})
}

// Lines that peers cause go through the budget: a thousand refused Hellos
// log the burst, the rest are counted and reported by one line a second.
func TestPeerLogBudget(t *testing.T) {
	h := newHarness(t, Config{PeerLogRate: 10})
	for i := range 1000 {
		f := h.connect()
		f.send(game.AppendHello(nil, game.Hello{Version: 2, Name: fmt.Sprint("x", i)}))
		f.finish()
	}
	if n := len(h.logs.lines("msg=reject")); n != 50 {
		t.Fatalf("%d reject lines, want the burst of 50", n)
	}
	if st := h.s.Stats(); st.Rejects != 1000 || st.LogsSuppressed != 950 {
		t.Fatalf("stats %+v", st)
	}
	h.s.reportSuppressed(h.clock.Now(), false)
	sum := h.logs.lines("msg=suppressed")
	if len(sum) != 1 || !strings.Contains(sum[0], "lines=950 total=950") {
		t.Fatalf("summary %q", sum)
	}
	// Not again within the second, nor without new suppressed lines.
	h.s.reportSuppressed(h.clock.Now(), false)
	h.advance(2 * time.Second)
	h.s.reportSuppressed(h.clock.Now(), false)
	if n := len(h.logs.lines("msg=suppressed")); n != 1 {
		t.Fatalf("%d summaries", n)
	}
	// The budget refills at 10 a second: 3 s after the burst, 30 lines.
	h.advance(time.Second)
	for range 40 {
		f := h.connect()
		f.send(game.AppendHello(nil, game.Hello{Version: 2, Name: "y"}))
		f.finish()
	}
	if n := len(h.logs.lines("msg=reject")); n != 50+30 {
		t.Fatalf("%d reject lines after the refill, want 80", n)
	}
}

// Per-address limits: connections beyond the limit from one address get a
// Reject saying why, and beyond twice the limit are closed at accept;
// players beyond the limit are refused at Hello; other addresses are not
// affected; exempt addresses are not limited; counts go back down.
func TestPerAddressLimits(t *testing.T) {
	h := newHarness(t, Config{MaxConnsPerAddr: 3, MaxPlayersPerAddr: 2, AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}})
	var open []*fakeTransport
	for range 3 {
		f, err := h.connectFrom("198.51.100.7")
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, f)
	}
	var refused []*fakeTransport
	for range 3 {
		f, err := h.connectFrom("198.51.100.7")
		if err != nil {
			t.Fatal(err)
		}
		if !rejected(t, f, "too many connections from your address") {
			t.Fatalf("4th+ connection: %#v closing=%v", f.messages(t), f.closing)
		}
		refused = append(refused, f)
	}
	if _, err := h.connectFrom("198.51.100.7"); !errors.Is(err, ErrTooManyFromAddr) {
		t.Fatalf("7th connection: %v", err)
	}
	// Another address, and an IPv6 /64 counted as one.
	if f, err := h.connectFrom("198.51.100.8"); err != nil || f.closing {
		t.Fatalf("another address: %v", err)
	}
	for i := range 3 {
		if _, err := h.connectFrom(fmt.Sprintf("2001:db8:1:2::%x", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if f, err := h.connectFrom("2001:db8:1:2:ffff::1"); err != nil || !rejected(t, f, "too many connections") {
		t.Fatalf("4th connection from the /64: %v", err)
	}
	// Exempt addresses are not limited.
	for range 10 {
		if f, err := h.connectFrom("10.9.1.1"); err != nil || f.closing {
			t.Fatalf("exempt address: %v", err)
		}
	}
	// Players: two of the three open connections join, the third is refused.
	for i, f := range open {
		m := hello(t, f, game.ProtocolVersion, fmt.Sprint("p", i))
		if i < 2 {
			if _, ok := m.(game.Welcome); !ok {
				t.Fatalf("player %d: %#v", i, m)
			}
			continue
		}
		if !rejected(t, f, "too many players from your address") {
			t.Fatalf("3rd player: %#v", f.messages(t))
		}
	}
	// Refused connections close; a player leaves; room again.
	for _, f := range append(refused, open[2]) {
		f.finish()
	}
	open[0].send(game.AppendGoodbye(nil, game.Goodbye{}))
	open[0].finish()
	f, err := h.connectFrom("198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := hello(t, f, game.ProtocolVersion, "again").(game.Welcome); !ok {
		t.Fatalf("after a player left: %#v", f.messages(t))
	}
	if n := len(h.logs.lines("msg=reject", "addr=198.51.100.7:", "too many")); n != 4 {
		t.Fatalf("%d reject lines:\n%s", n, h.logs)
	}
	// Everything released: the map forgets addresses that hold nothing.
	for c := range h.s.conns {
		c.t.(*fakeTransport).finish()
		if !c.t.(*fakeTransport).lost {
			_ = c.t.AbortConnection()
		}
	}
	if len(h.s.addrs) != 0 || len(h.s.names) != 0 {
		t.Fatalf("left behind: %d addresses, %d names", len(h.s.addrs), len(h.s.names))
	}
}

// Names: invisible, malformed or look-alike names and foreign versions get
// a Reject that says why; a name is free again once its player left.
func TestNamePolicy(t *testing.T) {
	h := newHarness(t, Config{})
	if _, ok := hello(t, h.connect(), game.ProtocolVersion, "bot03").(game.Welcome); !ok {
		t.Fatal("bot03 refused")
	}
	for _, tc := range []struct{ name, want string }{
		{"bot03", "name in use"},
		{"BOT03", "name in use"},
		{"Bot03", "name in use"},
		{"b\u043et03", "name in use"},                     // Cyrillic о
		{"b0t03", "name in use"},                          // zero for o
		{"\uff42\uff4f\uff54\uff10\uff13", "name in use"}, // fullwidth
		{"\u2800", "bad name"},                            // braille pattern blank
		{"bot03\u2800", "bad name"},                       // ... after a name
		{"\u3164", "bad name"},                            // hangul filler
		{"x\u3164x", "bad name"},                          // ... inside
		{"\u0301", "bad name"},                            // lone combining mark
		{"\u0301bot", "bad name"},                         // leading combining mark
		{"a\u200bb", "bad name"},                          // zero-width space
		{"", "bad name"},                                  // empty
		{" x", "bad name"},                                // leading space
		{"seventeen bytes!!", "bad name"},
		{"\u202eevil", "bad name"}, // bidi override
	} {
		f := h.connect()
		f.send(game.AppendHello(nil, game.Hello{Version: game.ProtocolVersion, Name: tc.name}))
		if !rejected(t, f, tc.want) {
			t.Errorf("name %q: %#v closing=%v lost=%v %v; want a Reject with %q", tc.name, f.messages(t), f.closing, f.lost, f.reason, tc.want)
		}
		f.finish()
	}
	for _, ok := range []string{"bot04", "Ölaf", "ツ", "mr. x", "o'neil", "Ω-7"} {
		if m := hello(t, h.connect(), game.ProtocolVersion, ok); m.Type() != game.MsgWelcome {
			t.Errorf("name %q refused: %#v", ok, m)
		}
	}
	// Versions: beyond uint16 too, and a malformed Hello.
	for _, tc := range []struct {
		payload []byte
		want    string
	}{
		{[]byte{byte(game.MsgHello), 0x80, 0x80, 0x04, 1, 'x'}, "protocol version 65536, server speaks 1"},
		{game.AppendHello(nil, game.Hello{Version: 7, Name: "x"}), "protocol version 7"},
		{[]byte{byte(game.MsgHello), 1, 9, 'x'}, "malformed hello"},
	} {
		f := h.connect()
		f.send(tc.payload)
		if !rejected(t, f, tc.want) {
			t.Errorf("hello % x: %#v lost=%v %v; want a Reject with %q", tc.payload, f.messages(t), f.lost, f.reason, tc.want)
		}
		f.finish()
	}
	// The first bot03 leaves: the name is free.
	first := h.s.playerByID(1)
	first.t.(*fakeTransport).send(game.AppendGoodbye(nil, game.Goodbye{}))
	first.t.(*fakeTransport).finish()
	if m := hello(t, h.connect(), game.ProtocolVersion, "BOT03"); m.Type() != game.MsgWelcome {
		t.Fatalf("BOT03 after bot03 left: %#v", m)
	}
}

// Every player is held to the bound on unsent data, bound to UDP or not:
// past the bound snapshots are skipped, past the timeout the player is
// dropped with reason=slow; a queue in the process four times the bound
// drops at once.
func TestSlowClientEveryPlayer(t *testing.T) {
	h := newHarness(t, Config{SlowClientQueue: 1000, SlowClientTimeout: time.Second})
	slow, _ := h.join("slow")
	udp, _ := h.join("udp")
	huge, _ := h.join("huge")
	good, _ := h.join("good")
	h.s.playerByID(2).udpAddr = netip.MustParseAddrPort("127.0.0.2:5000") // as after a UDPBind
	slow.queued, slow.kernel = 500, 501                                   // the kernel's part counts too
	udp.kernel = 1001
	tick := func() {
		h.advance(h.s.dt)
		h.s.nextTick = h.clock.Now()
		h.s.tick()
	}
	tick()
	if slow.lost || udp.lost || h.s.stats.SnapshotsSkipped != 2 || h.s.stats.SnapshotsTCP != 2 {
		t.Fatalf("after one tick: %+v", h.s.stats)
	}
	huge.queued = 4001
	tick()
	if !huge.lost || !errors.Is(huge.reason, ErrSlowClient) {
		t.Fatalf("a queue of 4001 bytes: lost=%v %v", huge.lost, huge.reason)
	}
	for i := 0; i < 40 && !(slow.lost && udp.lost); i++ {
		tick()
	}
	for _, f := range []*fakeTransport{slow, udp} {
		if !f.lost || !errors.Is(f.reason, ErrSlowClient) {
			t.Fatalf("not dropped: lost=%v %v", f.lost, f.reason)
		}
	}
	if good.lost || good.closing {
		t.Fatal("the reading player was dropped")
	}
	if n := len(h.logs.lines("msg=leave", "reason=slow", "level=WARN", "detail=")); n != 3 {
		t.Fatalf("%d slow leave lines:\n%s", n, h.logs)
	}
	if st := h.s.Stats(); st.SlowDrops != 3 || st.Players != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A player that catches up is no longer backed up.
	good.queued, good.kernel = 2000, 100000 // above the bound; the hard cap is on the process's part
	tick()
	if c := h.s.playerByID(4); c == nil || c.backedUp.IsZero() || good.lost {
		t.Fatal("not backed up, or dropped at once for the kernel's part")
	}
	good.queued, good.kernel = 0, 0
	tick()
	if c := h.s.playerByID(4); c == nil || !c.backedUp.IsZero() {
		t.Fatal("backed up after catching up")
	}
	cancelTimers(h.s)
}

// The server pings every player once a second over TCP; a player that
// has not answered a ping sent more than SlowClientTimeout + 1s ago does
// not read (whatever the kernel's buffers absorb) and is dropped with
// reason=slow. A Pong that answers no ping of the server is a protocol
// violation.
func TestServerPingsFindNonReaders(t *testing.T) {
	h := newHarness(t, Config{SlowClientTimeout: 2 * time.Second, IdleTimeout: time.Minute})
	reader, _ := h.join("reader")
	deaf, _ := h.join("deaf")
	answer := func(f *fakeTransport) int {
		n := 0
		for _, m := range f.messages(t) {
			if p, ok := m.(game.Ping); ok {
				f.send(game.AppendPong(nil, game.Pong(p)))
				n++
			}
		}
		f.out = f.out[:0]
		return n
	}
	pings := 0
	var dropped time.Duration
	for step := time.Duration(0); step < 5*time.Second && !reader.lost; step += 250 * time.Millisecond {
		h.advance(250 * time.Millisecond)
		h.s.sweep()
		pings += answer(reader)
		deaf.send(game.AppendPing(nil, game.Ping{T: 1})) // it sends, it does not read
		if deaf.lost && dropped == 0 {
			dropped = step + 250*time.Millisecond
		}
	}
	if reader.lost || reader.closing {
		t.Fatalf("the reader was dropped: %v", reader.reason)
	}
	if pings < 4 {
		t.Fatalf("the reader got %d pings in 5s", pings)
	}
	if !deaf.lost || !errors.Is(deaf.reason, ErrSlowClient) || dropped <= 3*time.Second || dropped > 3250*time.Millisecond {
		t.Fatalf("deaf: lost=%v %v after %v, want after 3s..3.25s", deaf.lost, deaf.reason, dropped)
	}
	if len(h.logs.lines("msg=leave", "name=deaf", "reason=slow", "no answer to the server's pings")) != 1 {
		t.Fatalf("no slow leave line:\n%s", h.logs)
	}
	// A Pong for no Ping, and a repeated one.
	for _, p := range []game.Pong{{T: 1 << 60}, {T: 0}} {
		f, _ := h.join(fmt.Sprintf("p%x", p.T>>56))
		f.send(game.AppendPong(nil, p))
		if reason, ok := dismissed(t, f); !ok || !strings.Contains(reason, "answers no Ping") {
			t.Fatalf("Pong %d: %q", p.T, reason)
		}
	}
	cancelTimers(h.s)
}
