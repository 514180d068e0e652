package gameserver

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTransport is a core.Transport that records what the server writes and
// how it closes, and calls ConnectionLost like core does: synchronously
// from AbortWithError, and when the test calls finish after LoseConnection.
type fakeTransport struct {
	p       core.Protocol
	remote  net.Addr
	discard bool // count bytes only (allocation tests)
	out     []byte
	written int
	queued  int
	kernel  int  // what the kernel holds, for Stats
	closing bool // LoseConnection called
	lost    bool
	reason  error
}

func (f *fakeTransport) Write(p []byte) (int, error) {
	if f.lost || f.closing {
		return 0, core.ErrClosed
	}
	f.written += len(p)
	if !f.discard {
		f.out = append(f.out, p...)
	}
	return len(p), nil
}
func (f *fakeTransport) Writev(bufs ...[]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		k, err := f.Write(b)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
func (f *fakeTransport) LoseConnection() error { f.closing = true; return nil }
func (f *fakeTransport) AbortConnection() error {
	return f.AbortWithError(core.ErrAborted)
}
func (f *fakeTransport) AbortWithError(reason error) error {
	if !f.lost {
		f.lost, f.reason = true, reason
		f.p.ConnectionLost(reason)
	}
	return nil
}

// finish completes a LoseConnection: the peer closed too.
func (f *fakeTransport) finish() {
	if !f.lost {
		f.lost, f.reason = true, core.ErrConnectionDone
		f.p.ConnectionLost(core.ErrConnectionDone)
	}
}
func (f *fakeTransport) PauseProducing()               {}
func (f *fakeTransport) ResumeProducing()              {}
func (f *fakeTransport) SetWriteBufferLimits(int, int) {}
func (f *fakeTransport) SetNoDelay(bool) error         { return nil }
func (f *fakeTransport) LocalAddr() net.Addr           { return f.remote }
func (f *fakeTransport) RemoteAddr() net.Addr          { return f.remote }
func (f *fakeTransport) ID() core.ConnID               { return 0 }
func (f *fakeTransport) Stats() core.ConnStats {
	return core.ConnStats{Queued: f.queued, KernelQueued: f.kernel}
}
func (f *fakeTransport) send(payload []byte)                  { f.p.DataReceived(framing.Append(nil, payload)) }
func (f *fakeTransport) sendRaw(b []byte)                     { f.p.DataReceived(b) }
func (f *fakeTransport) messages(t *testing.T) []game.Message { return decodeAll(t, f.out) }

func decodeAll(t *testing.T, stream []byte) []game.Message {
	t.Helper()
	var msgs []game.Message
	d := framing.NewDecoder(4096)
	if err := d.Feed(stream, func(p []byte) error {
		m, err := game.Decode(p)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		return nil
	}); err != nil {
		t.Fatalf("server wrote something undecodable: %v", err)
	}
	return msgs
}

// logBuf collects log lines; safe for concurrent use.
type logBuf struct{ testutil.LockedBuffer }

// lines returns the lines containing every one of substrs.
func (l *logBuf) lines(substrs ...string) []string { return l.Lines(substrs...) }

type harness struct {
	t     *testing.T
	clock *core.FakeClock
	r     *core.Reactor
	s     *Server
	logs  *logBuf
	n     int
}

// newHarness makes a server on a reactor that never runs, with a fake
// clock: the test drives it by calling its methods directly.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, clock: core.NewFakeClock(time.Unix(1000, 0)), logs: &logBuf{}}
	var err error
	h.r, err = core.New(core.WithClock(h.clock))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(h.logs, nil))
	cfg.StatsInterval = -1
	h.s, err = newServer(h.r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) advance(d time.Duration) {
	if err := h.clock.Advance(d); err != nil {
		h.t.Fatal(err)
	}
}

