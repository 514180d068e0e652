package game

import (
	"errors"
	"math"
	"testing"
)

// dt30 is one tick at the default rate: PlayerSpeed*dt30 = 6 px.
var dt30 = TickDT(DefaultTickRate)

func TestStep(t *testing.T) {
	const cx, cy = 480, 270
	// A diagonal step is 6/√2 = 4.2426 px per axis, rounded to 4.25.
	const diag = 4.25
	tests := []struct {
		name       string
		from       PlayerState
		buttons    uint8
		wantX      float64
		wantY      float64
		wantFacing uint8
	}{
		{"none", PlayerState{X: cx, Y: cy, Facing: FacingUp}, 0, cx, cy, FacingUp},
		{"right", PlayerState{X: cx, Y: cy}, ButtonRight, cx + 6, cy, FacingRight},
		{"left", PlayerState{X: cx, Y: cy}, ButtonLeft, cx - 6, cy, FacingLeft},
		{"up", PlayerState{X: cx, Y: cy}, ButtonUp, cx, cy - 6, FacingUp},
		{"down", PlayerState{X: cx, Y: cy}, ButtonDown, cx, cy + 6, FacingDown},
		{"down right", PlayerState{X: cx, Y: cy}, ButtonDown | ButtonRight, cx + diag, cy + diag, FacingDownRight},
		{"down left", PlayerState{X: cx, Y: cy}, ButtonDown | ButtonLeft, cx - diag, cy + diag, FacingDownLeft},
		{"up left", PlayerState{X: cx, Y: cy}, ButtonUp | ButtonLeft, cx - diag, cy - diag, FacingUpLeft},
		{"up right", PlayerState{X: cx, Y: cy}, ButtonUp | ButtonRight, cx + diag, cy - diag, FacingUpRight},
		{"left+right cancel, facing kept", PlayerState{X: cx, Y: cy, Facing: FacingDown}, ButtonLeft | ButtonRight, cx, cy, FacingDown},
		{"up+down cancel", PlayerState{X: cx, Y: cy, Facing: FacingLeft}, ButtonUp | ButtonDown, cx, cy, FacingLeft},
		{"all four", PlayerState{X: cx, Y: cy, Facing: FacingUp}, ButtonMask, cx, cy, FacingUp},
		{"left+right+up", PlayerState{X: cx, Y: cy}, ButtonLeft | ButtonRight | ButtonUp, cx, cy - 6, FacingUp},
		{"undefined bits ignored", PlayerState{X: cx, Y: cy}, 0xf0 | ButtonRight, cx + 6, cy, FacingRight},
		{"clamp left", PlayerState{X: PlayerRadius + 1, Y: cy}, ButtonLeft, PlayerRadius, cy, FacingLeft},
		{"clamp right", PlayerState{X: ArenaW - PlayerRadius - 2, Y: cy}, ButtonRight, ArenaW - PlayerRadius, cy, FacingRight},
		{"clamp top", PlayerState{X: cx, Y: PlayerRadius}, ButtonUp, cx, PlayerRadius, FacingUp},
		{"clamp bottom", PlayerState{X: cx, Y: ArenaH - PlayerRadius - 0.5}, ButtonDown, cx, ArenaH - PlayerRadius, FacingDown},
		{"clamp corner", PlayerState{X: PlayerRadius, Y: PlayerRadius}, ButtonUp | ButtonLeft, PlayerRadius, PlayerRadius, FacingUpLeft},
		{"slide along wall", PlayerState{X: cx, Y: PlayerRadius}, ButtonUp | ButtonRight, cx + diag, PlayerRadius, FacingUpRight},
		{"off-grid start snaps", PlayerState{X: 100.01, Y: 100}, ButtonRight, 106, 100, FacingRight},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.from
			Step(&p, tt.buttons, dt30)
			if p.X != tt.wantX || p.Y != tt.wantY || p.Facing != tt.wantFacing {
				t.Errorf("Step = (%v, %v) facing %d, want (%v, %v) facing %d",
					p.X, p.Y, p.Facing, tt.wantX, tt.wantY, tt.wantFacing)
			}
		})
	}
}

// TestStepSpeed checks that diagonal movement is normalised: over many ticks
// every direction covers PlayerSpeed px per second, within the rounding.
func TestStepSpeed(t *testing.T) {
	for _, buttons := range []uint8{ButtonRight, ButtonDown | ButtonRight, ButtonUp | ButtonLeft} {
		p := PlayerState{X: 480, Y: 270}
		for range DefaultTickRate { // one second
			Step(&p, buttons, dt30)
		}
		dist := math.Hypot(p.X-480, p.Y-270)
		if math.Abs(dist-PlayerSpeed) > PlayerSpeed*0.01 {
			t.Errorf("buttons %04b: %v px in a second, want %v", buttons, dist, PlayerSpeed)
		}
	}
}

