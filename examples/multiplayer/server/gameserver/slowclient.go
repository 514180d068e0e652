package gameserver

import (
	"fmt"
	"time"

	"github.com/threadedselect/reactor/core"
)

// ReasonSlow is the leave reason of a player dropped for not reading what
// the server sends (Config.SlowClientQueue).
const ReasonSlow = "slow"

// unsent is what the server has sent a client over TCP that the client has
// not taken yet, as far as the server can tell: the connection's queue in
// the process plus what the kernel holds unacknowledged, where the platform
// says (core.ConnStats.KernelQueued, -1 elsewhere).
func unsent(st core.ConnStats) int {
	return st.Queued + max(st.KernelQueued, 0)
}

// sendBufferOption returns the listen option that caps the kernel's send
// buffer of each connection at n bytes (Config.SendBuffer), or none for
// n <= 0 (the system's default).
func sendBufferOption(n int) []core.ListenOption {
	if n <= 0 {
		return nil
	}
	return []core.ListenOption{core.WithSendBuffer(n)}
}

// checkBackpressure runs every tick, before the snapshots, for every
// player, bound to UDP or not (players joining and leaving go over TCP to
// everybody): a player with more than SlowClientQueue bytes unsent is
// marked backed up (its TCP snapshots are skipped) and dropped with
// reason=slow once that lasted SlowClientTimeout; one whose queue in the
// process is above four times that is dropped at once, so that a storm of
// joins and leaves cannot grow it meanwhile.
//
// A client that does not read can also hide behind the kernel's buffers
// (its own receive buffer grows to megabytes while it acknowledges
// everything): the session package pings every client and drops one that
// answers no ping for SlowClientTimeout + 1 s
// (session.ServerConfig.PongTimeout, session.ErrNotReading), which the
// leave line also reports as reason=slow.
func (s *Server) checkBackpressure(now time.Time) {
	hard := 4 * s.cfg.SlowClientQueue
	for _, pl := range s.players {
		st, ok := pl.p.ConnStats()
		if !ok {
			continue
		}
		switch n := unsent(st); {
		case st.Queued > hard:
			s.kicks = append(s.kicks, slowKick{pl, fmt.Errorf("%w: %d bytes queued, limit %d", ErrSlowClient, st.Queued, hard)})
		case n > s.cfg.SlowClientQueue:
			if pl.backedUp.IsZero() {
				pl.backedUp = now
			} else if stuck := now.Sub(pl.backedUp); stuck >= s.cfg.SlowClientTimeout {
				s.kicks = append(s.kicks, slowKick{pl, fmt.Errorf("%w: %d bytes unsent, above %d for %v", ErrSlowClient, n, s.cfg.SlowClientQueue, stuck.Round(time.Millisecond))})
			}
		default:
			pl.backedUp = time.Time{}
		}
	}
	// Disconnect outside the loop: it changes s.players.
	for i, k := range s.kicks {
		s.stats.SlowDrops++
		k.pl.slow = true
		k.pl.p.Kick(kickText(k.err))
		s.kicks[i] = slowKick{}
	}
	s.kicks = s.kicks[:0]
}

// serverPingInterval is the margin added to SlowClientTimeout for a client
// that answers no ping (session.ServerConfig.PongTimeout).
const serverPingInterval = time.Second

// slowKick is a player to drop for being slow, and why.
type slowKick struct {
	pl  *player
	err error
}