// connect accepts a connection from 127.0.0.<n>.
func (h *harness) connect() *fakeTransport {
	h.t.Helper()
	h.n++
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(h.n)), Port: 40000 + h.n}
	p, err := h.s.buildProtocol(remote)
	if err != nil {
		h.t.Fatal(err)
	}
	f := &fakeTransport{p: p, remote: remote}
	p.ConnectionMade(f)
	return f
}

// join connects and says hello; it returns the transport and the Welcome.
func (h *harness) join(name string) (*fakeTransport, game.Welcome) {
	h.t.Helper()
	f := h.connect()
	f.send(game.AppendHello(nil, game.Hello{Version: game.ProtocolVersion, Name: name}))
	msgs := f.messages(h.t)
	if len(msgs) == 0 {
		h.t.Fatalf("no answer to Hello (lost=%v %v)", f.lost, f.reason)
	}
	w, ok := msgs[0].(game.Welcome)
	if !ok {
		h.t.Fatalf("answer to Hello: %#v", msgs[0])
	}
	f.out = f.out[:0]
	return f, w
}

// dismissed reports whether the server dismissed the client: a Reject
// "kicked: ..." as its last message and a graceful close.
func dismissed(t *testing.T, f *fakeTransport) (string, bool) {
	t.Helper()
	msgs := f.messages(t)
	if len(msgs) == 0 || !f.closing || f.lost {
		return "", false
	}
	r, ok := msgs[len(msgs)-1].(game.Reject)
	if !ok || !strings.HasPrefix(r.Reason, "kicked: ") {
		return "", false
	}
	return r.Reason, true
}

