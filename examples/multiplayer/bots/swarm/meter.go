package swarm

import (
	"fmt"
	"math"
	"time"

	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// Report is a swarm's activity over one interval, from a Meter.
type Report struct {
	Bots, Connected, UDP int    // now
	Snapshots            uint64 // received by all bots since they started
	Interval             time.Duration
	// SnapshotsPerSec is the rate of all bots together over the interval;
	// PerBotAvg and PerBotMin the average and the lowest rate of one bot
	// connected throughout it, or -1 if no bot was (the first interval).
	SnapshotsPerSec      float64
	PerBotAvg, PerBotMin float64
	// RTTAvg averages the connected bots' smoothed round-trip times, and
	// RTTMax is the highest of them: the worst-off bot.
	RTTAvg, RTTMax time.Duration
}

// String formats the report as the bots command prints it, one line of
// key=value pairs.
func (r Report) String() string {
	rate := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("msg=stats bots=%d connected=%d udp=%d snapshots=%d snapshots_per_s=%.0f per_bot_per_s=%s per_bot_min=%s rtt_avg_ms=%.3f rtt_max_ms=%.3f",
		r.Bots, r.Connected, r.UDP, r.Snapshots, r.SnapshotsPerSec, rate(r.PerBotAvg), rate(r.PerBotMin),
		float64(r.RTTAvg)/1e6, float64(r.RTTMax)/1e6)
}

// Meter measures a swarm over successive intervals: each Measure reports
// what happened since the previous one.
type Meter struct {
	last  time.Time
	snaps map[*Bot]uint64
	was   map[*Bot]bool // connected at the last Measure
}

// Measure reports the swarm's activity since the last call (the first call
// only sets the start). now is the reactor's time. Main thread.
func (m *Meter) Measure(sw *Swarm, now time.Time) Report {
	if m.snaps == nil {
		m.snaps, m.was = map[*Bot]uint64{}, map[*Bot]bool{}
	}
	rep := Report{Bots: len(sw.Bots), Interval: now.Sub(m.last), PerBotMin: math.Inf(1)}
	first := m.last.IsZero()
	secs := rep.Interval.Seconds()
	var rttSum time.Duration
	var rttN, throughout int
	for _, b := range sw.Bots {
		st := b.Session.State()
		rep.Snapshots += st.Snapshots
		connected := st.Status == netclient.StatusConnected
		if connected {
			rep.Connected++
			if st.UDP == netclient.UDPBound {
				rep.UDP++
			}
			if st.RTTSamples > 0 {
				rttSum += st.RTT
				rttN++
				rep.RTTMax = max(rep.RTTMax, st.RTT)
			}
		}
		if !first && secs > 0 {
			rate := float64(st.Snapshots-m.snaps[b]) / secs
			rep.SnapshotsPerSec += rate
			if connected && m.was[b] {
				throughout++
				rep.PerBotAvg += rate
				rep.PerBotMin = min(rep.PerBotMin, rate)
			}
		}
		m.snaps[b], m.was[b] = st.Snapshots, connected
	}
	if throughout > 0 {
		rep.PerBotAvg /= float64(throughout)
	} else {
		rep.PerBotAvg, rep.PerBotMin = -1, -1
	}
	if rttN > 0 {
		rep.RTTAvg = rttSum / time.Duration(rttN)
	}
	m.last = now
	return rep
}
