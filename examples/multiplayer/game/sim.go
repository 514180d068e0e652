package game

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// The arena and its players. The client's sprites are 24x24 px, drawn
// centred on the player's position.
const (
	ArenaW          = 960   // arena width in px
	ArenaH          = 540   // arena height in px
	PlayerRadius    = 12    // half a player's size; positions stay this far from the edges
	PlayerSpeed     = 180.0 // px per second, straight or diagonal
	DefaultTickRate = 30    // simulation ticks per second
	// MaxPlayers is the default capacity of a World. A snapshot of this many
	// players always fits in MaxSnapshotBytes.
	MaxPlayers = 64
	// MaxQueuedInputs is how many inputs World.Apply queues per player
	// between two ticks: enough to absorb network jitter, few enough that a
	// flooding client cannot move much faster than its peers.
	MaxQueuedInputs = 8
)

// Facing values, the eight directions a player can face, clockwise from east
// in screen space (y grows downwards): facing f points at f·45°.
const (
	FacingRight uint8 = iota
	FacingDownRight
	FacingDown
	FacingDownLeft
	FacingLeft
	FacingUpLeft
	FacingUp
	FacingUpRight

	// NumFacings is the number of facings; Decode rejects larger values.
	NumFacings
)

// facings maps a direction (dx+1, dy+1), each in {-1, 0, 1}, to a facing. The
// centre (no movement) is never looked up.
var facings = [3][3]uint8{
	{FacingUpLeft, FacingLeft, FacingDownLeft},
	{FacingUp, 0, FacingDown},
	{FacingUpRight, FacingRight, FacingDownRight},
}

// FacingVector returns the unit vector of a facing, e.g. for drawing a
// player's eyes; it returns (0, 0) for an undefined facing.
func FacingVector(facing uint8) (dx, dy float64) {
	if facing >= NumFacings {
		return 0, 0
	}
	a := float64(facing) * math.Pi / 4
	return math.Cos(a), math.Sin(a)
}

// TickDT returns the duration of one tick in seconds, 1/tickRate, for Step.
// Server and client must both get dt from here, so that they compute with
// the very same float64. A tickRate of 0 means DefaultTickRate.
func TickDT(tickRate uint8) float64 {
	if tickRate == 0 {
		tickRate = DefaultTickRate
	}
	return 1 / float64(tickRate)
}

// Step moves p for dt seconds as buttons direct, at PlayerSpeed, keeps it
// inside the arena and turns it to face the direction it tried to move in.
// Opposite buttons cancel; with no movement p is left untouched, facing
// included. Diagonal movement is normalised, so it is no faster.
//
// The result is rounded to the 1/16 px grid of the wire format, so the
// position the server sends is exactly the one it simulates, and a client
// replaying inputs from a snapshot reproduces the server bit for bit. Every
// operation is a single IEEE-754 operation or exact (multiplying by ±1 or 16,
// rounding), so no platform's fused multiply-add can change the result.
func Step(p *PlayerState, buttons uint8, dt float64) {
	dx, dy := 0, 0
	if buttons&ButtonLeft != 0 {
		dx--
	}
	if buttons&ButtonRight != 0 {
		dx++
	}
	if buttons&ButtonUp != 0 {
		dy--
	}
	if buttons&ButtonDown != 0 {
		dy++
	}
	if dx == 0 && dy == 0 {
		return
	}
	p.Facing = facings[dx+1][dy+1]
	dist := PlayerSpeed * dt
	if dx != 0 && dy != 0 {
		dist *= math.Sqrt2 / 2
	}
	p.X = clampToGrid(p.X+float64(dx)*dist, PlayerRadius, ArenaW-PlayerRadius)
	p.Y = clampToGrid(p.Y+float64(dy)*dist, PlayerRadius, ArenaH-PlayerRadius)
}

// clampToGrid rounds v to the nearest 1/16 and clamps it to [lo, hi], which
// are on the grid themselves.
func clampToGrid(v, lo, hi float64) float64 {
	v = math.Round(v*posScale) / posScale
	return min(max(v, lo), hi)
}

