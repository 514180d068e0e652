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
// player, bound to UDP or not (players joining and leaving, and pongs, go
// over TCP to everybody): a player with more than SlowClientQueue bytes
// unsent is marked backed up (its TCP snapshots are skipped) and dropped
// with reason=slow once that lasted SlowClientTimeout; one whose queue in
// the process is above four times that is dropped at once, so that a
// storm of joins and leaves cannot grow it meanwhile.
func (s *Server) checkBackpressure(now time.Time) {
	hard := 4 * s.cfg.SlowClientQueue
	for _, c := range s.players {
		if c.state != statePlaying {
			continue
		}
		st := c.t.Stats()
		switch n := unsent(st); {
		case st.Queued > hard:
			s.kicks = append(s.kicks, slowKick{c, fmt.Errorf("%w: %d bytes queued, limit %d", ErrSlowClient, st.Queued, hard)})
		case n > s.cfg.SlowClientQueue:
			if c.backedUp.IsZero() {
				c.backedUp = now
			} else if stuck := now.Sub(c.backedUp); stuck >= s.cfg.SlowClientTimeout {
				s.kicks = append(s.kicks, slowKick{c, fmt.Errorf("%w: %d bytes unsent, above %d for %v", ErrSlowClient, n, s.cfg.SlowClientQueue, stuck.Round(time.Millisecond))})
			}
		default:
			c.backedUp = time.Time{}
		}
	}
	// Disconnect outside the loop: it changes s.players.
	for i, k := range s.kicks {
		s.stats.SlowDrops++
		k.c.kick(ReasonSlow, k.err)
		s.kicks[i] = slowKick{}
	}
	s.kicks = s.kicks[:0]
}

// slowKick is a player to drop for being slow, and why.
type slowKick struct {
	c   *conn
	err error
}
