package ebitenreactor

import (
	"fmt"
	"math"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
)

// budget is the time the reactor may take at the start of each tick: a
// fixed duration, or a fraction of the tick at the current TPS. Game
// goroutine only.
type budget struct {
	fixed    time.Duration // > 0: use this
	fraction float64       // else this share of a tick
	tps      float64       // the TPS the cached value was computed for
	value    time.Duration
}

// current returns the budget for this tick. TPS is read every tick
// (ebiten.TPS is an atomic load) so SetTPS takes effect at once; the
// division is redone only when it changed.
func (b *budget) current() time.Duration {
	if b.fixed > 0 {
		return b.fixed
	}
	tps := float64(ebiten.TPS())
	if tps <= 0 {
		// SyncWithFPS: a tick is a frame. Use the measured frame rate,
		// falling back to the default TPS before there is one.
		tps = ebiten.ActualFPS()
		if tps < 1 {
			tps = ebiten.DefaultTPS
		}
	}
	if tps != b.tps || b.value == 0 {
		b.tps = tps
		b.value = budgetFor(tps, b.fraction)
	}
	return b.value
}

// budgetFor is fraction of one tick at tps ticks a second, never less than
// a microsecond (a zero budget would mean "one round" to core.Drain).
func budgetFor(tps, fraction float64) time.Duration {
	d := time.Duration(float64(time.Second) * fraction / tps)
	return max(d, time.Microsecond)
}

// Budget returns the drain budget for the next tick. Game goroutine only.
func (g *Game) Budget() time.Duration { return g.budget.current() }

// SetBudget sets a fixed drain budget per tick, like WithBudget. Game
// goroutine only (or before RunGame, the goroutine that called Wrap).
func (g *Game) SetBudget(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: drain budget %v is not positive", ErrInvalidArgument, d)
	}
	g.budget = budget{fixed: d}
	return nil
}

// SetBudgetFraction sets the drain budget as a share of a tick, like
// WithBudgetFraction. Game goroutine only.
func (g *Game) SetBudgetFraction(f float64) error {
	if !(f > 0 && f <= 1) || math.IsNaN(f) {
		return fmt.Errorf("%w: drain budget fraction %v is not in (0, 1]", ErrInvalidArgument, f)
	}
	g.budget = budget{fraction: f}
	return nil
}
