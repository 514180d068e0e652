package game

import (
	"math"
	"testing"
)

// buttonsAt is a scripted player: a mix of straight, diagonal, idle and
// cancelling inputs that also runs into walls.
func buttonsAt(tick int) uint8 {
	script := []uint8{
		ButtonRight, ButtonRight, ButtonRight | ButtonDown, ButtonDown, 0,
		ButtonLeft | ButtonUp, ButtonLeft | ButtonRight, ButtonUp, ButtonUp, ButtonLeft,
	}
	return script[(tick/7)%len(script)]
}

// TestPredictorMatchesServer runs a server World and a client Predictor
// connected by a lossless link with latency in both directions and checks
// that reconciliation never moves the prediction and that, once everything
// is delivered, the prediction equals the server's position.
func TestPredictorMatchesServer(t *testing.T) {
	tests := []struct {
		name       string
		up, down   int // latency in ticks, client→server and server→client
		skipIdle   bool
		tickRate   uint8
		clientSkew int // every clientSkew ticks the client sends two inputs (its clock runs fast); 0: never
	}{
		{"minimal latency", 0, 1, false, DefaultTickRate, 0}, // a snapshot is read the tick after it is sent
		{"symmetric", 3, 3, false, DefaultTickRate, 0},
		{"asymmetric", 1, 7, false, DefaultTickRate, 0},
		{"idle inputs skipped", 4, 2, true, DefaultTickRate, 0},
		{"60 Hz", 6, 6, false, 60, 0},
		{"fast client clock", 2, 2, false, DefaultTickRate, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWorld(WorldConfig{TickRate: tt.tickRate})
			id, _ := w.Add()
			other, _ := w.Add() // another player, to show it does not disturb
			pred := NewPredictor(id, w.TickRate())

			toServer := map[int][]Input{}    // by delivery tick
			toClient := map[int][]Snapshot{} // by delivery tick
			const ticks = 300
			for tick := range ticks + tt.up + tt.down + 2 {
				// Client: sample and send one input per tick (two when its
				// clock is fast), while the script lasts.
				sends := 1
				if tt.clientSkew > 0 && tick%tt.clientSkew == 0 {
					sends = 2
				}
				for range sends {
					if b := buttonsAt(tick); tick < ticks && (b != 0 || !tt.skipIdle) {
						in := pred.Input(b)
						toServer[tick+tt.up] = append(toServer[tick+tt.up], in)
					}
				}
				// Client: receive snapshots.
				for _, s := range toClient[tick] {
					if corr, ok := pred.Reconcile(s); !ok || corr != 0 {
						t.Fatalf("tick %d: Reconcile = %v, %v; want no correction", tick, corr, ok)
					}
				}
				// Server: receive inputs, tick, send snapshots.
				for _, in := range toServer[tick] {
					if err := w.Apply(id, in); err != nil {
						t.Fatalf("tick %d: Apply: %v", tick, err)
					}
				}
				if err := w.Apply(other, Input{PlayerID: other, Seq: uint32(tick + 1), Buttons: ButtonLeft}); err != nil {
					t.Fatal(err)
				}
				w.Tick()
				toClient[tick+tt.down] = append(toClient[tick+tt.down], w.SnapshotFor(id, w.Players(nil)))
			}
			got, known := pred.State()
			want, _ := w.Player(id)
			if !known || got != want {
				t.Errorf("prediction %+v (known %v), server %+v", got, known, want)
			}
			if pred.Pending() != 0 {
				t.Errorf("%d inputs still pending", pred.Pending())
			}
		})
	}
}

