package netclient_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/replay"
	"github.com/threadedselect/reactor/examples/multiplayer/bots/swarm"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
	"github.com/threadedselect/reactor/internal/testutil"
)

// drainedReactor starts a reactor on clk (nil: the system clock) that the
// test's goroutine drains, frame by frame; the cleanup shuts it down.
func drainedReactor(t testing.TB, clk core.Clock) *core.Reactor {
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
				t.Error("the client's reactor did not shut down")
				return
			}
		}
	})
	return r
}

// buttonsAt is a scripted player: it changes direction every half second.
func buttonsAt(frame int) uint8 {
	dirs := []uint8{game.ButtonRight, game.ButtonDown | game.ButtonRight, game.ButtonDown, game.ButtonLeft, 0,
		game.ButtonUp | game.ButtonLeft, game.ButtonUp}
	return dirs[(frame/30)%len(dirs)]
}

// clientRun is what a recorded or replayed client showed: its state hash
// at the end of every frame, and its final state.
type clientRun struct {
	hashes []uint64
	final  netclient.State
	drain  time.Duration // time in Drain, all frames
}

// Ten seconds of a client playing with four bots (snapshots over UDP) are
// recorded, at 60 frames a second, on a real server; then the recording is
// replayed with no server, no sockets and a fake clock: the replayed
// session shows the game the same state at the end of every one of the
// frames (state hashes equal at every frame, and the Player checks every
// write the session makes against the recorded ones), and ends the same
// way.
func TestRecordTenSecondsAndReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("ten seconds of play")
	}
	srv := newEnv(t, gameserver.Config{})
	bots := newBotEnv(t)
	var sw *swarm.Swarm
	bots.do(func() {
		var err error
		sw, err = swarm.Start(bots.r, swarm.Config{Addr: srv.srv.Addr().String(), N: 4, UDP: true, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		var bye <-chan struct{}
		bots.do(func() { bye = sw.Goodbye() })
		<-bye
	})

	path := filepath.Join(t.TempDir(), "session.rec")
	rec := recordClient(t, srv.srv.Addr().String(), path, 10*time.Second)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := replay.Scan(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	perMin := float64(info.Bytes) / info.Duration.Minutes()
	t.Logf("recorded %d frames over %v: %d records, %d bytes (%.0f kB per minute of play); by kind %v",
		info.Frames, info.Duration.Round(time.Millisecond), info.Records, info.Bytes, perMin/1000, info.Counts)
	t.Logf("recording: %.1f µs in Drain per frame on average", float64(rec.drain.Microseconds())/float64(len(rec.hashes)))
	if rec.final.Status != netclient.StatusDisconnected || rec.final.Cause != netclient.CauseQuit || rec.final.Snapshots < 200 {
		t.Fatalf("the recorded session ended %v/%v after %d snapshots", rec.final.Status, rec.final.Cause, rec.final.Snapshots)
	}

	got, p := replayClient(t, file, replay.PlayerOptions{})
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got.hashes) != len(rec.hashes) {
		t.Fatalf("%d frames replayed, %d recorded", len(got.hashes), len(rec.hashes))
	}
	for i := range rec.hashes {
		if got.hashes[i] != rec.hashes[i] {
			t.Fatalf("frame %d: state hash %016x replayed, %016x recorded", i+1, got.hashes[i], rec.hashes[i])
		}
	}
	if got.final.Status != rec.final.Status || got.final.Cause != rec.final.Cause || got.final.Snapshots != rec.final.Snapshots ||
		got.final.InputsSent != rec.final.InputsSent || got.final.RTT != rec.final.RTT {
		t.Fatalf("the replay ended with %+v; the recording with %+v", got.final, rec.final)
	}
	t.Logf("%d frames, %d snapshots, %d inputs replayed identically", len(got.hashes), got.final.Snapshots, got.final.InputsSent)

	// A replay of a file cut short stops with an error that says so.
	_, p = replayClient(t, file[:len(file)*2/3], replay.PlayerOptions{})
	if err := p.Err(); !errors.Is(err, replay.ErrTruncated) {
		t.Fatalf("a file cut short: %v", err)
	}
}

// recordClient plays a client for d at 60 frames a second with the
// scripted buttons, recording it to path; then it says goodbye (a
// recordable call, as the shutdown trigger is) and records until the
// session is over.
func recordClient(t testing.TB, addr, path string, d time.Duration) clientRun {
	t.Helper()
	r := drainedReactor(t, nil)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := replay.NewRecorder(f, netio.Reactor(r), replay.Options{Meta: map[string]string{"name": "recorder"}})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := netclient.Dial(r, netclient.Config{Addr: addr, Name: "recorder", UDP: true, Net: rec})
	if err != nil {
		t.Fatal(err)
	}
	bye := rec.Recordable("goodbye", func() { sess.Goodbye() })
	var run clientRun
	frame := time.NewTicker(time.Second / 60)
	defer frame.Stop()
	start := time.Now()
	said := false
	for i := 0; ; i++ {
		<-frame.C
		st := r.Drain(4 * time.Millisecond)
		run.drain += st.Elapsed
		if !said && time.Since(start) >= d {
			bye()
			said = true
		}
		rec.BeginFrame()
		sess.SetButtons(uint8(rec.Input(uint64(buttonsAt(i)))))
		h := sess.StateHash()
		run.hashes = append(run.hashes, h)
		rec.EndFrame(h)
		s := sess.State().Status
		if s == netclient.StatusDisconnected || s == netclient.StatusFailed {
			break
		}
		if time.Since(start) > d+20*time.Second {
			t.Fatal("the session did not end")
		}
	}
	run.final = sess.State()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return run
}

// replayClient replays a recording to a new session, as fast as it goes.
func replayClient(t testing.TB, file []byte, opts replay.PlayerOptions) (clientRun, *replay.Player) {
	t.Helper()
	p, err := replay.NewPlayer(bytes.NewReader(file), opts)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := p.Meta("name")
	r := drainedReactor(t, p.Clock())
	p.Attach(r)
	sess, err := netclient.Dial(r, netclient.Config{Addr: "127.0.0.1:1", Name: name, UDP: true, Net: p})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Recordable("goodbye", func() { sess.Goodbye() })
	var run clientRun
	for i := 0; !p.Done(); i++ {
		if i > 10_000_000 {
			t.Fatal("the replay does not end")
		}
		r.Drain(0)
		p.BeginFrame()
		sess.SetButtons(uint8(p.Input(0)))
		h := sess.StateHash()
		if p.EndFrame(h) {
			run.hashes = append(run.hashes, h)
		}
	}
	run.final = sess.State()
	if slices.Contains(run.hashes, 0) {
		t.Fatal("a zero state hash")
	}
	return run, p
}

// BenchmarkClientFrame measures a real client's frames, at 60 a second,
// playing with four bots on an in-process server, without and with
// recording (to a file): drain-µs/frame is the client's time in Drain per
// frame (the recorder runs inside its callbacks), events/frame the
// recorded events per frame. Run with -benchtime 600x (ten seconds each).
func BenchmarkClientFrame(b *testing.B) {
	for _, recorded := range []bool{false, true} {
		name := "plain"
		if recorded {
			name = "recorded"
		}
		b.Run(name, func(b *testing.B) {
			srvR, err := core.New(core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				b.Fatal(err)
			}
			srv, err := gameserver.New(srvR, gameserver.Config{Addr: "127.0.0.1:0", StatsInterval: -1,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			addr := srv.Addr().String()
			var sw *swarm.Swarm
			srvR.CallWhenRunning(func() {
				sw, _ = swarm.Start(srvR, swarm.Config{Addr: addr, N: 4, UDP: true, Seed: 2})
			})
			ran := make(chan error, 1)
			go func() { ran <- srvR.Run() }()
			defer func() {
				_ = srvR.CallFromThread(func() {
					if sw != nil {
						sw.Abort()
					}
				})
				_ = srvR.Stop()
				<-ran
			}()

			r := drainedReactor(b, nil)
			var n netio.Net = netio.Reactor(r)
			var rec *replay.Recorder
			if recorded {
				f, err := os.Create(filepath.Join(b.TempDir(), "bench.rec"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				rec, err = replay.NewRecorder(f, n, replay.Options{})
				if err != nil {
					b.Fatal(err)
				}
				n = rec
			}
			sess, err := netclient.Dial(r, netclient.Config{Addr: addr, Name: "bench", UDP: true, Net: n})
			if err != nil {
				b.Fatal(err)
			}
			frame := time.NewTicker(time.Second / 60)
			defer frame.Stop()
			// Warm up: connected, UDP bound, the others in view.
			for w := 0; sess.State().UDP != netclient.UDPBound || len(sess.Remote(nil)) < 4; w++ {
				<-frame.C
				r.Drain(4 * time.Millisecond)
				if w > 600 {
					b.Fatal("the client did not get going")
				}
			}
			var drain time.Duration
			var events uint64
			if rec != nil {
				events = rec.Stats().Records
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				<-frame.C
				st := r.Drain(4 * time.Millisecond)
				drain += st.Elapsed
				if rec != nil {
					rec.BeginFrame()
					sess.SetButtons(uint8(rec.Input(uint64(buttonsAt(i)))))
					rec.EndFrame(sess.StateHash())
				} else {
					sess.SetButtons(buttonsAt(i))
					_ = sess.StateHash()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(drain.Microseconds())/float64(b.N), "drain-µs/frame")
			if rec != nil {
				// Frame, input and clock records are made outside Drain.
				b.ReportMetric(float64(rec.Stats().Records-events)/float64(b.N)-3, "events/frame")
				_ = rec.Close()
			}
			sess.Abort()
		})
	}
}
