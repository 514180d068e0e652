// Package swarm runs headless bot players of the example multiplayer game:
// each bot is a netclient.Session that wanders the arena, heading for a
// random point, pausing now and then, and picking another. The bots command
// in the parent directory runs a swarm; tests and benchmarks use it
// in-process to load a server.
//
// Like netclient, everything runs on the reactor's main thread: Start, every
// method, and the bots themselves.
package swarm

import (
	"fmt"
	"math/rand/v2"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// Config configures a Swarm.
type Config struct {
	Addr string // the server's address
	N    int    // how many bots
	// Prefix starts every bot's name, followed by its number from 01:
	// "bot" gives bot01, bot02, ... Default "bot".
	Prefix string
	UDP    bool   // ask for snapshots over UDP
	Seed   uint64 // seeds the bots' wandering; 0: random
	// Client, if set, is called with each bot's netclient.Config before it
	// dials, to adjust it (timeouts, ...). The swarm sets OnTick and
	// OnStatus itself, after it.
	Client func(*netclient.Config)
	// OnStatus, if set, is called when a bot's status changes.
	OnStatus func(*Bot)
}

// Bot is one wandering player.
type Bot struct {
	Name    string
	Session *netclient.Session

	rng      *rand.Rand
	targetX  float64
	targetY  float64
	hasGoal  bool
	wait     int // ticks to stand still
	deadline int // ticks left to reach the target before giving up on it
}

// Swarm is a group of bots on one reactor.
type Swarm struct {
	Bots []*Bot

	onStatus      func(*Bot)
	goodbye       chan struct{}
	goodbyeClosed bool
}

// Start dials cfg.N bots. Connection failures show in each bot's
// Session.State; Start fails only for an unusable Config. Main thread.
func Start(r *core.Reactor, cfg Config) (*Swarm, error) {
	if cfg.N < 1 {
		return nil, fmt.Errorf("swarm: %w: %d bots", core.ErrInvalidArgument, cfg.N)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "bot"
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	sw := &Swarm{onStatus: cfg.OnStatus}
	for i := range cfg.N {
		b := &Bot{
			Name: fmt.Sprintf("%s%02d", cfg.Prefix, i+1),
			rng:  rand.New(rand.NewPCG(seed, uint64(i))),
		}
		cc := netclient.Config{Addr: cfg.Addr, Name: b.Name, UDP: cfg.UDP}
		if cfg.Client != nil {
			cfg.Client(&cc)
		}
		cc.OnTick = b.think
		cc.OnStatus = func(*netclient.Session) { sw.statusChanged(b) }
		s, err := netclient.Dial(r, cc)
		if err != nil {
			sw.Abort()
			return nil, fmt.Errorf("swarm: %s: %w", b.Name, err)
		}
		b.Session = s
		sw.Bots = append(sw.Bots, b)
	}
	return sw, nil
}

// think chooses the bot's buttons for this tick: towards its target, or
// nothing while it waits.
func (b *Bot) think(s *netclient.Session) {
	me, ok := s.Self()
	if !ok {
		return
	}
	if b.wait > 0 {
		b.wait--
		s.SetButtons(0)
		return
	}
	const near = 6 // px
	if !b.hasGoal || b.deadline <= 0 || (abs(b.targetX-me.X) < near && abs(b.targetY-me.Y) < near) {
		b.pickGoal(s)
		if b.wait > 0 {
			s.SetButtons(0)
			return
		}
	}
	b.deadline--
	var buttons uint8
	switch dx := b.targetX - me.X; {
	case dx > near/2:
		buttons |= game.ButtonRight
	case dx < -near/2:
		buttons |= game.ButtonLeft
	}
	switch dy := b.targetY - me.Y; {
	case dy > near/2:
		buttons |= game.ButtonDown
	case dy < -near/2:
		buttons |= game.ButtonUp
	}
	s.SetButtons(buttons)
}

// pickGoal picks a random point of the arena, or (one time in five) a
// pause of up to a second.
func (b *Bot) pickGoal(s *netclient.Session) {
	rate := int(s.State().TickRate)
	if b.hasGoal && b.rng.IntN(5) == 0 {
		b.wait = 1 + b.rng.IntN(max(rate, 1))
		b.hasGoal = false
		return
	}
	const margin = game.PlayerRadius + 4
	b.targetX = margin + b.rng.Float64()*(game.ArenaW-2*margin)
	b.targetY = margin + b.rng.Float64()*(game.ArenaH-2*margin)
	b.hasGoal = true
	b.deadline = 10 * max(rate, 1) // ten seconds, then pick another
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// Goodbye has every bot say goodbye; the channel is closed when all their
// connections are gone. Calling it again returns the same channel. Main
// thread.
func (sw *Swarm) Goodbye() <-chan struct{} {
	if sw.goodbye != nil {
		return sw.goodbye
	}
	sw.goodbye = make(chan struct{})
	for _, b := range sw.Bots {
		b.Session.Goodbye()
	}
	sw.checkGoodbye()
	return sw.goodbye
}

// statusChanged follows the bots' statuses, to close the Goodbye channel.
func (sw *Swarm) statusChanged(b *Bot) {
	if sw.onStatus != nil {
		sw.onStatus(b)
	}
	sw.checkGoodbye()
}

func (sw *Swarm) checkGoodbye() {
	if sw.goodbye == nil || sw.goodbyeClosed || !sw.Done() {
		return
	}
	sw.goodbyeClosed = true
	close(sw.goodbye)
}

// Abort drops every bot's connection at once, without goodbyes. Main
// thread.
func (sw *Swarm) Abort() {
	for _, b := range sw.Bots {
		b.Session.Abort()
	}
}

// Done reports whether every bot has failed or been disconnected.
func (sw *Swarm) Done() bool {
	for _, b := range sw.Bots {
		switch b.Session.State().Status {
		case netclient.StatusFailed, netclient.StatusDisconnected:
		default:
			return false
		}
	}
	return true
}
