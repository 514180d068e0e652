package replay_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/netsim"
	"github.com/threadedselect/reactor/core/replay"
	"github.com/threadedselect/reactor/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startDrained starts a reactor on clk (nil: the system clock) drained by
// the test's goroutine; the cleanup stops it and drains it to the end.
func startDrained(t testing.TB, clk core.Clock) *core.Reactor {
	t.Helper()
	logs := &testutil.LockedBuffer{}
	r, err := core.New(core.WithClock(clk), core.WithThreadCheck(true), core.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if off := logs.Lines("called off the main thread"); len(off) > 0 {
			t.Errorf("threading rule broken: %q", off)
		}
	})

	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Stop()
		deadline := time.Now().Add(10 * time.Second)
		for !r.Drain(time.Millisecond).Finished {
			if time.Now().After(deadline) {
				t.Fatal("the reactor did not shut down")
			}
		}
	})
	return r
}

// session is one recorded run of the pinger: the file, and what the game
// observed and hashed frame by frame.
type session struct {
	file   []byte
	hashes []uint64
	log    []string
}

const byeFrame = 120

// record plays the pinger against a real server on loopback for a few
// hundred frames of a fake clock (16 ms each), through sim if not nil, and
// records it: the frame's input is random; at byeFrame a recordable "bye"
// is called from outside the game's callbacks, as a shutdown trigger
// would be; the session ends when the server closes the connection.
func record(t *testing.T, srv *server, settings *netsim.Settings) session {
	t.Helper()
	clk := core.NewFakeClock(time.Unix(1_700_000_000, 0))
	r := startDrained(t, clk)
	var inner netio.Net = netio.Reactor(r)
	if settings != nil {
		inner = netsim.New(inner, *settings, 9)
	}
	var file bytes.Buffer
	meta := map[string]string{"game": "pinger", "udp": srv.udp.LocalAddr().String()}
	rec, err := replay.NewRecorder(&file, inner, replay.Options{Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	g := &pinger{net: rec, addr: srv.addr, srvUDP: srv.udp.LocalAddr()}
	bye := rec.Recordable("bye", g.bye)
	if err := g.start(); err != nil {
		t.Fatal(err)
	}
	var s session
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)) // a different run every time
	// Frames are paced by a real ticker, as a game loop is, so that the
	// server's answers (real sockets) come in between them; the game's
	// clock is the fake one, 16 ms a frame.
	pace := time.NewTicker(2 * time.Millisecond)
	defer pace.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for frame := 0; !g.done; frame++ {
		<-pace.C
		if time.Now().After(deadline) {
			t.Fatalf("the session did not end (frame %d, log tail %q)", frame, g.log[max(0, len(g.log)-5):])
		}
		_ = clk.Advance(16 * time.Millisecond)
		r.Drain(time.Millisecond)
		if frame == byeFrame {
			bye()
		}
		rec.BeginFrame()
		g.frame(rec.Input(rng.Uint64N(1000)))
		h := g.hash()
		s.hashes = append(s.hashes, h)
		rec.EndFrame(h)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if g.msgs < 10 || g.dgram < 3 {
		t.Fatalf("a thin session: %d messages, %d datagrams: %q", g.msgs, g.dgram, g.log)
	}
	s.file, s.log = file.Bytes(), g.log
	return s
}

// play replays a recording to a fresh pinger with no server, and returns
// what it observed and hashed.
func play(t *testing.T, file []byte, opts replay.PlayerOptions, tweak func(*pinger)) (session, *replay.Player) {
	t.Helper()
	p, err := replay.NewPlayer(bytes.NewReader(file), opts)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Meta("game"); v != "pinger" {
		t.Fatalf("meta game=%q", v)
	}
	r := startDrained(t, p.Clock())
	p.Attach(r)
	// The server's address does not matter (nothing is sent anywhere),
	// but the datagrams' destination is compared.
	udp, _ := p.Meta("udp")
	g := &pinger{net: p, addr: "127.0.0.1:1", srvUDP: netip.MustParseAddrPort(udp)}
	if tweak != nil {
		tweak(g)
	}
	_ = p.Recordable("bye", g.bye)
	if err := g.start(); err != nil {
		t.Fatal(err)
	}
	var s session
	for frame := 0; !p.Done(); frame++ {
		if frame > 100000 {
			t.Fatal("the replay does not end")
		}
		r.Drain(0)
		p.BeginFrame()
		g.frame(p.Input(0))
		h := g.hash()
		if p.EndFrame(h) {
			s.hashes = append(s.hashes, h)
		}
	}
	s.log = g.log
	return s, p
}

// A session recorded over real sockets replays with none: the game
// observes the same events at the same times, frame by frame, and its state
// hash is the same at every frame; the file checks out whole.
func TestRecordAndReplay(t *testing.T) {
	srv := startServer(t)
	bad, _ := netsim.Preset("badwifi")
	for _, tc := range []struct {
		name string
		sim  *netsim.Settings
	}{{"direct", nil}, {"through bad Wi-Fi", &bad}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := record(t, srv, tc.sim)
			info, err := replay.Scan(bytes.NewReader(rec.file))
			if err != nil {
				t.Fatal(err)
			}
			if info.Frames != uint64(len(rec.hashes)) || info.Bytes != int64(len(rec.file)) || info.Meta["game"] != "pinger" {
				t.Fatalf("Scan: %+v; recorded %d frames, %d bytes", info, len(rec.hashes), len(rec.file))
			}
			t.Logf("%d frames, %v, %d records, %d bytes: %v", info.Frames, info.Duration, info.Records, info.Bytes, info.Counts)

			got, p := play(t, rec.file, replay.PlayerOptions{}, nil)
			if err := p.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.log, rec.log) {
				i := 0
				for i < min(len(got.log), len(rec.log)) && got.log[i] == rec.log[i] {
					i++
				}
				t.Fatalf("the replay observed other events from event %d: recorded %q, replayed %q", i, rec.log[i:min(i+3, len(rec.log))], got.log[i:min(i+3, len(got.log))])
			}
			if !slices.Equal(got.hashes, rec.hashes) {
				t.Fatalf("state hashes differ: %d recorded frames, %d replayed", len(rec.hashes), len(got.hashes))
			}
			if p.Frames() != uint64(len(rec.hashes)) {
				t.Fatalf("the player counted %d frames, %d recorded", p.Frames(), len(rec.hashes))
			}
		})
	}
}

