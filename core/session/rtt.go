package session

import (
	"math"
	"time"
)

// RTT is a round-trip-time estimate: the numbers a net graph shows. The
// package keeps one per session, fed by its keepalive pings; Add takes
// samples from anywhere else too. The zero value is an estimate with no
// samples.
type RTT struct {
	Last     time.Duration // the newest sample
	Smoothed time.Duration // exponentially smoothed, gain 1/8 (RFC 6298's SRTT)
	// Jitter is the smoothed difference between consecutive samples, gain
	// 1/16 (RFC 3550's interarrival jitter, applied to round trips).
	Jitter  time.Duration
	Min     time.Duration // the smallest sample
	Samples uint64        // how many samples were added
}

// Add takes one sample; a negative one is ignored.
func (r *RTT) Add(sample time.Duration) {
	if sample < 0 {
		return
	}
	if r.Samples == 0 {
		r.Smoothed, r.Min = sample, sample
	} else {
		r.Smoothed += (sample - r.Smoothed) / 8
		d := sample - r.Last
		if d < 0 {
			d = -d
		}
		r.Jitter += (d - r.Jitter) / 16
		r.Min = min(r.Min, sample)
	}
	r.Last = sample
	r.Samples++
}

// Backoff is how long a client waits between connection attempts: the
// first wait is Initial, each next one Factor times longer, up to Max, and
// each is shortened by a random part of up to Jitter of it, so that many
// clients cut off at once (a server restart) do not all come back in the
// same instant. Zero fields take their defaults.
type Backoff struct {
	Initial time.Duration // default 250ms
	Max     time.Duration // default 4s
	Factor  float64       // default 2
	// Jitter is the share of each wait drawn at random, 0 to 1: a wait d
	// becomes a uniform draw from [d·(1−Jitter), d]. Default 0.5; negative
	// means none.
	Jitter float64
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 250 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 4 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if !(b.Factor >= 1) {
		b.Factor = 2
	}
	switch {
	case b.Jitter == 0:
		b.Jitter = 0.5
	case b.Jitter > 1:
		b.Jitter = 1
	}
	return b
}

// Delay returns the wait before attempt n (1 for the first retry) for a
// random draw u in [0, 1). Zero fields take their defaults.
func (b Backoff) Delay(n int, u float64) time.Duration {
	b = b.withDefaults()
	d := float64(b.Initial) * math.Pow(b.Factor, float64(max(n, 1)-1))
	d = min(d, float64(b.Max))
	d -= d * max(b.Jitter, 0) * min(max(u, 0), 1)
	return time.Duration(d)
}

// tokenBucket bounds the log lines a remote peer can cause.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	} else {
		b.tokens = b.burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