func TestHandshake(t *testing.T) {
	h := newHarness(t, Config{MaxPlayers: 2})
	a, wa := h.join("alice")
	if wa.PlayerID != 1 || wa.TickRate != game.DefaultTickRate || wa.Token == ([16]byte{}) {
		t.Fatalf("welcome %+v", wa)
	}
	// The second player gets Welcome then everybody's PlayerInfo; the first
	// hears of the second.
	b := h.connect()
	b.send(game.AppendHello(nil, game.Hello{Version: game.ProtocolVersion, Name: "bob"}))
	msgs := b.messages(t)
	want := []game.Message{nil, game.PlayerInfo{ID: 1, Name: "alice"}, game.PlayerInfo{ID: 2, Name: "bob"}}
	if len(msgs) != 3 {
		t.Fatalf("bob got %#v", msgs)
	}
	wb := msgs[0].(game.Welcome)
	if wb.PlayerID != 2 || wb.Token == wa.Token {
		t.Fatalf("bob's welcome %+v (alice's token %x)", wb, wa.Token)
	}
	for i := 1; i < 3; i++ {
		if msgs[i] != want[i] {
			t.Fatalf("bob's message %d: %#v, want %#v", i, msgs[i], want[i])
		}
	}
	if got := a.messages(t); len(got) != 1 || got[0] != (game.PlayerInfo{ID: 2, Name: "bob"}) {
		t.Fatalf("alice got %#v", got)
	}
	if len(h.logs.lines("msg=join", "player=2", "name=bob", "addr=127.0.0.2:")) != 1 {
		t.Fatalf("no join line for bob:\n%s", h.logs)
	}

	// Full: Reject, then a clean close.
	c := h.connect()
	c.send(game.AppendHello(nil, game.Hello{Version: game.ProtocolVersion, Name: "carol"}))
	if got := c.messages(t); len(got) != 1 || got[0] != (game.Reject{Reason: "server full"}) || !c.closing {
		t.Fatalf("third player: %#v closing=%v", got, c.closing)
	}
	c.finish()

	// Wrong version: Reject.
	d := h.connect()
	d.send(game.AppendHello(nil, game.Hello{Version: game.ProtocolVersion + 1, Name: "dave"}))
	if got := d.messages(t); len(got) != 1 || !strings.Contains(got[0].(game.Reject).Reason, "version") || !d.closing {
		t.Fatalf("wrong version: %#v", got)
	}
	d.finish()
	if n := len(h.logs.lines("msg=reject")); n != 2 {
		t.Fatalf("%d reject lines:\n%s", n, h.logs)
	}

	// Goodbye: leaves at once, logged as quit, the others are told.
	a.out = a.out[:0]
	b.send(game.AppendGoodbye(nil, game.Goodbye{}))
	if !b.closing || h.s.world.Len() != 1 {
		t.Fatalf("after goodbye: closing=%v players=%d", b.closing, h.s.world.Len())
	}
	b.finish()
	if got := a.messages(t); len(got) != 1 || got[0] != (game.PlayerLeft{ID: 2}) {
		t.Fatalf("alice got %#v", got)
	}
	if len(h.logs.lines("msg=leave", "player=2", "reason=quit")) != 1 {
		t.Fatalf("no quit line:\n%s", h.logs)
	}
	if st := h.s.Stats(); st.Conns != 1 || st.Players != 1 || st.Joins != 2 || st.Leaves != 1 || st.Rejects != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// Every kind of bad input disconnects that client with a logged reason
// matching core.ErrBadInput; the player who behaves is unaffected.
func TestBadInputDisconnects(t *testing.T) {
	h := newHarness(t, Config{})
	good, _ := h.join("good")
	cases := []struct {
		name   string
		joined bool
		data   []byte
		want   error
	}{
		{"input before hello", false, framing.Append(nil, game.AppendInput(nil, game.Input{PlayerID: 1, Seq: 1})), ErrProtocol},
		{"unknown type", false, framing.Append(nil, []byte{200, 1, 2}), game.ErrUnknownType},
		{"empty payload", false, framing.Append(nil, nil), game.ErrMalformed},
		{"oversized frame", false, framing.Append(nil, make([]byte, DefaultMaxMessage+1)), framing.ErrTooLarge},
		{"huge length prefix", false, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, framing.ErrTooLarge},
		{"malformed prefix", false, bytes.Repeat([]byte{0xff}, 11), core.ErrBadInput},
		{"second hello", true, framing.Append(nil, game.AppendHello(nil, game.Hello{Version: 1, Name: "again"})), ErrProtocol},
		{"server message", true, framing.Append(nil, game.AppendShutdown(nil, game.Shutdown{})), ErrProtocol},
		{"udp bind over tcp", true, framing.Append(nil, game.AppendUDPBind(nil, game.UDPBind{PlayerID: 1})), ErrProtocol},
		{"trailing bytes", true, framing.Append(nil, append(game.AppendPing(nil, game.Ping{T: 1}), 0)), game.ErrTrailingBytes},
		{"undefined buttons", true, nil, game.ErrBadValue},
		{"foreign player id", true, nil, game.ErrWrongPlayer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f *fakeTransport
			var id uint16
			if tc.joined {
				var w game.Welcome
				f, w = h.join("p" + fmt.Sprint(h.n))
				id = w.PlayerID
			} else {
				f = h.connect()
			}
			data := tc.data
			if tc.name == "foreign player id" {
				data = framing.Append(nil, game.AppendInput(nil, game.Input{PlayerID: 1, Seq: 1}))
			} else if tc.name == "undefined buttons" {
				data = framing.Append(nil, game.AppendInput(nil, game.Input{PlayerID: id, Seq: 1, Buttons: 0x40}))
			}
			f.sendRaw(data)
			if tc.joined {
				reason, ok := dismissed(t, f)
				want := strings.TrimPrefix(tc.want.Error(), core.ErrBadInput.Error()+": ")
				if !ok || !strings.Contains(reason, want) {
					t.Fatalf("not dismissed with %q: reject %q, closing=%v lost=%v", want, reason, f.closing, f.lost)
				}
				if _, in := h.s.world.Player(id); in {
					t.Fatal("a dismissed player is still in the world")
				}
				f.finish()
			} else if !f.lost || !errors.Is(f.reason, tc.want) || !errors.Is(f.reason, core.ErrBadInput) {
				t.Fatalf("lost=%v reason=%v, want %v and ErrBadInput", f.lost, f.reason, tc.want)
			}
			var lines []string
			if tc.joined {
				lines = h.logs.lines("msg=leave", fmt.Sprintf("player=%d ", id), "reason=error", "detail=")
			} else {
				lines = h.logs.lines("msg=drop", fmt.Sprintf("addr=127.0.0.%d:", h.n), "reason=error", "detail=")
			}
			if len(lines) != 1 {
				t.Fatalf("log lines %q in:\n%s", lines, h.logs)
			}
		})
	}
	if good.lost || h.s.world.Len() != 1 {
		t.Fatalf("the good player was affected: lost=%v players=%d", good.lost, h.s.world.Len())
	}
	if _, ok := h.s.world.Player(1); !ok {
		t.Fatal("the good player is gone from the world")
	}
}

