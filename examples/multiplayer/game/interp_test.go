package game

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Unix(1_000_000, 0)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

func TestInterpolatorSample(t *testing.T) {
	ip := NewInterpolator(100*time.Millisecond, 50*time.Millisecond)
	if got := ip.Sample(ms(0), nil); len(got) != 0 {
		t.Fatalf("empty interpolator sampled %v", got)
	}
	// Player 1 walks right then down-right; player 2 leaves after the first
	// snapshot, player 3 arrives in the second.
	pushes := []struct {
		at int
		s  Snapshot
	}{
		{0, Snapshot{Tick: 10, Players: []PlayerState{
			{ID: 1, X: 100, Y: 100, Facing: FacingRight},
			{ID: 2, X: 200, Y: 200, Facing: FacingUp},
		}}},
		{100, Snapshot{Tick: 13, Players: []PlayerState{
			{ID: 1, X: 130, Y: 100, Facing: FacingRight},
			{ID: 3, X: 300, Y: 300, Facing: FacingLeft},
		}}},
		{200, Snapshot{Tick: 16, Players: []PlayerState{
			{ID: 1, X: 160, Y: 130, Facing: FacingDownRight},
			{ID: 3, X: 330, Y: 300, Facing: FacingRight},
		}}},
	}
	for _, p := range pushes {
		if !ip.Push(ms(p.at), p.s) {
			t.Fatalf("Push(tick %d) refused", p.s.Tick)
		}
	}
	tests := []struct {
		name string
		now  int // ms after t0; render time is 100 ms earlier
		want []PlayerState
	}{
		{"before the oldest: oldest as is", 50, []PlayerState{
			{ID: 1, X: 100, Y: 100, Facing: FacingRight}, {ID: 2, X: 200, Y: 200, Facing: FacingUp}}},
		{"at the oldest", 100, []PlayerState{
			{ID: 1, X: 100, Y: 100, Facing: FacingRight}, {ID: 2, X: 200, Y: 200, Facing: FacingUp}}},
		{"halfway; the leaver stays put", 150, []PlayerState{
			{ID: 1, X: 115, Y: 100, Facing: FacingRight}, {ID: 2, X: 200, Y: 200, Facing: FacingUp}}},
		{"at the second: leaver gone, newcomer there", 200, []PlayerState{
			{ID: 1, X: 130, Y: 100, Facing: FacingRight}, {ID: 3, X: 300, Y: 300, Facing: FacingLeft}}},
		{"quarter way, old facing", 225, []PlayerState{
			{ID: 1, X: 137.5, Y: 107.5, Facing: FacingRight}, {ID: 3, X: 307.5, Y: 300, Facing: FacingLeft}}},
		{"three quarters, new facing", 275, []PlayerState{
			{ID: 1, X: 152.5, Y: 122.5, Facing: FacingDownRight}, {ID: 3, X: 322.5, Y: 300, Facing: FacingRight}}},
		{"at the newest", 300, []PlayerState{
			{ID: 1, X: 160, Y: 130, Facing: FacingDownRight}, {ID: 3, X: 330, Y: 300, Facing: FacingRight}}},
		{"extrapolating 20 ms", 320, []PlayerState{
			{ID: 1, X: 166, Y: 136, Facing: FacingDownRight}, {ID: 3, X: 336, Y: 300, Facing: FacingRight}}},
		{"extrapolation capped at 50 ms", 400, []PlayerState{
			{ID: 1, X: 175, Y: 145, Facing: FacingDownRight}, {ID: 3, X: 345, Y: 300, Facing: FacingRight}}},
		{"still capped much later", 60_000, []PlayerState{
			{ID: 1, X: 175, Y: 145, Facing: FacingDownRight}, {ID: 3, X: 345, Y: 300, Facing: FacingRight}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkPlayers(t, ip.Sample(ms(tt.now), nil), tt.want)
		})
	}
}

// checkPlayers compares player lists, positions within floating-point noise.
func checkPlayers(t *testing.T, got, want []PlayerState) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Facing != w.Facing || math.Abs(g.X-w.X) > 1e-9 || math.Abs(g.Y-w.Y) > 1e-9 {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
}

func TestInterpolatorNoExtrapolation(t *testing.T) {
	ip := NewInterpolator(0, 0)
	ip.Push(ms(0), Snapshot{Tick: 1, Players: []PlayerState{{ID: 1, X: 100, Y: 100}}})
	ip.Push(ms(100), Snapshot{Tick: 2, Players: []PlayerState{{ID: 1, X: 200, Y: 100}}})
	checkPlayers(t, ip.Sample(ms(150), nil), []PlayerState{{ID: 1, X: 200, Y: 100}})
}

