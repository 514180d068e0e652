package game

import (
	"math"
	"testing"
	"time"
)

// bucketEvent is a call of Allow at t0+at and its expected result.
type bucketEvent struct {
	at   time.Duration
	want bool
}

func TestTokenBucket(t *testing.T) {
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		events    []bucketEvent
	}{
		{"burst then empty", 10, 3, []bucketEvent{
			{0, true}, {0, true}, {0, true}, {0, false}, {50 * time.Millisecond, false},
		}},
		{"refills one token per interval", 10, 2, []bucketEvent{
			{0, true}, {0, true}, {0, false},
			{99 * time.Millisecond, false}, {100 * time.Millisecond, true}, {100 * time.Millisecond, false},
			{200 * time.Millisecond, true},
		}},
		{"steady rate exactly at the limit", 30, 1, []bucketEvent{
			{0, true},
			{time.Second / 30, true},
			{2 * time.Second / 30, true},
			{3 * time.Second / 30, true},
			{3*time.Second/30 + 1, false},
		}},
		{"idle time refills at most burst", 10, 2, []bucketEvent{
			{0, true}, {0, true},
			{time.Hour, true}, {time.Hour, true}, {time.Hour, false},
		}},
		{"time going backwards adds nothing", 10, 1, []bucketEvent{
			{time.Second, true}, {0, false}, {time.Second, false},
			{time.Second + 100*time.Millisecond, true},
		}},
		{"huge gap does not overflow", 10, 1, []bucketEvent{
			{0, true}, {math.MaxInt64, true}, {math.MaxInt64, false},
		}},
		{"flood is cut to the rate", 30, 8, floodEvents()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewTokenBucket(tt.perSecond, tt.burst)
			for i, e := range tt.events {
				if got := b.Allow(t0.Add(e.at)); got != e.want {
					t.Fatalf("event %d at %v: Allow = %v, want %v", i, e.at, got, e.want)
				}
			}
		})
	}
}

// floodEvents is a client sending 300 inputs a second for a second against
// a limit of 30 a second with a burst of 8: the first 8 pass, then one in 10.
func floodEvents() []bucketEvent {
	var evs []bucketEvent
	allowed := 0
	for i := range 300 {
		at := time.Duration(i) * time.Second / 300
		// Tokens earned so far: 8 at start plus one per 1/30 s.
		earned := 8 + int(at/(time.Second/30))
		want := allowed < earned
		if want {
			allowed++
		}
		evs = append(evs, bucketEvent{at, want})
	}
	return evs
}

func TestNewTokenBucketPanics(t *testing.T) {
	for _, args := range []struct {
		perSecond float64
		burst     int
	}{{0, 1}, {-1, 1}, {math.NaN(), 1}, {1, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewTokenBucket(%v, %d) did not panic", args.perSecond, args.burst)
				}
			}()
			NewTokenBucket(args.perSecond, args.burst)
		}()
	}
}
