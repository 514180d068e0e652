package ebitenreactor

import (
	"errors"

	"github.com/threadedselect/reactor/core"
)

// Errors returned by this package. Compare with errors.Is.
var (
	// ErrInvalidArgument is returned for a nil game or reactor, or an option
	// value the plugin cannot use; the message says which. It is the same
	// value as core.ErrInvalidArgument, so either name matches.
	ErrInvalidArgument = core.ErrInvalidArgument

	// ErrDrivenElsewhere is returned by Wrap and RunGame when the reactor is
	// already running under another driver: Run, Interleave, or a Drain loop
	// on another goroutine. The plugin must be the only goroutine that
	// drains a reactor, so it refuses rather than race with that driver.
	ErrDrivenElsewhere = errors.New("ebitenreactor: the reactor is driven by another loop")

	// ErrShutdownIncomplete is returned by RunGame (and by the wrapped
	// Update, hence ebiten.RunGame) when the reactor's shutdown sequence
	// did not finish within the shutdown timeout plus the grace period: the
	// window was closed anyway and the reactor abandoned. What was cut off
	// is logged.
	ErrShutdownIncomplete = errors.New("ebitenreactor: the reactor's shutdown did not finish in time")
)