// TestStepStaysOnGrid walks a player around with every button combination,
// at several tick rates, and checks the position stays inside the arena on
// the 1/16 px grid, so that the wire carries it exactly.
func TestStepStaysOnGrid(t *testing.T) {
	for _, rate := range []uint8{DefaultTickRate, 20, 60, 7} {
		p := PlayerState{X: 480, Y: 270}
		dt := TickDT(rate)
		for i := range 5000 {
			Step(&p, uint8(i*7/13)&ButtonMask, dt)
			if p.X*posScale != math.Trunc(p.X*posScale) || p.Y*posScale != math.Trunc(p.Y*posScale) {
				t.Fatalf("rate %d step %d: (%v, %v) off the 1/16 px grid", rate, i, p.X, p.Y)
			}
			if p.X < PlayerRadius || p.X > ArenaW-PlayerRadius || p.Y < PlayerRadius || p.Y > ArenaH-PlayerRadius {
				t.Fatalf("rate %d step %d: (%v, %v) outside the arena", rate, i, p.X, p.Y)
			}
			if q := float64(quantize(p.X)) / posScale; q != p.X {
				t.Fatalf("x %v goes on the wire as %v", p.X, q)
			}
		}
	}
}

func TestFacingVector(t *testing.T) {
	tests := []struct {
		facing uint8
		dx, dy float64
	}{
		{FacingRight, 1, 0},
		{FacingDown, 0, 1},
		{FacingLeft, -1, 0},
		{FacingUp, 0, -1},
		{FacingDownRight, math.Sqrt2 / 2, math.Sqrt2 / 2},
		{FacingUpLeft, -math.Sqrt2 / 2, -math.Sqrt2 / 2},
		{NumFacings, 0, 0},
	}
	for _, tt := range tests {
		dx, dy := FacingVector(tt.facing)
		if math.Abs(dx-tt.dx) > 1e-12 || math.Abs(dy-tt.dy) > 1e-12 {
			t.Errorf("FacingVector(%d) = (%v, %v), want (%v, %v)", tt.facing, dx, dy, tt.dx, tt.dy)
		}
	}
}

func TestTickDT(t *testing.T) {
	if TickDT(0) != TickDT(DefaultTickRate) || TickDT(60) != 1.0/60 {
		t.Errorf("TickDT(0) = %v, TickDT(60) = %v", TickDT(0), TickDT(60))
	}
}

func TestWorldAddRemove(t *testing.T) {
	w := NewWorld(WorldConfig{MaxPlayers: 3})
	if w.TickRate() != DefaultTickRate {
		t.Errorf("TickRate = %d", w.TickRate())
	}
	for want := uint16(1); want <= 3; want++ {
		id, err := w.Add()
		if err != nil || id != want {
			t.Fatalf("Add = %d, %v, want %d", id, err, want)
		}
	}
	if _, err := w.Add(); !errors.Is(err, ErrWorldFull) {
		t.Fatalf("Add to a full world: err = %v", err)
	}
	if !w.Remove(2) || w.Remove(2) {
		t.Fatal("Remove(2) twice did not report true, false")
	}
	// The freed id is not reused at once.
	if id, err := w.Add(); err != nil || id != 4 {
		t.Fatalf("Add after Remove = %d, %v, want 4", id, err)
	}
	if w.Len() != 3 {
		t.Errorf("Len = %d, want 3", w.Len())
	}
	var ids []uint16
	for _, p := range w.Players(nil) {
		ids = append(ids, p.ID)
	}
	if len(ids) != 3 || ids[0] != 1 || ids[1] != 3 || ids[2] != 4 {
		t.Errorf("Players ids = %v, want [1 3 4]", ids)
	}
}

func TestWorldIDsWrap(t *testing.T) {
	w := NewWorld(WorldConfig{})
	w.nextID = math.MaxUint16
	id1, _ := w.Add()
	id2, _ := w.Add()
	if id1 != math.MaxUint16 || id2 != 1 {
		t.Errorf("ids after wrapping = %d, %d, want 65535, 1 (0 is never used)", id1, id2)
	}
	w.nextID = 1
	if id, _ := w.Add(); id != 2 {
		t.Errorf("Add skipped to %d, want 2 (1 is in use)", id)
	}
}