func TestPredictorCorrection(t *testing.T) {
	pred := NewPredictor(7, DefaultTickRate)
	if _, known := pred.State(); known {
		t.Fatal("position known before any snapshot")
	}
	// Inputs sent before the first snapshot are replayed on it.
	pred.Input(ButtonRight) // seq 1
	pred.Input(ButtonRight) // seq 2
	if _, ok := pred.Reconcile(Snapshot{Tick: 1, Players: []PlayerState{{ID: 7, X: 100, Y: 100}}}); !ok {
		t.Fatal("first Reconcile failed")
	}
	if p, _ := pred.State(); p.X != 112 || p.Y != 100 {
		t.Fatalf("after first snapshot: %+v, want (112, 100)", p)
	}
	pred.Input(ButtonDown) // seq 3
	pred.Input(ButtonDown) // seq 4

	// The server applied 1 and 2 but put the player elsewhere (say it was
	// pushed): the prediction snaps to the server's position plus inputs 3
	// and 4.
	corr, ok := pred.Reconcile(Snapshot{Tick: 2, LastInput: 2, Players: []PlayerState{
		{ID: 3, X: 500, Y: 500},
		{ID: 7, X: 200, Y: 50, Facing: FacingLeft},
	}})
	p, _ := pred.State()
	if !ok || p.X != 200 || p.Y != 62 || p.Facing != FacingDown {
		t.Fatalf("after correction: %+v (ok %v), want (200, 62) facing down", p, ok)
	}
	if want := math.Hypot(200-112, 62-112); corr != want {
		t.Errorf("correction = %v, want %v", corr, want)
	}
	if pred.Pending() != 2 {
		t.Errorf("Pending = %d, want 2", pred.Pending())
	}

	// Stale and foreign snapshots change nothing.
	for _, s := range []Snapshot{
		{Tick: 1, LastInput: 2, Players: []PlayerState{{ID: 7, X: 1, Y: 1}}},  // older tick
		{Tick: 3, LastInput: 1, Players: []PlayerState{{ID: 7, X: 1, Y: 1}}},  // older ack
		{Tick: 3, LastInput: 4, Players: []PlayerState{{ID: 8, X: 1, Y: 1}}},  // own player missing
		{Tick: 3, LastInput: 4, Players: []PlayerState{{ID: 70, X: 1, Y: 1}}}, // own player missing
	} {
		if _, ok := pred.Reconcile(s); ok {
			t.Errorf("Reconcile(%+v) accepted", s)
		}
	}
	if q, _ := pred.State(); q != p || pred.Pending() != 2 {
		t.Errorf("ignored snapshots changed the state to %+v, pending %d", q, pred.Pending())
	}

	// Everything acknowledged: the server's position is the prediction.
	if _, ok := pred.Reconcile(Snapshot{Tick: 3, LastInput: 4, Players: []PlayerState{{ID: 7, X: 10, Y: 20}}}); !ok {
		t.Fatal("Reconcile failed")
	}
	if q, _ := pred.State(); q.X != 10 || q.Y != 20 || pred.Pending() != 0 {
		t.Errorf("after full ack: %+v, pending %d", q, pred.Pending())
	}

	// Acknowledging inputs never sent acknowledges everything sent.
	pred.Input(ButtonUp) // seq 5
	if _, ok := pred.Reconcile(Snapshot{Tick: 4, LastInput: 1000, Players: []PlayerState{{ID: 7, X: 10, Y: 20}}}); !ok || pred.Pending() != 0 {
		t.Errorf("bogus ack: ok %v, pending %d", ok, pred.Pending())
	}
	if in := pred.Input(0); in.Seq != 6 || in.PlayerID != 7 {
		t.Errorf("next Input = %+v, want seq 6 of player 7", in)
	}
}

func TestPredictorPendingCap(t *testing.T) {
	pred := NewPredictor(1, DefaultTickRate)
	for range MaxPendingInputs + 50 {
		pred.Input(ButtonRight)
	}
	if pred.Pending() != MaxPendingInputs {
		t.Fatalf("Pending = %d, want %d", pred.Pending(), MaxPendingInputs)
	}
	// The oldest were dropped: an ack of the first input replays the
	// newest MaxPendingInputs.
	pred.Reconcile(Snapshot{Tick: 1, LastInput: 1, Players: []PlayerState{{ID: 1, X: PlayerRadius, Y: 100}}})
	if p, _ := pred.State(); p.X != PlayerRadius+6*MaxPendingInputs {
		t.Errorf("X = %v, want %v", p.X, PlayerRadius+6*MaxPendingInputs)
	}
}