func TestTimeouts(t *testing.T) {
	h := newHarness(t, Config{HandshakeTimeout: time.Second, IdleTimeout: 2 * time.Second})
	silent := h.connect()
	partial := h.connect()
	partial.sendRaw([]byte{10, byte(game.MsgHello), 1}) // a frame that never completes
	idle, _ := h.join("idle")
	pinger, wp := h.join("pinger")
	step := func(d time.Duration) {
		h.advance(d)
		h.s.sweep()
		if !pinger.lost {
			pinger.send(game.AppendPing(nil, game.Ping{T: 1}))
		}
	}
	step(900 * time.Millisecond)
	if silent.lost || partial.lost {
		t.Fatal("dropped before the handshake deadline")
	}
	step(100 * time.Millisecond)
	for _, f := range []*fakeTransport{silent, partial} {
		if !f.lost || !errors.Is(f.reason, ErrHandshakeTimeout) || !errors.Is(f.reason, core.ErrTimeout) {
			t.Fatalf("not dropped at the handshake deadline: %v %v", f.lost, f.reason)
		}
	}
	if n := len(h.logs.lines("msg=drop", "reason=timeout")); n != 2 {
		t.Fatalf("%d drop lines:\n%s", n, h.logs)
	}
	step(time.Second)
	if reason, ok := dismissed(t, idle); !ok || !strings.Contains(reason, "idle") {
		t.Fatalf("idle player not dismissed: %q", reason)
	}
	idle.finish()
	if len(h.logs.lines("msg=leave", "name=idle", "reason=timeout", "detail=")) != 1 {
		t.Fatalf("no timeout line:\n%s", h.logs)
	}
	for range 5 {
		step(500 * time.Millisecond)
	}
	if pinger.lost {
		t.Fatalf("a player that pings was dropped: %v", pinger.reason)
	}
	if got := pinger.messages(t); len(got) == 0 || got[len(got)-1] != (game.Pong{T: 1}) {
		t.Fatalf("pinger got %#v", got)
	}
	_ = wp
}