// Errors of World.
var (
	ErrWorldFull = errors.New("game: world is full")
	// ErrBadPlayerID: World.Join with id 0 or an id in use.
	ErrBadPlayerID    = errors.New("game: player id 0 or in use")
	ErrUnknownPlayer  = errors.New("game: no such player")
	ErrWrongPlayer    = errors.New("game: input claims another player's id")
	ErrStaleInput     = errors.New("game: input sequence number not newer than the last")
	ErrInputQueueFull = errors.New("game: too many inputs queued for one tick")
)

// WorldConfig configures a World; zero fields take their defaults.
type WorldConfig struct {
	TickRate uint8 // ticks per second; default DefaultTickRate
	// MaxPlayers is the capacity; default MaxPlayers. Above 148 a snapshot
	// may need splitting (see AppendSnapshot).
	MaxPlayers int
}

// World is the server's authoritative state: the players, their queued
// inputs and the tick counter. It is not safe for concurrent use; the server
// drives it from its reactor loop.
type World struct {
	tickRate   uint8
	dt         float64
	maxPlayers int
	tick       uint32
	nextID     uint16
	players    []*worldPlayer // sorted by id
}

type worldPlayer struct {
	state     PlayerState
	lastSeq   uint32  // highest Seq accepted by Apply
	lastInput uint32  // highest Seq applied by Tick, reported as Snapshot.LastInput
	queue     []Input // accepted, not yet applied, in Seq order
}

// NewWorld returns an empty world at tick 0.
func NewWorld(cfg WorldConfig) *World {
	if cfg.TickRate == 0 {
		cfg.TickRate = DefaultTickRate
	}
	if cfg.MaxPlayers <= 0 {
		cfg.MaxPlayers = MaxPlayers
	}
	// Leave at least one id free besides 0, so Add always finds one.
	cfg.MaxPlayers = min(cfg.MaxPlayers, math.MaxUint16-1)
	return &World{
		tickRate:   cfg.TickRate,
		dt:         TickDT(cfg.TickRate),
		maxPlayers: cfg.MaxPlayers,
		nextID:     1,
	}
}

// TickRate returns the world's ticks per second, for Welcome.TickRate.
func (w *World) TickRate() uint8 { return w.tickRate }

// CurrentTick returns the number of ticks run so far, for Snapshot.Tick.
func (w *World) CurrentTick() uint32 { return w.tick }

// Len returns the number of players.
func (w *World) Len() int { return len(w.players) }

// Add adds a player at its spawn point and returns its id, or ErrWorldFull.
// Ids start at 1 (0 is never used, so it can mean "nobody") and count up,
// skipping ids in use, so a leaving player's id is not handed out again soon
// after, while snapshots naming the old player may still be in flight.
func (w *World) Add() (uint16, error) {
	if len(w.players) >= w.maxPlayers {
		return 0, ErrWorldFull
	}
	id := w.nextID
	for id == 0 || w.find(id) >= 0 {
		id++
	}
	w.nextID = id + 1
	w.insert(id)
	return id, nil
}

// Join adds a player with an id chosen elsewhere (a session's id) at its
// spawn point. It returns ErrWorldFull when the world is full, and an error
// matching ErrBadPlayerID for id 0 or an id already in the world.
func (w *World) Join(id uint16) error {
	if len(w.players) >= w.maxPlayers {
		return ErrWorldFull
	}
	if id == 0 || w.find(id) >= 0 {
		return fmt.Errorf("%w: %d", ErrBadPlayerID, id)
	}
	w.insert(id)
	return nil
}

// insert adds player id, which is not in the world, at its spawn point.
func (w *World) insert(id uint16) {
	x, y := spawnPoint(id)
	p := &worldPlayer{
		state: PlayerState{ID: id, X: x, Y: y, Facing: FacingDown},
		queue: make([]Input, 0, MaxQueuedInputs),
	}
	i, _ := slices.BinarySearchFunc(w.players, id, cmpPlayerID)
	w.players = slices.Insert(w.players, i, p)
}

