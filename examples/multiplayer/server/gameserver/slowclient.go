package gameserver

import (
	"fmt"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
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

// serverPingInterval is how often the server pings every player over TCP.
const serverPingInterval = time.Second

// checkReading pings c (when ping is true) and drops it with reason=slow if
// it has not answered a Ping sent more than SlowClientTimeout plus the ping
// interval ago. The kernel's buffers can hide a client that does not read:
// the client's own receive buffer grows to several MiB on Linux without the
// client reading a byte, all the while acknowledging what it gets, so that
// no queue on the server grows. A Ping travels in order behind everything
// sent before it, so its answer says how far behind the client reads,
// whatever the buffers hold. Clients answer the server's Pings with a Pong
// carrying the same T (netclient does).
func (s *Server) checkReading(c *conn, now time.Time, ping bool) {
	if lag := now.Sub(c.answeredAt); lag > s.cfg.SlowClientTimeout+serverPingInterval {
		s.stats.SlowDrops++
		c.kick(ReasonSlow, fmt.Errorf("%w: no answer to the server's pings for %v", ErrSlowClient, lag.Round(time.Millisecond)))
		return
	}
	if ping {
		c.pingedT = int64(now.Sub(s.epoch)) + 1 // never 0, the T of no ping
		_, _ = c.t.Write(s.frameMsg(game.AppendPing(s.msg[:0], game.Ping{T: c.pingedT})))
	}
}

// pong takes a client's answer to one of the server's Pings: its T must be
// one the server sent, after the last answered (TCP keeps them in order).
func (c *conn) pong(p game.Pong) error {
	if p.T <= c.answeredT || p.T > c.pingedT {
		return fmt.Errorf("%w: Pong %d answers no Ping of the server", ErrProtocol, p.T)
	}
	c.answeredT = p.T
	c.answeredAt = c.s.epoch.Add(time.Duration(p.T - 1))
	return nil
}

// slowKick is a player to drop for being slow, and why.
type slowKick struct {
	c   *conn
	err error
}