// The rate-limit policy: at the tick rate nothing is dropped; a little
// above, the excess is dropped but the client stays; a client whose inputs
// claim to be a second ahead of the clock is disconnected.
func TestInputRatePolicy(t *testing.T) {
	const tick = 30
	for _, tc := range []struct {
		name     string
		perSec   float64
		seconds  int
		dropped  bool
		kicked   bool
		withTick bool
	}{
		{"at the tick rate", tick, 3, false, false, true},
		{"10% fast, allowed", tick * 1.08, 3, false, false, true},
		{"50% fast: excess dropped", tick * 1.5, 2, true, false, true},
		{"50% fast: a second ahead after 2.5s", tick * 1.5, 3, true, true, true},
		{"2.5 times: kicked", tick * 2.5, 3, true, true, true},
		{"burst flood: kicked", 100000, 1, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{TickRate: tick})
			f, w := h.join("p")
			interval := time.Duration(float64(time.Second) / tc.perSec)
			var seq uint32
			next := h.clock.Now().Add(h.s.dt)
			for end := h.clock.Now().Add(time.Duration(tc.seconds) * time.Second); h.clock.Now().Before(end) && !f.closing; {
				seq++
				f.send(game.AppendInput(nil, game.Input{PlayerID: w.PlayerID, Seq: seq, Buttons: game.ButtonRight}))
				h.advance(interval)
				for tc.withTick && !h.clock.Now().Before(next) {
					h.s.world.Tick()
					next = next.Add(h.s.dt)
				}
			}
			st := h.s.Stats()
			if (st.InputsDropped > 0) != tc.dropped {
				t.Errorf("%d inputs dropped of %d", st.InputsDropped, seq)
			}
			reason, kicked := dismissed(t, f)
			if kicked != tc.kicked {
				t.Fatalf("kicked=%v (%q), want %v", kicked, reason, tc.kicked)
			}
			if tc.kicked {
				if !strings.Contains(reason, "flood") || len(h.logs.lines("msg=leave", "reason=error", "flood")) != 1 {
					t.Fatalf("reason %q, log:\n%s", reason, h.logs)
				}
			}
		})
	}
}

func TestPingFlood(t *testing.T) {
	h := newHarness(t, Config{})
	f, _ := h.join("p")
	for i := 0; i < 20 && !f.closing; i++ {
		f.send(game.AppendPing(nil, game.Ping{T: int64(i)}))
	}
	if reason, ok := dismissed(t, f); !ok || !strings.Contains(reason, "flood") {
		t.Fatalf("ping flood: %q", reason)
	}
}

func TestTooManyConnections(t *testing.T) {
	h := newHarness(t, Config{MaxConns: 2})
	h.connect()
	h.connect()
	if _, err := h.s.buildProtocol(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1}); !errors.Is(err, ErrTooManyConns) {
		t.Fatalf("third connection: %v", err)
	}
	if len(h.logs.lines("msg=drop", "too many connections")) != 1 {
		t.Fatalf("log:\n%s", h.logs)
	}
}

// A client whose TCP queue stays backed up gets no snapshots, then is
// dropped.
func TestSlowClient(t *testing.T) {
	h := newHarness(t, Config{SlowClientTimeout: time.Second})
	f, _ := h.join("slow")
	f.queued = DefaultSlowClientQueue + 1
	for i := 0; i < 40 && !f.lost; i++ {
		h.advance(h.s.dt)
		h.s.tick()
	}
	if !f.lost || !errors.Is(f.reason, ErrSlowClient) {
		t.Fatalf("slow client: lost=%v %v", f.lost, f.reason)
	}
	if h.s.stats.SnapshotsTCP != 0 || h.s.stats.SnapshotsSkipped == 0 {
		t.Fatalf("stats %+v", h.s.stats)
	}
	cancelTimers(h.s)
}

func cancelTimers(s *Server) {
	for _, t := range []*core.DelayedCall{s.tickTimer, s.sweepTimer, s.statsTimer} {
		if t != nil {
			_ = t.Cancel()
		}
	}
}

// Catching up: a tick callback that runs late runs the missed ticks (at
// most maxCatchUp) and sends one snapshot; further behind, the backlog is
// dropped.
func TestTickCatchUp(t *testing.T) {
	h := newHarness(t, Config{TickRate: 10})
	f, _ := h.join("p")
	h.s.start()
	h.advance(250 * time.Millisecond) // ticks due at 100 and 200 ms
	h.s.tick()
	if got := h.s.world.CurrentTick(); got != 2 {
		t.Fatalf("tick %d after 250ms, want 2", got)
	}
	msgs := f.messages(t)
	if len(msgs) != 1 || msgs[0].(game.Snapshot).Tick != 2 {
		t.Fatalf("snapshots %#v", msgs)
	}
	h.advance(time.Second) // 10 more due; at most 3 run
	h.s.tick()
	if got := h.s.world.CurrentTick(); got != 5 || h.s.stats.TicksSkipped != 7 {
		t.Fatalf("tick %d, skipped %d", got, h.s.stats.TicksSkipped)
	}
	if !h.s.nextTick.After(h.clock.Now()) {
		t.Fatal("next tick not in the future")
	}
	cancelTimers(h.s)
}