func TestInterpolatorBurst(t *testing.T) {
	// Two snapshots read in one go get the same arrival time.
	ip := NewInterpolator(0, time.Second)
	ip.Push(ms(0), Snapshot{Tick: 1, Players: []PlayerState{{ID: 1, X: 100, Y: 100}}})
	ip.Push(ms(0), Snapshot{Tick: 2, Players: []PlayerState{{ID: 1, X: 110, Y: 100}}})
	checkPlayers(t, ip.Sample(ms(0), nil), []PlayerState{{ID: 1, X: 110, Y: 100}})
	checkPlayers(t, ip.Sample(ms(500), nil), []PlayerState{{ID: 1, X: 110, Y: 100}})
}

func TestInterpolatorExtrapolationStaysInArena(t *testing.T) {
	ip := NewInterpolator(0, time.Second)
	ip.Push(ms(0), Snapshot{Tick: 1, Players: []PlayerState{{ID: 1, X: 900, Y: 100}}})
	ip.Push(ms(100), Snapshot{Tick: 2, Players: []PlayerState{{ID: 1, X: 940, Y: 100}}})
	checkPlayers(t, ip.Sample(ms(1000), nil), []PlayerState{{ID: 1, X: ArenaW - PlayerRadius, Y: 100}})
}

func TestInterpolatorPush(t *testing.T) {
	ip := NewInterpolator(0, 0)
	ip.Push(ms(0), Snapshot{Tick: 5, Players: []PlayerState{{ID: 4, X: 40, Y: 40}, {ID: 1, X: 10, Y: 10}}})
	// Unsorted input is sorted.
	checkPlayers(t, ip.Sample(ms(0), nil), []PlayerState{{ID: 1, X: 10, Y: 10}, {ID: 4, X: 40, Y: 40}})

	// The second half of a split snapshot merges into the first.
	if !ip.Push(ms(1), Snapshot{Tick: 5, Players: []PlayerState{{ID: 2, X: 20, Y: 20}, {ID: 4, X: 44, Y: 44}}}) {
		t.Fatal("same-tick Push refused")
	}
	if ip.Len() != 1 {
		t.Fatalf("Len = %d after a merge, want 1", ip.Len())
	}
	checkPlayers(t, ip.Sample(ms(0), nil), []PlayerState{{ID: 1, X: 10, Y: 10}, {ID: 2, X: 20, Y: 20}, {ID: 4, X: 44, Y: 44}})

	// An older snapshot, reordered by the network, is ignored.
	if ip.Push(ms(2), Snapshot{Tick: 4, Players: []PlayerState{{ID: 1, X: 99, Y: 99}}}) {
		t.Error("older Push accepted")
	}

	// A caller clock going backwards does not unorder the frames.
	ip.Push(ms(-50), Snapshot{Tick: 6, Players: []PlayerState{{ID: 1, X: 12, Y: 10}}})
	checkPlayers(t, ip.Sample(ms(0), nil), []PlayerState{{ID: 1, X: 12, Y: 10}})

	// The buffer is bounded and keeps the newest.
	for i := range 3 * InterpBufferLen {
		ip.Push(ms(100+i), Snapshot{Tick: uint32(100 + i), Players: []PlayerState{{ID: 1, X: float64(100 + i), Y: 10}}})
	}
	if ip.Len() != InterpBufferLen {
		t.Errorf("Len = %d, want %d", ip.Len(), InterpBufferLen)
	}
	checkPlayers(t, ip.Sample(ms(0), nil), []PlayerState{{ID: 1, X: float64(100 + 2*InterpBufferLen), Y: 10}})

	ip.Reset()
	if ip.Len() != 0 || len(ip.Sample(ms(0), nil)) != 0 {
		t.Error("Reset left snapshots")
	}
}

// TestInterpolatorNoAllocs checks that a client in steady state (one Push
// and one Sample per frame, buffers grown) allocates nothing.
func TestInterpolatorNoAllocs(t *testing.T) {
	ip := NewInterpolator(DefaultInterpDelay, DefaultMaxExtrapolation)
	s := Snapshot{Players: make([]PlayerState, MaxPlayers)}
	for i := range s.Players {
		s.Players[i] = PlayerState{ID: uint16(i + 1), X: 100, Y: 100}
	}
	dst := make([]PlayerState, 0, MaxPlayers)
	tick := 0
	step := func() {
		tick++
		s.Tick = uint32(tick)
		ip.Push(ms(33*tick), s)
		dst = ip.Sample(ms(33*tick), dst[:0])
	}
	for range 2 * InterpBufferLen {
		step() // grow every frame's slice
	}
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("%v allocations per Push+Sample, want 0", n)
	}
	if len(dst) != MaxPlayers {
		t.Errorf("sampled %d players, want %d", len(dst), MaxPlayers)
	}
}
