package game

import (
	"errors"
	"testing"
)

// World.Join takes ids chosen elsewhere (a session's), refuses 0, an id in
// use and a full world, and places the player at its spawn point.
func TestWorldJoin(t *testing.T) {
	w := NewWorld(WorldConfig{MaxPlayers: 2})
	if err := w.Join(3); err != nil {
		t.Fatal(err)
	}
	if err := w.Join(3); !errors.Is(err, ErrBadPlayerID) {
		t.Fatalf("id in use: %v", err)
	}
	if err := w.Join(0); !errors.Is(err, ErrBadPlayerID) {
		t.Fatalf("id 0: %v", err)
	}
	if err := w.Join(1); err != nil {
		t.Fatal(err)
	}
	if err := w.Join(2); !errors.Is(err, ErrWorldFull) {
		t.Fatalf("full: %v", err)
	}
	p, ok := w.Player(3)
	x, y := spawnPoint(3)
	if !ok || p.X != x || p.Y != y {
		t.Fatalf("player 3: %+v %v", p, ok)
	}
	if ids := w.Players(nil); len(ids) != 2 || ids[0].ID != 1 || ids[1].ID != 3 {
		t.Fatalf("players %+v", ids)
	}
	tick, aw, ah, err := DecodeWelcomeData(AppendWelcomeData(nil, 30))
	if err != nil || tick != 30 || aw != ArenaW || ah != ArenaH {
		t.Fatalf("welcome data: %d %d %d %v", tick, aw, ah, err)
	}
	if _, _, _, err := DecodeWelcomeData([]byte{30}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short welcome data: %v", err)
	}
}