func TestWorldSpawnsDistinct(t *testing.T) {
	w := NewWorld(WorldConfig{})
	seen := map[[2]float64]bool{}
	for range MaxPlayers {
		id, err := w.Add()
		if err != nil {
			t.Fatal(err)
		}
		p, _ := w.Player(id)
		if seen[[2]float64{p.X, p.Y}] {
			t.Fatalf("player %d spawned on another player at (%v, %v)", id, p.X, p.Y)
		}
		seen[[2]float64{p.X, p.Y}] = true
		if p.X < PlayerRadius || p.X > ArenaW-PlayerRadius || p.Y < PlayerRadius || p.Y > ArenaH-PlayerRadius {
			t.Fatalf("player %d spawned outside the arena at (%v, %v)", id, p.X, p.Y)
		}
	}
	// A full world's snapshot fits in one message.
	b, n := AppendSnapshot(nil, w.SnapshotFor(1, w.Players(nil)))
	if n != MaxPlayers || len(b) > MaxSnapshotBytes {
		t.Errorf("full world snapshot: %d players in %d bytes", n, len(b))
	}
}

func TestWorldApply(t *testing.T) {
	w := NewWorld(WorldConfig{})
	id, _ := w.Add()
	other, _ := w.Add()
	tests := []struct {
		name string
		id   uint16
		in   Input
		want error
	}{
		{"first", id, Input{PlayerID: id, Seq: 1, Buttons: ButtonRight}, nil},
		{"unknown player", 99, Input{PlayerID: 99, Seq: 2}, ErrUnknownPlayer},
		{"claims another id", id, Input{PlayerID: other, Seq: 2}, ErrWrongPlayer},
		{"duplicate", id, Input{PlayerID: id, Seq: 1}, ErrStaleInput},
		{"gap is fine", id, Input{PlayerID: id, Seq: 5, Buttons: ButtonRight}, nil},
		{"reordered", id, Input{PlayerID: id, Seq: 4}, ErrStaleInput},
		{"fills the queue 3", id, Input{PlayerID: id, Seq: 6, Buttons: ButtonDown}, nil},
		{"fills the queue 4", id, Input{PlayerID: id, Seq: 7}, nil},
		{"fills the queue 5", id, Input{PlayerID: id, Seq: 8}, nil},
		{"fills the queue 6", id, Input{PlayerID: id, Seq: 9}, nil},
		{"fills the queue 7", id, Input{PlayerID: id, Seq: 10}, nil},
		{"fills the queue 8", id, Input{PlayerID: id, Seq: 11}, nil},
		{"queue full", id, Input{PlayerID: id, Seq: 12, Buttons: ButtonUp}, ErrInputQueueFull},
	}
	for _, tt := range tests {
		if err := w.Apply(tt.id, tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: Apply = %v, want %v", tt.name, err, tt.want)
		}
	}
	start, _ := w.Player(id)
	if w.LastInput(id) != 0 {
		t.Errorf("LastInput before Tick = %d, want 0", w.LastInput(id))
	}
	w.Tick()
	got, _ := w.Player(id)
	want := start
	for _, b := range []uint8{ButtonRight, ButtonRight, ButtonDown, 0, 0, 0, 0, 0} {
		Step(&want, b, dt30)
	}
	if got != want {
		t.Errorf("after Tick: %+v, want %+v", got, want)
	}
	if w.LastInput(id) != 11 || w.CurrentTick() != 1 {
		t.Errorf("LastInput = %d, CurrentTick = %d, want 11, 1", w.LastInput(id), w.CurrentTick())
	}
	if s := w.SnapshotFor(id, w.Players(nil)); s.Tick != 1 || s.LastInput != 11 || len(s.Players) != 2 {
		t.Errorf("SnapshotFor = %+v", s)
	}
	// The queue is empty again, and the dropped Seq 12 is stale now.
	if err := w.Apply(id, Input{PlayerID: id, Seq: 12}); err != nil {
		t.Errorf("Apply after Tick: %v", err)
	}
	// A tick without input moves nothing.
	w.Tick()
	w.Tick()
	if p, _ := w.Player(id); p != got || w.LastInput(id) != 12 {
		t.Errorf("idle ticks moved the player to %+v, LastInput %d", p, w.LastInput(id))
	}
	if w.LastInput(99) != 0 {
		t.Error("LastInput of an unknown player is not 0")
	}
	if _, ok := w.Player(99); ok {
		t.Error("Player(99) found")
	}
}