// UDP bind rules: the server sends UDP only to an address that presented
// the player's token from the player's IP; everything else is ignored and
// never answered.
func TestUDPBindRules(t *testing.T) {
	h := newHarness(t, Config{})
	var err error
	h.s.udp, err = h.r.ListenUDP("127.0.0.1:0", udpProtocol{h.s})
	if err != nil {
		t.Fatal(err)
	}
	defer h.s.udp.Close()
	// The client's UDP socket; the harness's first connection comes from
	// 127.0.0.1.
	sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	from := sock.LocalAddr().(*net.UDPAddr).AddrPort()
	f, w := h.join("p")
	bind := func(b game.UDPBind, from netip.AddrPort) {
		udpProtocol{h.s}.DatagramReceived(framing.Append(nil, game.AppendUDPBind(nil, b)), from)
	}
	tickAndCount := func() (tcp, udp int) {
		f.out = f.out[:0]
		before := h.s.udp.Stats().DatagramsOut
		h.advance(h.s.dt)
		h.s.nextTick = h.clock.Now()
		h.s.tick()
		return len(f.messages(t)), int(h.s.udp.Stats().DatagramsOut - before)
	}
	if tcp, udp := tickAndCount(); tcp != 1 || udp != 0 {
		t.Fatalf("unbound: %d TCP, %d UDP snapshots", tcp, udp)
	}
	wrongToken := w.Token
	wrongToken[0] ^= 1
	other := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), from.Port())
	for _, bad := range []struct {
		b    game.UDPBind
		from netip.AddrPort
	}{
		{game.UDPBind{PlayerID: w.PlayerID, Token: wrongToken}, from},
		{game.UDPBind{PlayerID: w.PlayerID + 1, Token: w.Token}, from},
		{game.UDPBind{PlayerID: w.PlayerID, Token: w.Token}, other}, // right token, another IP
	} {
		bind(bad.b, bad.from)
		if tcp, udp := tickAndCount(); tcp != 1 || udp != 0 {
			t.Fatalf("after bad bind %+v from %v: %d TCP, %d UDP snapshots", bad.b, bad.from, tcp, udp)
		}
	}
	// Garbage: not framed, another type, truncated.
	for _, g := range [][]byte{{1, 2, 3}, framing.Append(nil, game.AppendPing(nil, game.Ping{})), {}} {
		udpProtocol{h.s}.DatagramReceived(g, from)
	}
	if h.s.stats.UDPRejected != 6 || h.s.stats.UDPBinds != 0 {
		t.Fatalf("stats %+v", h.s.stats)
	}
	bind(game.UDPBind{PlayerID: w.PlayerID, Token: w.Token}, from)
	if tcp, udp := tickAndCount(); tcp != 0 || udp != 1 {
		t.Fatalf("bound: %d TCP, %d UDP snapshots", tcp, udp)
	}
	buf := make([]byte, 2048)
	_ = sock.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := sock.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	msgs := decodeAll(t, buf[:n])
	if len(msgs) != 1 || msgs[0].Type() != game.MsgSnapshot {
		t.Fatalf("datagram %#v", msgs)
	}
	// Leaving unbinds.
	f.send(game.AppendGoodbye(nil, game.Goodbye{}))
	before := h.s.udp.Stats().DatagramsOut
	h.s.nextTick = h.clock.Now()
	h.s.tick()
	if h.s.udp.Stats().DatagramsOut != before {
		t.Fatal("UDP sent after the player left")
	}
	cancelTimers(h.s)
}

