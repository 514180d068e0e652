// Command paddles is a networked game for two: a paddle each and a ball,
// on the reactor and its session package. The server (./server) runs the
// game; this window sends which way your paddle goes and draws the court
// the server sends sixty times a second.
//
//	go run ./examples/paddles/server &
//	go run ./examples/paddles -addr 127.0.0.1:7000   # twice: left, then right
//
// Arrow keys or W/S move your paddle; -auto lets the computer play it.
// A third window watches. If the server restarts, the window reconnects by
// itself; closing it says goodbye to the server first.
package main

import (
	"flag"
	"fmt"
	"image/color"
	"log/slog"
	"os"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/ebitenutil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/ebitenreactor"
	"github.com/threadedselect/reactor/examples/paddles/pong"
)

// Game is the window: the session to the server and the newest court.
type Game struct {
	c     *session.Client
	court pong.State // written by the MsgState handler, inside Update's drain
	dir   int8       // the direction the server last heard
	auto  bool
}

// Update runs after ebitenreactor has drained the reactor, so g.court is
// the newest state the server sent, and no lock is needed.
func (g *Game) Update() error {
	var dir int8
	switch {
	case ebiten.IsKeyPressed(ebiten.KeyArrowUp) || ebiten.IsKeyPressed(ebiten.KeyW):
		dir = -1
	case ebiten.IsKeyPressed(ebiten.KeyArrowDown) || ebiten.IsKeyPressed(ebiten.KeyS):
		dir = 1
	}
	if side := pong.Side(g.c.ID()); g.auto && side >= 0 {
		dir = follow(g.court, side)
	}
	if dir != g.dir && g.c.Send(append(g.c.Begin(pong.MsgInput), byte(dir))) == nil {
		g.dir = dir
	}
	return nil
}

// follow moves a paddle towards the ball.
func follow(s pong.State, side int) int8 {
	switch d := s.BallY + pong.Ball/2 - s.Paddle[side] - pong.PaddleH/2; {
	case d < -8:
		return -1
	case d > 8:
		return 1
	}
	return 0
}

var gray = color.Gray{Y: 0x60}

// Draw draws the court and a status line.
func (g *Game) Draw(screen *ebiten.Image) {
	s := g.court
	for y := float32(0); y < pong.H; y += 20 {
		vector.DrawFilledRect(screen, pong.W/2-1, y, 2, 10, gray, false)
	}
	for side, x := range [2]float32{pong.PaddleX, pong.W - pong.PaddleX - pong.PaddleW} {
		if s.Present[side] {
			vector.DrawFilledRect(screen, x, float32(s.Paddle[side]), pong.PaddleW, pong.PaddleH, color.White, false)
		}
	}
	if s.Present[0] && s.Present[1] {
		vector.DrawFilledRect(screen, float32(s.BallX), float32(s.BallY), pong.Ball, pong.Ball, color.White, false)
	}
	ebitenutil.DebugPrintAt(screen, fmt.Sprintf("%d        %d", s.Score[0], s.Score[1]), pong.W/2-42, 10)
	ebitenutil.DebugPrintAt(screen, g.status(), 8, pong.H-20)
}

// status says where the session is: what the player sees of the network.
func (g *Game) status() string {
	st := g.c.State()
	switch st.Status {
	case session.Connected:
		role := [...]string{"left paddle", "right paddle"}
		who := "watching"
		if side := pong.Side(st.ID); side >= 0 {
			who = "you: " + role[side]
		}
		return fmt.Sprintf("%s   ping %v ± %v   udp %v", who,
			st.RTT.Smoothed.Round(100*time.Microsecond), st.RTT.Jitter.Round(100*time.Microsecond), st.UDP)
	case session.Disconnected:
		return fmt.Sprintf("disconnected: %v %s", st.Cause, st.Reason)
	}
	if st.Cause == session.CauseNone {
		return st.Status.String() + "…"
	}
	return fmt.Sprintf("%v… (%v)", st.Status, st.Cause)
}

// Layout implements ebiten.Game: the court, scaled to the window.
func (g *Game) Layout(int, int) (int, int) { return pong.W, pong.H }

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("paddles", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7000", "the server's `address`")
	auto := fs.Bool("auto", false, "let the computer move your paddle")
	if fs.Parse(args) != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	r, err := core.New(core.WithLogger(log))
	if err != nil {
		log.Error("reactor", "err", err)
		return 1
	}
	g := &Game{auto: *auto}
	// Dial connects once RunGame starts the reactor, reconnects by itself,
	// and says goodbye when the window closes (a before-shutdown trigger).
	g.c, err = session.Dial(r, session.ClientConfig{Addr: *addr, App: pong.App, UDP: true,
		OnConnect: func(*session.Client, session.Welcome) { g.dir = 0 }, // a new session knows no direction
		OnStatus: func(c *session.Client) {
			st := c.State()
			log.Info("session", "status", st.Status.String(), "id", st.ID, "cause", st.Cause.String(), "reason", st.Reason)
		}})
	if err != nil {
		log.Error("dial", "err", err)
		return 1
	}
	_ = g.c.Handle(pong.MsgState, func(msg []byte) error {
		s, err := pong.DecodeState(msg)
		if err == nil {
			g.court = s
		}
		return err
	})
	ebiten.SetWindowTitle("paddles")
	ebiten.SetWindowSize(2*pong.W, 2*pong.H)
	if err := ebitenreactor.RunGame(g, r); err != nil { // it logs through the reactor's logger
		log.Error("game", "err", err)
		return 1
	}
	return 0
}
