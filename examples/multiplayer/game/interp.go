package game

import (
	"slices"
	"time"
)

// Interpolation defaults.
const (
	// DefaultInterpDelay is how far in the past remote players are drawn:
	// three snapshot intervals at the default tick rate, so one or two late
	// or lost snapshots still leave a pair to interpolate between.
	DefaultInterpDelay = 100 * time.Millisecond
	// DefaultMaxExtrapolation is how far past the newest snapshot remote
	// players keep moving when snapshots stop coming, before they freeze.
	// Short, because a guess that runs on overshoots and snaps back.
	DefaultMaxExtrapolation = 50 * time.Millisecond
	// InterpBufferLen is how many snapshots an Interpolator keeps: a second
	// at the default tick rate, far more than the delay needs.
	InterpBufferLen = 32
)

// Interpolator draws remote players smoothly although their positions arrive
// in discrete, jittery snapshots: it buffers snapshots with their arrival
// times and shows the world as it was a fixed delay ago, interpolating
// linearly between the two snapshots around that moment.
//
// The caller supplies every time value, so it is deterministic to test. It
// is not safe for concurrent use.
type Interpolator struct {
	delay     time.Duration
	maxExtrap time.Duration
	frames    [InterpBufferLen]frame // ring buffer, oldest at head
	head, n   int
}

// frame is one buffered snapshot. Its players slice is owned and reused when
// the ring wraps, so a steady stream of snapshots allocates nothing.
type frame struct {
	at      time.Time
	tick    uint32
	players []PlayerState // sorted by id
}

// NewInterpolator returns an Interpolator that renders delay in the past and
// extrapolates at most maxExtrapolation beyond the newest snapshot (0: never).
// DefaultInterpDelay and DefaultMaxExtrapolation are good values.
func NewInterpolator(delay, maxExtrapolation time.Duration) *Interpolator {
	return &Interpolator{delay: delay, maxExtrap: max(maxExtrapolation, 0)}
}

// frame returns the i-th buffered frame, 0 being the oldest.
func (ip *Interpolator) frame(i int) *frame {
	return &ip.frames[(ip.head+i)%InterpBufferLen]
}

// Len returns the number of buffered snapshots.
func (ip *Interpolator) Len() int { return ip.n }

// Reset forgets every snapshot, e.g. on reconnecting.
func (ip *Interpolator) Reset() {
	ip.head, ip.n = 0, 0
}

// Push buffers snapshot s, which arrived at time at; the players are copied.
// It returns false, ignoring s, if s is older than the newest buffered
// snapshot (reordered by the network). A snapshot with the same tick as the
// newest is merged into it: that is the rest of a snapshot too big for one
// message. When the buffer is full the oldest snapshot is dropped.
func (ip *Interpolator) Push(at time.Time, s Snapshot) bool {
	if ip.n > 0 {
		last := ip.frame(ip.n - 1)
		switch {
		case s.Tick < last.tick:
			return false
		case s.Tick == last.tick:
			last.players = mergePlayers(last.players, s.Players)
			return true
		}
		// Keep arrival times ordered even if the caller's clock is not.
		if at.Before(last.at) {
			at = last.at
		}
	}
	if ip.n == InterpBufferLen {
		ip.head = (ip.head + 1) % InterpBufferLen
		ip.n--
	}
	f := ip.frame(ip.n)
	ip.n++
	f.at, f.tick = at, s.Tick
	f.players = append(f.players[:0], s.Players...)
	if !slices.IsSortedFunc(f.players, cmpPlayerState) {
		slices.SortFunc(f.players, cmpPlayerState)
	}
	return true
}

// mergePlayers updates dst, sorted by id, with the players of src, and
// returns it.
func mergePlayers(dst, src []PlayerState) []PlayerState {
	for _, p := range src {
		i, found := slices.BinarySearchFunc(dst, p, cmpPlayerState)
		if found {
			dst[i] = p
		} else {
			dst = slices.Insert(dst, i, p)
		}
	}
	return dst
}

// Sample appends to dst the remote players as they were at render time
// now - delay, in increasing id order, and returns the extended slice
// (the own player is included too; the client draws its prediction instead).
//
// Between two snapshots a and b, players in a are interpolated towards
// their position in b, or stay put if they are not in b; players appear
// and disappear when render time reaches the snapshot that first or no
// longer lists them. Before the oldest snapshot, the oldest is shown as is.
// After the newest, players keep their last velocity for at most the
// extrapolation limit, then stop.
func (ip *Interpolator) Sample(now time.Time, dst []PlayerState) []PlayerState {
	if ip.n == 0 {
		return dst
	}
	render := now.Add(-ip.delay)
	// Find the newest frame at or before render time.
	i := ip.n - 1
	for i >= 0 && ip.frame(i).at.After(render) {
		i--
	}
	switch {
	case i < 0:
		return append(dst, ip.frame(0).players...)
	case i < ip.n-1:
		a, b := ip.frame(i), ip.frame(i+1)
		return lerpPlayers(dst, a.players, b.players, fraction(render.Sub(a.at), b.at.Sub(a.at)), false)
	}
	// Past the newest frame: extrapolate along the last two frames.
	newest := ip.frame(ip.n - 1)
	over := min(render.Sub(newest.at), ip.maxExtrap)
	if ip.n < 2 || over <= 0 {
		return append(dst, newest.players...)
	}
	prev := ip.frame(ip.n - 2)
	t := 1 + fraction(over, newest.at.Sub(prev.at))
	return lerpPlayers(dst, newest.players, prev.players, t, true)
}

// fraction returns d/span, or 0 for an empty span. Interpolation never
// meets one (render time lies strictly before the later snapshot); for
// extrapolation it means two snapshots that arrived at once, which say
// nothing about velocity, so the newest is shown as is.
func fraction(d, span time.Duration) float64 {
	if span <= 0 {
		return 0
	}
	return float64(d) / float64(span)
}

// lerpPlayers appends, for each player of members, its position interpolated
// at t between its state in a and in b, where (a, b) is (members, other), or
// (other, members) if reverse is set; a player missing from other keeps its
// state in members. Positions are kept inside the arena, which extrapolation
// (t > 1) could leave.
func lerpPlayers(dst, members, other []PlayerState, t float64, reverse bool) []PlayerState {
	for _, m := range members {
		i, found := slices.BinarySearchFunc(other, m, cmpPlayerState)
		if !found {
			dst = append(dst, m)
			continue
		}
		a, b := m, other[i]
		if reverse {
			a, b = b, a
		}
		p := PlayerState{
			ID:     m.ID,
			X:      min(max(a.X+(b.X-a.X)*t, PlayerRadius), ArenaW-PlayerRadius),
			Y:      min(max(a.Y+(b.Y-a.Y)*t, PlayerRadius), ArenaH-PlayerRadius),
			Facing: a.Facing,
		}
		if t >= 0.5 {
			p.Facing = b.Facing
		}
		dst = append(dst, p)
	}
	return dst
}

func cmpPlayerState(a, b PlayerState) int {
	return int(a.ID) - int(b.ID)
}