// spawnPoint places players on an 8x8 grid of cells over the arena, so that
// the first 64 ids get distinct places.
func spawnPoint(id uint16) (x, y float64) {
	const cols, rows = 8, 8
	cell := int(id-1) % (cols * rows)
	cx, cy := cell%cols, cell/cols
	x = clampToGrid((float64(cx)+0.5)*ArenaW/cols, PlayerRadius, ArenaW-PlayerRadius)
	y = clampToGrid((float64(cy)+0.5)*ArenaH/rows, PlayerRadius, ArenaH-PlayerRadius)
	return x, y
}

// Remove removes a player and reports whether it was there.
func (w *World) Remove(id uint16) bool {
	i := w.find(id)
	if i < 0 {
		return false
	}
	w.players = slices.Delete(w.players, i, i+1)
	return true
}

// Player returns a player's state.
func (w *World) Player(id uint16) (PlayerState, bool) {
	i := w.find(id)
	if i < 0 {
		return PlayerState{}, false
	}
	return w.players[i].state, true
}

// LastInput returns the Seq of the last input of player id that Tick
// applied, for Snapshot.LastInput (0 for none or no such player).
func (w *World) LastInput(id uint16) uint32 {
	i := w.find(id)
	if i < 0 {
		return 0
	}
	return w.players[i].lastInput
}

// Apply queues an input of the client that owns player id; the next Tick
// applies it. It refuses, leaving the world unchanged:
//   - ErrUnknownPlayer: no player id;
//   - ErrWrongPlayer: in.PlayerID is not id (the client claims another
//     player's id; the server should drop it);
//   - ErrStaleInput: in.Seq is not above every Seq accepted before (a
//     duplicate, or reordered by the network);
//   - ErrInputQueueFull: MaxQueuedInputs inputs already wait for this tick.
//
// A refused input is never applied; the client's Predictor corrects itself
// when the next snapshot's LastInput passes over it.
func (w *World) Apply(id uint16, in Input) error {
	i := w.find(id)
	switch {
	case i < 0:
		return ErrUnknownPlayer
	case in.PlayerID != id:
		return ErrWrongPlayer
	}
	p := w.players[i]
	switch {
	case in.Seq <= p.lastSeq:
		return ErrStaleInput
	case len(p.queue) >= MaxQueuedInputs:
		return ErrInputQueueFull
	}
	p.lastSeq = in.Seq
	p.queue = append(p.queue, in)
	return nil
}

// Tick advances the world by one tick: every player's queued inputs are
// applied in Seq order, one tick of movement each, and the tick counter
// increases.
func (w *World) Tick() {
	for _, p := range w.players {
		for _, in := range p.queue {
			Step(&p.state, in.Buttons, w.dt)
			p.lastInput = in.Seq
		}
		p.queue = p.queue[:0]
	}
	w.tick++
}

// Players appends every player's state to dst, in increasing id order as
// Snapshot requires, and returns the extended slice. Build it once per tick
// and share it between the snapshots of all clients (see SnapshotFor).
func (w *World) Players(dst []PlayerState) []PlayerState {
	for _, p := range w.players {
		dst = append(dst, p.state)
	}
	return dst
}

// SnapshotFor returns the snapshot for the client of player id: the current
// tick, that client's LastInput and players (from Players).
func (w *World) SnapshotFor(id uint16, players []PlayerState) Snapshot {
	return Snapshot{Tick: w.tick, LastInput: w.LastInput(id), Players: players}
}

// find returns the index of player id in w.players, or -1.
func (w *World) find(id uint16) int {
	i, ok := slices.BinarySearchFunc(w.players, id, cmpPlayerID)
	if !ok {
		return -1
	}
	return i
}

func cmpPlayerID(p *worldPlayer, id uint16) int {
	return int(p.state.ID) - int(id)
}
