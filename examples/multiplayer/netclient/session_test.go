package netclient_test

import (
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
	"github.com/threadedselect/reactor/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a reactor running on its own goroutine with a game server on it.
type env struct {
	t    *testing.T
	r    *core.Reactor
	srv  *gameserver.Server
	logs *testutil.LockedBuffer
}

func newEnv(t *testing.T, cfg gameserver.Config) *env {
	t.Helper()
	e := &env{t: t, logs: &testutil.LockedBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	r, err := core.New(core.WithLogger(log), core.WithThreadCheck(true))
	if err != nil {
		t.Fatal(err)
	}
	e.r = r
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	cfg.Logger = log
	e.srv, err = gameserver.New(r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	testutil.CheckFds(t) // after the reactor below has stopped
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	t.Cleanup(func() {
		defer func() {
			if off := e.logs.Lines("called off the main thread"); len(off) > 0 {
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
			t.Fatal("reactor did not stop")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs)
		}
	})
	return e
}

// do runs f on the reactor's main thread and waits for it.
func (e *env) do(f func()) {
	e.t.Helper()
	done := make(chan struct{})
	if err := e.r.CallFromThread(func() { defer close(done); f() }); err != nil {
		e.t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		e.t.Fatal("main thread did not run the call")
	}
}

// waitFor checks cond on the main thread every few milliseconds (on a
// reactor timer) until it holds, or fails the test after timeout.
func (e *env) waitFor(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	ok := make(chan struct{})
	stop := make(chan struct{})
	var check func()
	check = func() {
		select {
		case <-stop:
			return
		default:
		}
		if cond() {
			close(ok)
			return
		}
		_, _ = e.r.CallLater(5*time.Millisecond, check)
	}
	if err := e.r.CallFromThread(check); err != nil {
		e.t.Fatal(err)
	}
	select {
	case <-ok:
	case <-time.After(timeout):
		close(stop)
		e.t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

func (e *env) dial(cfg netclient.Config) *netclient.Session {
	e.t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = e.srv.Addr().String()
	}
	var s *netclient.Session
	var err error
	e.do(func() { s, err = netclient.Dial(e.r, cfg) })
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) state(s *netclient.Session) (st netclient.State) {
	e.do(func() { st = s.State() })
	return st
}

func TestPlayAndGoodbye(t *testing.T) {
	e := newEnv(t, gameserver.Config{})
	a := e.dial(netclient.Config{Name: "alice", UDP: true})
	b := e.dial(netclient.Config{Name: "bob"})
	e.waitFor("both connected, UDP bound, snapshots and RTT", 10*time.Second, func() bool {
		sa, sb := a.State(), b.State()
		return sa.Status == netclient.StatusConnected && sb.Status == netclient.StatusConnected &&
			sa.UDP == netclient.UDPBound && sa.Snapshots > 10 && sb.Snapshots > 10 &&
			sa.RTTSamples > 0 && sb.RTTSamples > 0
	})
	st := e.state(b)
	if st.UDP != netclient.UDPOff || st.SnapshotsUDP != 0 || st.RTT <= 0 || st.TickRate != game.DefaultTickRate {
		t.Fatalf("bob's state %+v", st)
	}
	var aID, bID uint16
	e.do(func() { aID, bID = a.State().PlayerID, b.State().PlayerID })
	e.waitFor("names from PlayerInfo", 5*time.Second, func() bool {
		n1, ok1 := a.Name(bID)
		n2, ok2 := b.Name(aID)
		return ok1 && ok2 && n1 == "bob" && n2 == "alice"
	})

	// Alice walks right for a while; her prediction moves at once, the
	// server agrees, and Bob sees her move.
	var start game.PlayerState
	e.do(func() {
		start, _ = a.Self()
		a.SetButtons(game.ButtonRight)
	})
	e.waitFor("alice moved 60px right, everybody agreeing", 10*time.Second, func() bool {
		me, ok := a.Self()
		if !ok || me.X < start.X+60 {
			return false
		}
		a.SetButtons(0)
		return true
	})
	e.waitFor("the server and bob agree with alice's prediction", 10*time.Second, func() bool {
		me, _ := a.Self()
		var srv game.PlayerState
		for _, p := range e.srv.Players(nil) {
			if p.ID == aID {
				srv = p
			}
		}
		var seen game.PlayerState
		for _, p := range b.Remote(nil) {
			if p.ID == aID {
				seen = p
			}
			if p.ID == bID {
				t.Error("Remote includes the own player")
			}
		}
		return a.PendingInputs() == 0 && me == srv && seen.X == srv.X && seen.Y == srv.Y
	})
	if st := e.state(a); st.Corrections != 0 {
		t.Errorf("%d reconciliations moved the prediction (last %vpx); want none on a clean network", st.Corrections, st.Correction)
	}

	// Goodbye: the channel closes once the connection is gone, the server
	// logs reason=quit and Bob hears that Alice left.
	var bye <-chan struct{}
	e.do(func() { bye = a.Goodbye() })
	select {
	case <-bye:
	case <-time.After(10 * time.Second):
		t.Fatal("goodbye channel not closed")
	}
	st = e.state(a)
	if st.Status != netclient.StatusDisconnected || st.Cause != netclient.CauseQuit || !errors.Is(st.Err, session.ErrQuit) {
		t.Fatalf("after goodbye: %+v", st)
	}
	e.waitFor("bob hears alice left", 5*time.Second, func() bool {
		_, ok := b.Name(aID)
		return !ok
	})
	if !strings.Contains(e.logs.String(), "msg=leave player=1 name=alice") || !strings.Contains(e.logs.String(), "reason=quit") {
		t.Fatalf("no quit line:\n%s", e.logs)
	}
}

func TestConnectionRefused(t *testing.T) {
	e := newEnv(t, gameserver.Config{})
	// A port nobody listens on: take one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := e.dial(netclient.Config{Addr: addr, Name: "x", NoReconnect: true})
	e.waitFor("failure", 10*time.Second, func() bool { return s.State().Status == netclient.StatusFailed })
	st := e.state(s)
	if st.Cause != netclient.CauseUnreachable || !errors.Is(st.Err, core.ErrConnectionRefused) {
		t.Fatalf("state %+v", st)
	}
}

func TestRejectedWhenFull(t *testing.T) {
	e := newEnv(t, gameserver.Config{MaxPlayers: 1})
	a := e.dial(netclient.Config{Name: "a"})
	e.waitFor("a connected", 5*time.Second, func() bool { return a.State().Status == netclient.StatusConnected })
	b := e.dial(netclient.Config{Name: "b", NoReconnect: true})
	e.waitFor("b failed", 10*time.Second, func() bool { return b.State().Status == netclient.StatusFailed })
	st := e.state(b)
	if st.Cause != netclient.CauseRejected || !strings.HasPrefix(st.Reason, "server full") || !errors.Is(st.Err, session.ErrServerFull) {
		t.Fatalf("state %+v", st)
	}
}

func TestServerShutdownAndUDPFallback(t *testing.T) {
	e := newEnv(t, gameserver.Config{DisableUDP: true})
	var statuses []netclient.Status
	s := e.dial(netclient.Config{Name: "a", UDP: true, UDPBindInterval: 20 * time.Millisecond, NoReconnect: true,
		OnStatus: func(s *netclient.Session) { statuses = append(statuses, s.State().Status) }})
	e.waitFor("UDP given up, snapshots over TCP", 10*time.Second, func() bool {
		st := s.State()
		return st.Status == netclient.StatusConnected && st.UDP != netclient.UDPBound && st.Snapshots > 5
	})
	var done <-chan struct{}
	e.do(func() { done = e.srv.Shutdown() })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("server shutdown did not finish")
	}
	e.waitFor("disconnected", 5*time.Second, func() bool { return s.State().Status == netclient.StatusDisconnected })
	st := e.state(s)
	if st.Cause != netclient.CauseServerShutdown || !errors.Is(st.Err, session.ErrServerShutdown) || st.SnapshotsUDP != 0 {
		t.Fatalf("state %+v", st)
	}
	e.do(func() {
		if len(statuses) != 2 || statuses[0] != netclient.StatusConnected || statuses[1] != netclient.StatusDisconnected {
			t.Errorf("OnStatus saw %v", statuses)
		}
	})
}

// A server that accepts but never answers: the session gives up after its
// handshake timeout. Goodbye while connecting cancels the attempt.
func TestNoWelcomeAndGoodbyeWhileConnecting(t *testing.T) {
	e := newEnv(t, gameserver.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	s := e.dial(netclient.Config{Addr: ln.Addr().String(), Name: "x", HandshakeTimeout: 200 * time.Millisecond, NoReconnect: true})
	e.waitFor("failure", 10*time.Second, func() bool { return s.State().Status == netclient.StatusFailed })
	if st := e.state(s); st.Cause != netclient.CauseLost || !errors.Is(st.Err, netclient.ErrNoWelcome) {
		t.Fatalf("state %+v", st)
	}
	(<-accepted).Close()

	s2 := e.dial(netclient.Config{Addr: ln.Addr().String(), Name: "y"})
	var bye <-chan struct{}
	e.do(func() { bye = s2.Goodbye() })
	select {
	case <-bye:
	case <-time.After(10 * time.Second):
		t.Fatal("goodbye while connecting did not finish")
	}
	if st := e.state(s2); st.Cause != netclient.CauseQuit {
		t.Fatalf("state %+v", st)
	}
	select {
	case c := <-accepted:
		c.Close()
	default:
	}
}

func TestDialRejectsBadName(t *testing.T) {
	r, err := core.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := netclient.Dial(r, netclient.Config{Addr: "127.0.0.1:1", Name: ""}); !errors.Is(err, game.ErrBadName) {
		t.Fatalf("empty name: %v", err)
	}
}

// A client the server kicks ends with CauseKicked and the server's reason,
// and does not reconnect.
func TestKicked(t *testing.T) {
	e := newEnv(t, gameserver.Config{})
	s := e.dial(netclient.Config{Name: "unruly"})
	e.waitFor("connected", 10*time.Second, func() bool { return s.State().Status == netclient.StatusConnected })
	e.do(func() {
		if !e.srv.Kick(s.State().PlayerID, "behave") {
			t.Error("no player to kick")
		}
	})
	e.waitFor("disconnected", 10*time.Second, func() bool { return s.State().Status == netclient.StatusDisconnected })
	st := e.state(s)
	if st.Cause != netclient.CauseKicked || st.Reason != "behave" || !errors.Is(st.Err, session.ErrKicked) {
		t.Fatalf("state %+v", st)
	}
	if !strings.Contains(e.logs.String(), "name=unruly") || !strings.Contains(e.logs.String(), "reason=error") {
		t.Fatalf("server log:\n%s", e.logs)
	}
}

// The server stops (saying so) and a new one starts on the same address:
// the session comes back by itself within 5 s, as a new player whose
// prediction and names start afresh, and says so through OnStatus.
func TestReconnectAfterServerRestart(t *testing.T) {
	e := newEnv(t, gameserver.Config{})
	var statuses []netclient.Status
	s := e.dial(netclient.Config{Name: "phoenix", UDP: true,
		OnStatus: func(s *netclient.Session) { statuses = append(statuses, s.State().Status) }})
	e.waitFor("connected", 10*time.Second, func() bool {
		st := s.State()
		return st.Status == netclient.StatusConnected && st.Snapshots > 0
	})
	addr := e.srv.Addr().String()
	var done <-chan struct{}
	e.do(func() { done = e.srv.Shutdown() })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("server shutdown did not finish")
	}
	e.waitFor("reconnecting", 5*time.Second, func() bool { return s.State().Status == netclient.StatusReconnecting })
	if st := e.state(s); st.Cause != netclient.CauseServerShutdown {
		t.Fatalf("reconnecting with %+v", st)
	}
	var srv2 *gameserver.Server
	e.do(func() {
		var err error
		srv2, err = gameserver.New(e.r, gameserver.Config{Addr: addr, Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
		if err != nil {
			t.Error(err)
		}
	})
	if srv2 == nil {
		t.FailNow()
	}
	e.waitFor("reconnected", 5*time.Second, func() bool {
		st := s.State()
		return st.Status == netclient.StatusConnected && st.Connects == 2 && st.Snapshots > 0
	})
	st := e.state(s)
	if st.Resumed || st.PlayerID != 1 {
		t.Fatalf("after the restart: %+v", st)
	}
	e.waitFor("own name from the new server", 5*time.Second, func() bool {
		n, ok := s.Name(s.State().PlayerID)
		return ok && n == "phoenix"
	})
	e.do(func() {
		want := []netclient.Status{netclient.StatusConnected, netclient.StatusReconnecting, netclient.StatusConnected}
		if !slices.Equal(statuses, want) {
			t.Errorf("OnStatus saw %v, want %v", statuses, want)
		}
		if n := srv2.Stats().Players; n != 1 {
			t.Errorf("%d players on the new server", n)
		}
	})
}
