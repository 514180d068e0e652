package netclient_test

import (
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/netsim"
	"github.com/threadedselect/reactor/examples/multiplayer/bots/swarm"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
	"github.com/threadedselect/reactor/internal/testutil"
)

// botEnv is a second reactor, for bots, running on its own goroutine.
type botEnv struct{ env }

func newBotEnv(t *testing.T) *botEnv {
	t.Helper()
	logs := &testutil.LockedBuffer{}
	r, err := core.New(core.WithLogger(slog.New(slog.NewTextHandler(logs, nil))), core.WithThreadCheck(true))
	if err != nil {
		t.Fatal(err)
	}
	b := &botEnv{env{t: t, r: r, logs: logs}}
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	t.Cleanup(func() {
		defer func() {
			if off := logs.Lines("called off the main thread"); len(off) > 0 {
				t.Errorf("threading rule broken: %q", off)
			}
		}()
		_ = r.Stop()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("bots' reactor did not stop")
		}
	})
	return b
}

// after waits until d has passed by the reactor's clock (a timer on it).
func (e *env) after(d time.Duration) {
	e.t.Helper()
	done := make(chan struct{})
	e.do(func() { _, _ = e.r.CallLater(d, func() { close(done) }) })
	select {
	case <-done:
	case <-time.After(d + 20*time.Second):
		e.t.Fatal("the reactor's timer did not fire")
	}
}

// Four bots play through a simulated bad Wi-Fi (150 ms ± 30 ms round trip,
// 5% of datagrams lost, 1% duplicated, 2% reordered, 250 kB/s), snapshots
// over UDP: the game still plays. Every bot draws the others within the
// bound the end-to-end test uses (examples/multiplayer/e2e: the
// interpolation delay, four ticks and the time between the two reads)
// plus the simulated one-way delay; its own prediction stays within the
// end-to-end test's lead of the server (the round trip, which now includes
// the simulated one, plus three ticks); and over TCP no input is lost: the
// server applies every input the bots sent, none dropped or stale.
func TestBadWiFiStillPlays(t *testing.T) {
	srv := newEnv(t, gameserver.Config{})
	bots := newBotEnv(t)
	bad, _ := netsim.Preset("badwifi")
	const n = 4
	var sim *netsim.Conditions
	var sw *swarm.Swarm
	bots.do(func() {
		sim = netsim.New(netio.Reactor(bots.r), bad, 11)
		var err error
		sw, err = swarm.Start(bots.r, swarm.Config{Addr: srv.srv.Addr().String(), N: n, UDP: true, Seed: 5,
			Client: func(cc *netclient.Config) { cc.Net = sim }})
		if err != nil {
			t.Fatal(err)
		}
	})
	var byeOnce sync.Once
	goodbye := func() {
		byeOnce.Do(func() {
			var bye <-chan struct{}
			bots.do(func() { bye = sw.Goodbye() })
			select {
			case <-bye:
			case <-time.After(20 * time.Second):
				t.Error("the bots' goodbyes did not finish")
			}
		})
	}
	t.Cleanup(goodbye)
	bots.waitFor("every bot playing, over UDP, knowing every player", 30*time.Second, func() bool {
		for _, b := range sw.Bots {
			st := b.Session.State()
			if st.Status != netclient.StatusConnected || st.UDP != netclient.UDPBound || len(b.Session.PlayerIDs(nil)) != n || st.Snapshots == 0 {
				return false
			}
		}
		return true
	})
	bots.after(2 * time.Second) // fill the interpolation buffers, wander a little

	tick := time.Second / time.Duration(srv.srv.TickRate())
	oneWay := bad.Recv.Latency + bad.Recv.Jitter
	for round := range 3 {
		var truth []game.PlayerState
		var truthAt, viewAt time.Time
		srv.do(func() { truth = srv.srv.Players(nil); truthAt = time.Now() })
		type view struct {
			self   game.PlayerState
			others []game.PlayerState
			rtt    time.Duration
		}
		views := make([]view, n)
		bots.do(func() {
			viewAt = time.Now()
			for i, b := range sw.Bots {
				views[i].self, _ = b.Session.Self()
				views[i].others = b.Session.Remote(nil)
				views[i].rtt = b.Session.State().RTT
			}
		})
		byID := map[uint16]game.PlayerState{}
		for _, p := range truth {
			byID[p.ID] = p
		}
		gap := viewAt.Sub(truthAt) + 50*time.Millisecond
		slack := game.DefaultInterpDelay + 4*tick + gap + oneWay
		maxRemote := game.PlayerSpeed * slack.Seconds()
		worstRemote, worstSelf := 0.0, 0.0
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
				worstRemote = max(worstRemote, d)
				if d > maxRemote {
					t.Errorf("round %d: bot %d draws player %d %.1fpx from the server's position (limit %.1f)", round, i+1, o.ID, d, maxRemote)
				}
			}
			tr := byID[v.self.ID]
			lead := game.PlayerSpeed * (v.rtt + 3*tick + gap).Seconds()
			d := math.Hypot(v.self.X-tr.X, v.self.Y-tr.Y)
			worstSelf = max(worstSelf, d)
			if d > lead {
				t.Errorf("round %d: bot %d predicts itself %.1fpx from the server (limit %.1f, rtt %v)", round, i+1, d, lead, v.rtt)
			}
		}
		t.Logf("round %d: worst remote error %.1fpx (limit %.1f), worst prediction error %.1fpx", round, worstRemote, maxRemote, worstSelf)
		bots.after(500 * time.Millisecond)
	}

	var sent, corrections uint64
	var rtt time.Duration
	bots.do(func() {
		for _, b := range sw.Bots {
			st := b.Session.State()
			sent += st.InputsSent
			corrections += st.Corrections
			rtt = max(rtt, st.RTT)
		}
	})
	if rtt < bad.RTT()-2*bad.Recv.Jitter {
		t.Errorf("the bots' RTT is %v: the simulated %v is not there", rtt, bad.RTT())
	}
	goodbye() // inputs go ahead of the goodbye on TCP
	srv.waitFor("every bot gone", 20*time.Second, func() bool { return srv.srv.Stats().Leaves == n })
	var st gameserver.Stats
	srv.do(func() { st = srv.srv.Stats() })
	if st.InputsApplied != sent || st.InputsDropped != 0 || st.InputsStale != 0 {
		t.Errorf("bots sent %d inputs; the server applied %d, dropped %d, found %d stale", sent, st.InputsApplied, st.InputsDropped, st.InputsStale)
	}
	var ss netsim.Stats
	bots.do(func() { ss = sim.Stats() })
	if ss.Recv.Dropped == 0 || ss.Recv.Delayed == 0 || ss.Send.Delayed == 0 {
		t.Errorf("the simulator did nothing: %+v", ss)
	}
	t.Logf("%d inputs sent and applied; %d reconciliations moved a bot; max RTT %v; simulator: recv %+v send %+v",
		sent, corrections, rtt, ss.Recv, ss.Send)
}
