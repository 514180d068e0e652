package game

import "time"

// TokenBucket is a rate limiter: a bucket of up to burst tokens, refilled at
// a steady rate; each allowed event takes one token. The server keeps one
// per client and drops inputs it does not allow, e.g.
// NewTokenBucket(1.1*float64(tickRate), MaxQueuedInputs): a little above
// the tick rate, so that an honest client whose clock runs slightly fast is
// not cut (a cheating one gains at most those 10% of speed), with a burst
// that absorbs network jitter.
//
// The tokens are measured in time rather than as a fraction (one token is
// the refill interval), so the arithmetic is exact integer nanoseconds and
// events spaced exactly one interval apart are always allowed. The caller
// supplies the time, so it is deterministic to test. It is not safe for
// concurrent use.
type TokenBucket struct {
	interval time.Duration // time to earn one token
	capacity time.Duration // burst tokens' worth of time
	credit   time.Duration // tokens held, as time
	last     time.Time     // when credit was last updated; zero before the first call
}

// NewTokenBucket returns a full bucket of burst tokens that refills at
// perSecond tokens per second. It panics if perSecond is not positive or burst
// is less than 1.
func NewTokenBucket(perSecond float64, burst int) *TokenBucket {
	if !(perSecond > 0) || burst < 1 {
		panic("game: NewTokenBucket needs perSecond > 0 and burst >= 1")
	}
	interval := max(time.Duration(float64(time.Second)/perSecond), 1)
	return &TokenBucket{
		interval: interval,
		capacity: interval * time.Duration(burst),
		credit:   interval * time.Duration(burst),
	}
}

// Allow reports whether an event at time now is allowed, taking a token if
// so. Time that goes backwards adds no tokens.
func (b *TokenBucket) Allow(now time.Time) bool {
	if !b.last.IsZero() {
		// Compare before adding: now.Sub saturates at the largest
		// Duration, and adding that to the credit would overflow.
		if elapsed := now.Sub(b.last); elapsed >= b.capacity-b.credit {
			b.credit = b.capacity
		} else if elapsed > 0 {
			b.credit += elapsed
		}
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.credit < b.interval {
		return false
	}
	b.credit -= b.interval
	return true
}
