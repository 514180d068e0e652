// Package pong is the shared half of the paddles example: the court, its
// two messages, and the authoritative server, on package session. It never
// imports Ebiten, so the server runs headless.
package pong

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/session"
)

// The court and the protocol.
const (
	App              = "paddles/1" // a server refuses clients of another version
	W, H             = 640, 360    // the court, in pixels
	PaddleW, PaddleH = 10, 60
	PaddleX          = 20 // distance of each paddle from its goal line
	Ball             = 10 // the ball's side
	TickRate         = 60 // simulation steps per second

	MsgInput = 1 // client → server, reliable: one int8, −1 up, 0 still, +1 down
	MsgState = 2 // server → clients, unreliable, every tick: the court
)

// State is the court as the server sends it.
type State struct {
	BallX, BallY float64    // the ball's top-left corner
	Paddle       [2]float64 // the top of the left and right paddles
	Score        [2]int
	Present      [2]bool // whether each paddle has a connected player
}

// AppendState appends the payload of a MsgState to b.
func AppendState(b []byte, s State) []byte {
	for _, v := range [...]float64{s.BallX, s.BallY, s.Paddle[0], s.Paddle[1]} {
		b = binary.LittleEndian.AppendUint16(b, uint16(int16(v)))
	}
	flags := byte(0)
	for i, p := range s.Present {
		if p {
			flags |= 1 << i
		}
	}
	return append(b, byte(s.Score[0]), byte(s.Score[1]), flags)
}

// DecodeState decodes the payload of a MsgState (its type byte first).
func DecodeState(p []byte) (State, error) {
	if len(p) != 12 || p[0] != MsgState {
		return State{}, errors.New("pong: malformed state")
	}
	v := func(i int) float64 { return float64(int16(binary.LittleEndian.Uint16(p[1+2*i:]))) }
	return State{BallX: v(0), BallY: v(1), Paddle: [2]float64{v(2), v(3)},
		Score: [2]int{int(p[9]), int(p[10])}, Present: [2]bool{p[11]&1 != 0, p[11]&2 != 0}}, nil
}

// Side is the paddle a session plays: 0 left (session 1), 1 right
// (session 2), −1 a spectator.
func Side(id uint32) int {
	if id == 1 || id == 2 {
		return int(id) - 1
	}
	return -1
}

// Game is the simulation: the state and what moves it.
type Game struct {
	State
	VX, VY float64    // the ball's velocity, px/s
	Dir    [2]float64 // each paddle's direction, −1..1
}

// NewGame returns a court with the ball in the middle.
func NewGame() *Game {
	g := &Game{}
	g.Paddle = [2]float64{(H - PaddleH) / 2, (H - PaddleH) / 2}
	g.serve(1)
	return g
}

// serve puts the ball in the middle, going towards side's goal.
func (g *Game) serve(towards int) {
	g.BallX, g.BallY = (W-Ball)/2, (H-Ball)/2
	g.VX, g.VY = 240, 150
	if towards == 0 {
		g.VX = -g.VX
	}
}

// Step advances the game by dt seconds; the ball waits for two players.
func (g *Game) Step(dt float64) {
	for i := range g.Paddle {
		g.Paddle[i] = min(max(g.Paddle[i]+g.Dir[i]*300*dt, 0), H-PaddleH)
	}
	if !g.Present[0] || !g.Present[1] {
		return
	}
	g.BallX += g.VX * dt
	g.BallY += g.VY * dt
	if g.BallY < 0 || g.BallY > H-Ball { // off the top or bottom wall
		g.BallY = min(max(g.BallY, 0), H-Ball)
		g.VY = -g.VY
	}
	left, right := float64(PaddleX+PaddleW), float64(W-PaddleX-PaddleW-Ball)
	if g.VX < 0 && g.BallX <= left && g.BallX > left-PaddleW && g.meets(0) {
		g.BallX = left
		g.bounce(0)
	}
	if g.VX > 0 && g.BallX >= right && g.BallX < right+PaddleW && g.meets(1) {
		g.BallX = right
		g.bounce(1)
	}
	if g.BallX < -Ball || g.BallX > W { // past a paddle: a point for the other side
		winner := 0
		if g.BallX < 0 {
			winner = 1
		}
		g.Score[winner] = (g.Score[winner] + 1) % 100
		g.serve(winner)
	}
}

// meets reports whether the ball is level with paddle side.
func (g *Game) meets(side int) bool {
	return g.BallY+Ball > g.Paddle[side] && g.BallY < g.Paddle[side]+PaddleH
}

// bounce sends the ball back a little faster, steered by where it hit.
func (g *Game) bounce(side int) {
	g.VX = max(min(-g.VX*1.05, 540), -540)
	g.VY += (g.BallY + Ball/2 - g.Paddle[side] - PaddleH/2) * 4
}

// Serve starts a server on r listening on addr (TCP, and UDP on the same
// port): it steps the game every tick and sends the court to everybody.
// It logs through the reactor's logger.
func Serve(r *core.Reactor, addr string) (*session.Server, error) {
	g := NewGame()
	// A paddle stops when its player goes, and when it comes back (the
	// client then says where it goes).
	stop := func(p *session.Peer, _ error) {
		if s := Side(p.ID()); s >= 0 {
			g.Dir[s] = 0
		}
	}
	srv, err := session.Listen(r, session.ServerConfig{Addr: addr, App: App, UDP: true,
		MaxSessions: 16, MaxSessionsPerAddr: 8, MaxConnsPerAddr: 16,
		OnDetach: stop, OnLeave: stop, OnResume: func(p *session.Peer) { stop(p, nil) }})
	if err != nil {
		return nil, err
	}
	_ = srv.Handle(MsgInput, func(p *session.Peer, msg []byte) error {
		if len(msg) != 2 || Side(p.ID()) < 0 {
			return errors.New("bad input")
		}
		g.Dir[Side(p.ID())] = float64(max(min(int8(msg[1]), 1), -1))
		return nil
	})
	r.CallWhenRunning(func() {
		r.CallEvery(time.Second/TickRate, func() {
			for s := range g.Present {
				p := srv.Peer(uint32(s + 1))
				g.Present[s] = p != nil && p.Connected()
			}
			g.Step(1.0 / TickRate)
			_ = srv.BroadcastUnreliable(AppendState(srv.Begin(MsgState), g.State))
		})
	})
	return srv, nil
}
