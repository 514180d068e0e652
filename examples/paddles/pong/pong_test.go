package pong

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStateRoundTrip(t *testing.T) {
	s := State{BallX: -7, BallY: 300, Paddle: [2]float64{0, 300}, Score: [2]int{3, 99}, Present: [2]bool{true, false}}
	got, err := DecodeState(AppendState([]byte{MsgState}, s))
	if err != nil || got != s {
		t.Fatalf("%+v, %v; want %+v", got, err, s)
	}
	if _, err := DecodeState([]byte{MsgState, 1}); err == nil {
		t.Fatal("a short state decoded")
	}
}

// TestRules: the ball waits for two players, bounces off the walls and a
// paddle in its way, and scores past a paddle that is not.
func TestRules(t *testing.T) {
	g := NewGame()
	x := g.BallX
	g.Step(0.1)
	if g.BallX != x {
		t.Fatal("the ball moved without players")
	}
	g.Present = [2]bool{true, true}
	g.BallY, g.VY = 1, -150
	g.Step(0.02)
	if g.BallY != 0 || g.VY <= 0 {
		t.Fatalf("no bounce off the top: y %v vy %v", g.BallY, g.VY)
	}
	// The right paddle level with the ball: it comes back.
	g.VY = 0
	g.Paddle[1] = g.BallY
	for i := 0; i < 200 && g.VX > 0; i++ {
		g.Step(1.0 / TickRate)
	}
	if g.VX >= 0 || g.Score != [2]int{} {
		t.Fatalf("no bounce off the right paddle: vx %v score %v", g.VX, g.Score)
	}
	// The left paddle far from it: a point for the right.
	g.Paddle[0] = H - PaddleH
	g.BallY, g.VY = 0, 0
	for i := 0; i < 400 && g.Score[1] == 0; i++ {
		g.Step(1.0 / TickRate)
	}
	if g.Score != [2]int{0, 1} || g.BallX != (W-Ball)/2 || g.VX <= 0 {
		t.Fatalf("score %v, ball %v going %v", g.Score, g.BallX, g.VX)
	}
}

// TestServe: over loopback, the first two clients get the paddles, their
// inputs move them, the ball moves once both are in, and a spectator sees
// it all.
func TestServe(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := core.New(core.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Serve(r, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	states := make(chan State, 1024)
	connected := make(chan uint32, 3)
	var clients []*session.Client
	for range 3 {
		c, err := session.Dial(r, session.ClientConfig{Addr: srv.Addr().String(), App: App, UDP: true, Logger: log,
			OnConnect: func(_ *session.Client, w session.Welcome) { connected <- w.ID }})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	_ = clients[2].Handle(MsgState, func(msg []byte) error { // the spectator's view
		s, err := DecodeState(msg)
		select {
		case states <- s:
		default:
		}
		return err
	})
	for _, c := range clients[:2] {
		_ = c.Handle(MsgState, func([]byte) error { return nil })
	}
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	defer func() {
		_ = r.Stop()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	}()
	for range 3 {
		select {
		case <-connected:
		case <-time.After(10 * time.Second):
			t.Fatal("clients not connected")
		}
	}
	// Left goes up, right goes down.
	_ = r.CallFromThread(func() {
		_ = clients[0].Send([]byte{MsgInput, 0xff})
		_ = clients[1].Send([]byte{MsgInput, 1})
	})
	deadline := time.After(10 * time.Second)
	var first *State
	for {
		select {
		case s := <-states:
			if first == nil && s.Present == [2]bool{true, true} {
				first = &s
			}
			if first != nil && s.Paddle[0] < first.Paddle[0] && s.Paddle[1] > first.Paddle[1] && s.BallX != first.BallX {
				return
			}
		case <-deadline:
			t.Fatalf("the court did not move as asked: first %+v", first)
		}
	}
}
