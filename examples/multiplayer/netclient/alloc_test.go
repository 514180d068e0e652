package netclient

import (
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// Receiving a snapshot (decode, interpolation buffer, reconciliation)
// allocates nothing once the interpolation buffer has filled.
func TestSnapshotPathAllocatesNothing(t *testing.T) {
	clock := core.NewFakeClock(time.Unix(1000, 0))
	r, err := core.New(core.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{net: netio.Reactor(r), names: map[uint16]string{},
		interp: game.NewInterpolator(game.DefaultInterpDelay, game.DefaultMaxExtrapolation)}
	s.st.PlayerID = 1
	s.pred = game.NewPredictor(1, game.DefaultTickRate)
	players := make([]game.PlayerState, 64)
	for i := range players {
		players[i] = game.PlayerState{ID: uint16(i + 1), X: 100, Y: 100}
	}
	var payload []byte
	tick := uint32(0)
	var remote []game.PlayerState
	step := func() {
		tick++
		for i := range players {
			players[i].X = 100 + float64(tick%64)
		}
		payload, _ = game.AppendSnapshot(payload[:0], game.Snapshot{Tick: tick, LastInput: tick, Players: players})
		_ = clock.Advance(33 * time.Millisecond)
		if err := s.snapshot(payload); err != nil {
			t.Fatal(err)
		}
		remote = s.Remote(remote[:0])
	}
	for range 2 * game.InterpBufferLen {
		step()
	}
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Fatalf("%v allocations per snapshot", n)
	}
	if len(remote) != 63 || s.st.Snapshots == 0 {
		t.Fatalf("%d remote players, %d snapshots", len(remote), s.st.Snapshots)
	}
}
