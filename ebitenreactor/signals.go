package ebitenreactor

import (
	"os"
	"os/signal"
)

// signalWatch turns termination signals into a shutdown request without a
// goroutine of its own: signal.Notify delivers into a one-slot channel that
// Update looks at every tick, so nothing outlives the game and nothing
// touches game state off the game goroutine. The price is that a signal is
// noticed at the next tick, at most one tick later.
type signalWatch struct {
	ch     chan os.Signal
	active bool
}

// start installs the handler for sigs; none: no handler.
func (s *signalWatch) start(sigs []os.Signal) {
	if len(sigs) == 0 || s.active {
		return
	}
	s.ch = make(chan os.Signal, 1)
	signal.Notify(s.ch, sigs...)
	s.active = true
}

// poll reports a signal received since the last call. After the first one
// the handler is removed, so that a second signal has its default effect:
// a user can still kill a game whose shutdown hangs.
func (s *signalWatch) poll() (os.Signal, bool) {
	if !s.active {
		return nil, false
	}
	select {
	case sig := <-s.ch:
		s.stop()
		return sig, true
	default:
		return nil, false
	}
}

// stop removes the handler; the signals' default effects come back unless
// the program has handlers of its own.
func (s *signalWatch) stop() {
	if !s.active {
		return
	}
	signal.Stop(s.ch)
	s.active = false
}
