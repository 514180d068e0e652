package game

import (
	"math"
	"slices"
)

// MaxPendingInputs caps the inputs a Predictor keeps for replay: about four
// seconds at the default tick rate. A client whose inputs go unacknowledged
// for longer has bigger problems; the oldest inputs are dropped, and the next
// snapshot corrects whatever they would have replayed.
const MaxPendingInputs = 128

// Predictor moves the client's own player at once on each input instead of
// waiting a round trip for the server (client-side prediction), and
// reconciles with every snapshot: it resets to the server's position for the
// player, which is LastInput inputs old, and replays the inputs sent since.
// With no loss and no server-side intervention the replay lands exactly where
// the prediction already was, so the player never jumps; otherwise it snaps
// to the server's truth plus the replayed inputs.
//
// A Predictor is not safe for concurrent use.
type Predictor struct {
	id      uint16
	dt      float64
	state   PlayerState
	known   bool    // state is based on a snapshot
	tick    uint32  // Tick of the last snapshot reconciled with
	nextSeq uint32  // Seq of the last Input made
	acked   uint32  // LastInput of the last snapshot reconciled with
	pending []Input // sent, not acknowledged, in Seq order
}

// NewPredictor returns a Predictor for player id (Welcome.PlayerID) of a
// server ticking at tickRate (Welcome.TickRate). Its position is unknown
// until the first Reconcile.
func NewPredictor(id uint16, tickRate uint8) *Predictor {
	return &Predictor{
		id:      id,
		dt:      TickDT(tickRate),
		pending: make([]Input, 0, MaxPendingInputs),
	}
}

// Input records one tick of buttons, applies it to the prediction and
// returns the Input to send, with the next Seq (the first is 1). Call it
// once per client tick; ticks with no buttons held may be skipped, as they
// move nothing.
func (p *Predictor) Input(buttons uint8) Input {
	p.nextSeq++
	in := Input{PlayerID: p.id, Seq: p.nextSeq, Buttons: buttons}
	if len(p.pending) == MaxPendingInputs {
		p.pending = slices.Delete(p.pending, 0, 1)
	}
	p.pending = append(p.pending, in)
	if p.known {
		Step(&p.state, buttons, p.dt)
	}
	return in
}

// Reconcile corrects the prediction with a snapshot: the own player's state
// in s becomes the base, the inputs s.LastInput acknowledges are forgotten,
// and the rest are replayed. It returns how far, in px, the predicted
// position moved (0 when the prediction was right), and false, changing
// nothing, if s is older than a snapshot already reconciled with (reordered
// by the network) or does not contain the own player.
func (p *Predictor) Reconcile(s Snapshot) (correction float64, ok bool) {
	if p.known && (s.Tick < p.tick || s.LastInput < p.acked) {
		return 0, false
	}
	i, found := slices.BinarySearchFunc(s.Players, p.id, func(ps PlayerState, id uint16) int {
		return int(ps.ID) - int(id)
	})
	if !found {
		return 0, false
	}
	// A server acknowledging inputs never sent is wrong, but must not make
	// us replay nothing forever.
	acked := min(s.LastInput, p.nextSeq)
	n := 0
	for n < len(p.pending) && p.pending[n].Seq <= acked {
		n++
	}
	p.pending = slices.Delete(p.pending, 0, n)

	before, wasKnown := p.state, p.known
	p.state = s.Players[i]
	for _, in := range p.pending {
		Step(&p.state, in.Buttons, p.dt)
	}
	p.known, p.tick, p.acked = true, s.Tick, acked
	if !wasKnown {
		return 0, true
	}
	return math.Hypot(p.state.X-before.X, p.state.Y-before.Y), true
}

// State returns the predicted state of the own player, and false before the
// first successful Reconcile, when the position is not known yet.
func (p *Predictor) State() (PlayerState, bool) {
	return p.state, p.known
}

// Pending returns the number of inputs sent but not yet acknowledged.
func (p *Predictor) Pending() int { return len(p.pending) }
