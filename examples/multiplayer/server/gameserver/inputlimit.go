package gameserver

import (
	"fmt"
	"math"
	"time"

	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// inputLimit judges one client's inputs (see Config.InputRate and
// Config.FloodTolerance). It separates two questions:
//
//   - which inputs the world applies: at most InputRate a second with a
//     burst of InputBurst (apply), so that nobody moves faster than the
//     others; the rest are dropped and the client's prediction corrects
//     itself;
//   - whether the client is flooding: judged by what its inputs claim, not
//     by when they arrive. Sequence numbers start at 1 and an honest client
//     sends at most one input per tick, so a Seq above InputRate × (time
//     since joining) + FloodTolerance is a lie; and a client may send no
//     more than InputRate inputs a second on average, with a burst as deep
//     as the idle timeout (recv), which catches repeated or stale sequence
//     numbers.
//
// Inputs that queued up behind a stalled network or a paused server arrive
// together but were numbered in real time, so they never count as a flood.
type inputLimit struct {
	joined time.Time
	apply  *game.TokenBucket
	recv   *game.TokenBucket
}

func newInputLimit(cfg *Config, now time.Time) inputLimit {
	deep := max(cfg.InputBurst, int(math.Ceil(cfg.InputRate*cfg.IdleTimeout.Seconds())))
	return inputLimit{
		joined: now,
		apply:  game.NewTokenBucket(cfg.InputRate, cfg.InputBurst),
		recv:   game.NewTokenBucket(cfg.InputRate, deep),
	}
}

// maxSeq is the highest sequence number an honest client can have sent by
// now.
func (l *inputLimit) maxSeq(cfg *Config, now time.Time) uint64 {
	elapsed := max(now.Sub(l.joined), 0).Seconds()
	return uint64(cfg.InputRate*elapsed) + uint64(cfg.FloodTolerance)
}

// check returns ErrFlood if in claims more than the client can have sent
// or the client sends too many; otherwise it reports whether the world may
// apply in.
func (l *inputLimit) check(cfg *Config, in game.Input, now time.Time) (apply bool, err error) {
	if limit := l.maxSeq(cfg, now); uint64(in.Seq) > limit {
		return false, fmt.Errorf("%w: input %d is ahead of the clock: at most %d inputs in %v since joining",
			ErrFlood, in.Seq, limit, now.Sub(l.joined).Round(time.Millisecond))
	}
	if !l.recv.Allow(now) {
		return false, fmt.Errorf("%w: inputs above %v per second for longer than the idle timeout allows", ErrFlood, cfg.InputRate)
	}
	return l.apply.Allow(now), nil
}