// A game that behaves differently in the replay is caught at the first
// difference, with what was recorded and what it did instead.
func TestDivergence(t *testing.T) {
	srv := startServer(t)
	rec := record(t, srv, nil)

	// It writes other bytes.
	_, p := play(t, rec.file, replay.PlayerOptions{}, func(g *pinger) { g.addr = "x" })
	if err := p.Err(); err != nil {
		t.Fatalf("the address dialed is not compared, but: %v", err)
	}
	_, p = play(t, rec.file, replay.PlayerOptions{}, func(g *pinger) { g.out = append(g.out[:0], 'x') })
	if err := p.Err(); err != nil {
		t.Fatalf("a buffer's spare capacity is no difference, but: %v", err)
	}
	bad := func(g *pinger) { g.ticks = 1000 } // its tick messages say another number
	_, p = play(t, rec.file, replay.PlayerOptions{}, bad)
	var de *replay.DivergenceError
	if err := p.Err(); !errors.As(err, &de) || !errors.Is(err, replay.ErrDiverged) {
		t.Fatalf("Err() = %v, want a divergence", err)
	}
	if !strings.Contains(de.Want, "a write of") || !strings.Contains(de.Got, "1001") {
		t.Fatalf("divergence %v", de)
	}
	t.Log(de)

	// With the writes ignored, the same game gets as far as the first
	// frame whose state differs.
	_, p = play(t, rec.file, replay.PlayerOptions{IgnoreWrites: true}, bad)
	if err := p.Err(); !errors.As(err, &de) || !strings.Contains(de.Want, "state hash") {
		t.Fatalf("Err() = %v, want a state hash difference", err)
	}
	t.Log(de)
}

// Files that are not recordings, of another version, damaged or cut short
// are refused with an error that says which, and where.
func TestBadFiles(t *testing.T) {
	srv := startServer(t)
	rec := record(t, srv, nil)
	good := rec.file

	check := func(name string, file []byte, want error) {
		t.Helper()
		_, scanErr := replay.Scan(bytes.NewReader(file))
		if !errors.Is(scanErr, want) {
			t.Errorf("%s: Scan: %v, want %v", name, scanErr, want)
			return
		}
		t.Logf("%s: %v", name, scanErr)
		// Replaying it fails the same way: at once, or once the replay
		// reaches the damage.
		if _, err := replay.NewPlayer(bytes.NewReader(file), replay.PlayerOptions{}); err != nil {
			if !errors.Is(err, want) {
				t.Errorf("%s: NewPlayer: %v, want %v", name, err, want)
			}
			return
		}
		_, p := play(t, file, replay.PlayerOptions{}, nil)
		if err := p.Err(); !errors.Is(err, want) {
			t.Errorf("%s: the replay ended with %v, want %v", name, err, want)
		}
	}
	check("empty", nil, replay.ErrNotReplay)
	check("text", []byte("hello, this is not a recording\n"), replay.ErrNotReplay)
	check("png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), replay.ErrNotReplay)
	for _, v := range []byte{1, 3} { // 1: before budget stops carried their pass count
		other := slices.Clone(good)
		other[8] = v
		check(fmt.Sprintf("version %d", v), other, replay.ErrVersion)
	}
	check("magic only", good[:5], replay.ErrTruncated)
	check("cut in the last block", good[:len(good)-3], replay.ErrTruncated)
	check("cut in the header", good[:12], replay.ErrTruncated)
	for _, at := range []int{len(good) / 3, len(good) / 2, len(good) - 10} {
		bad := slices.Clone(good)
		bad[at] ^= 0x20
		check("a byte flipped", bad, replay.ErrCorrupt)
	}
	// Bytes after the end record: Scan tells; a replay stops at the end
	// record and does not read them.
	if _, err := replay.Scan(bytes.NewReader(append(slices.Clone(good), 0x42))); !errors.Is(err, replay.ErrCorrupt) {
		t.Errorf("trailing garbage: Scan: %v", err)
	}
}