// With more players than fit in one snapshot, each client gets several
// snapshots of the same tick that together hold everybody.
func TestSnapshotSplit(t *testing.T) {
	h := newHarness(t, Config{MaxPlayers: 300})
	var fs []*fakeTransport
	for i := range 300 {
		f, _ := h.join(fmt.Sprintf("p%d", i))
		fs = append(fs, f)
	}
	f := fs[0]
	f.out = f.out[:0]
	h.s.nextTick = h.clock.Now()
	h.s.tick()
	d := framing.NewDecoder(4096)
	seen := map[uint16]bool{}
	parts := 0
	err := d.Feed(f.out, func(p []byte) error {
		if len(p) > game.MaxSnapshotBytes {
			return fmt.Errorf("snapshot of %d bytes", len(p))
		}
		s, err := game.DecodeSnapshot(p, nil)
		if err != nil {
			return err
		}
		parts++
		for _, pl := range s.Players {
			seen[pl.ID] = true
		}
		return nil
	})
	if err != nil || parts < 2 || len(seen) != 300 {
		t.Fatalf("err %v, %d parts, %d players", err, parts, len(seen))
	}
	cancelTimers(h.s)
}

// The hot paths allocate nothing in steady state: a tick with its
// snapshots to every client, and an input message.
func TestSteadyStateAllocations(t *testing.T) {
	h := newHarness(t, Config{MaxPlayers: 200, InputRate: 1e9, InputBurst: 1 << 20, FloodTolerance: 1 << 30})
	var fs []*fakeTransport
	for i := range 200 {
		f, _ := h.join(fmt.Sprintf("p%d", i))
		f.discard = true
		fs = append(fs, f)
	}
	h.s.nextTick = h.clock.Now()
	h.s.tick() // warm the buffers
	if n := testing.AllocsPerRun(50, func() {
		h.s.world.Tick()
		h.s.sendSnapshots(h.clock.Now())
	}); n != 0 {
		t.Errorf("%v allocations per tick with 200 clients", n)
	}
	f := fs[0]
	seq := uint32(0)
	payload := make([]byte, 0, 16)
	frame := make([]byte, 0, 16)
	if n := testing.AllocsPerRun(1000, func() {
		seq++
		payload = game.AppendInput(payload[:0], game.Input{PlayerID: 1, Seq: seq, Buttons: game.ButtonLeft})
		frame = framing.Append(frame[:0], payload)
		f.sendRaw(frame)
		h.s.world.Tick()
	}); n != 0 {
		t.Errorf("%v allocations per input", n)
	}
	if f.lost || f.closing {
		t.Fatalf("dropped: %v %q", f.reason, f.messages(t))
	}
	cancelTimers(h.s)
}

// BenchmarkTick measures one server tick (simulation and snapshots) with
// 200 clients on transports that discard what they are sent.
func BenchmarkTick(b *testing.B) {
	t := &testing.T{}
	h := newHarness(t, Config{MaxPlayers: 200})
	h.t = t
	for i := range 200 {
		f, _ := h.join(fmt.Sprintf("p%d", i))
		f.discard = true
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.s.world.Tick()
		h.s.sendSnapshots(h.clock.Now())
	}
}

// BenchmarkInput measures the handling of one Input message, from the
// framed bytes to the world's queue.
func BenchmarkInput(b *testing.B) {
	t := &testing.T{}
	h := newHarness(t, Config{InputRate: 1e12, InputBurst: 1 << 30, FloodTolerance: 1 << 30})
	h.t = t
	f, w := h.join("p")
	frame := make([]byte, 0, 16)
	payload := make([]byte, 0, 16)
	seq := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		payload = game.AppendInput(payload[:0], game.Input{PlayerID: w.PlayerID, Seq: seq, Buttons: game.ButtonUp})
		frame = framing.Append(frame[:0], payload)
		f.sendRaw(frame)
		if seq%game.MaxQueuedInputs == 0 {
			h.s.world.Tick()
		}
	}
	if f.lost || f.closing {
		b.Fatal("the client was dropped")
	}
}
