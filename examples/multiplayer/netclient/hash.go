package netclient

import (
	"math"
	"slices"
	"time"
)

// StateHash returns a 64-bit FNV-1a hash of everything the session shows
// the game: its State (status, cause, reason, whether there is an error,
// the player, UDP, RTT, counters, the newest snapshot's tick and time),
// the buttons held, the own player as predicted and the inputs not yet
// acknowledged, every other player as interpolated now (by the session's
// clock), and the players' names. Two runs that showed the game the same
// thing hash the same, across processes: replay (package
// github.com/threadedselect/reactor/core/replay) checks a replayed session
// against the recorded one with it, frame by frame. It allocates nothing
// once its buffer has grown to the number of players.
func (s *Session) StateHash() uint64 {
	h := fnv{v: fnvOffset}
	st := &s.st
	h.u64(uint64(st.Status), uint64(st.Cause))
	h.str(st.Reason)
	h.bool(st.Err != nil)
	h.u64(uint64(st.PlayerID), uint64(st.TickRate), uint64(st.ArenaW), uint64(st.ArenaH), uint64(st.UDP))
	h.u64(uint64(st.RTT), uint64(st.LastRTT), st.RTTSamples)
	h.u64(st.Snapshots, st.SnapshotsUDP, st.BadDatagrams, uint64(st.LastTick), uint64(unixNano(st.LastSnapshot)))
	h.u64(st.InputsSent, st.Corrections, math.Float64bits(st.Correction))
	h.u64(uint64(s.buttons), uint64(s.PendingInputs()))
	if me, ok := s.Self(); ok {
		h.u64(1, uint64(me.ID), math.Float64bits(me.X), math.Float64bits(me.Y), uint64(me.Facing))
	} else {
		h.u64(0)
	}
	s.hashRemote = s.Remote(s.hashRemote[:0])
	h.u64(uint64(len(s.hashRemote)))
	for _, p := range s.hashRemote {
		h.u64(uint64(p.ID), math.Float64bits(p.X), math.Float64bits(p.Y), uint64(p.Facing))
	}
	// Names, by id: the map's order is random.
	ids := s.hashIDs[:0]
	for id := range s.names {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s.hashIDs = ids
	for _, id := range ids {
		h.u64(uint64(id))
		h.str(s.names[id])
	}
	return h.v
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv is FNV-1a, 64 bits, fed little-endian words (hash/fnv's writer would
// go through an interface and allocate).
type fnv struct{ v uint64 }

func (h *fnv) byte(b byte) { h.v = (h.v ^ uint64(b)) * fnvPrime }

func (h *fnv) u64(vs ...uint64) {
	for _, v := range vs {
		for i := 0; i < 8; i++ {
			h.byte(byte(v >> (8 * i)))
		}
	}
}

func (h *fnv) str(s string) {
	h.u64(uint64(len(s)))
	for i := 0; i < len(s); i++ {
		h.byte(s[i])
	}
}

func (h *fnv) bool(b bool) {
	if b {
		h.byte(1)
	} else {
		h.byte(0)
	}
}
