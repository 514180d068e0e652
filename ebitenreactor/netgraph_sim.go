package ebitenreactor

import (
	"strconv"
	"time"
)

// SimStats is what a network conditions simulator (package
// github.com/threadedselect/reactor/core/netsim) tells the net graph:
// the preset or settings it runs, and what it has done since it started.
// The graph shows it on a row of its own, below the values, while set.
type SimStats struct {
	Name       string        // the preset, e.g. "badwifi"; keep it short
	Delayed    uint64        // chunks and datagrams held back
	AvgDelay   time.Duration // their average delay
	Dropped    uint64        // datagrams lost
	Duplicated uint64        // datagrams delivered twice
	Reordered  uint64        // datagrams held back to be overtaken
}

// SetSim shows s on the graph's simulator row (call it every tick with
// the simulator's counters). It allocates nothing.
func (ng *NetGraph) SetSim(s SimStats) { ng.sim, ng.hasSim = s, true }

// ClearSim hides the simulator row.
func (ng *NetGraph) ClearSim() { ng.hasSim = false }

// drawSim adds the simulator row at y (about 50 characters, the panel's
// width): "sim badwifi held 1234 75.1ms lost 12 dup 3 ro 5".
func (ng *NetGraph) drawSim(y float32) {
	d := &ng.draw
	s := &ng.sim
	x := d.text(gPad, y, append(d.buf[:0], "sim "...), cLabel)
	x = d.text(x, y, append(d.buf[:0], s.Name...), cValue)
	x = d.text(x, y, append(d.buf[:0], " held "...), cLabel)
	x = d.text(x, y, strconv.AppendUint(d.buf[:0], s.Delayed, 10), cValue)
	ms := strconv.AppendFloat(d.buf[:0], float64(s.AvgDelay)/float64(time.Millisecond), 'f', 1, 64)
	x = d.text(x+d.textWidth(1), y, append(ms, "ms"...), cValue)
	x = d.text(x, y, append(d.buf[:0], " lost "...), cLabel)
	x = d.text(x, y, strconv.AppendUint(d.buf[:0], s.Dropped, 10), cValue)
	x = d.text(x, y, append(d.buf[:0], " dup "...), cLabel)
	x = d.text(x, y, strconv.AppendUint(d.buf[:0], s.Duplicated, 10), cValue)
	x = d.text(x, y, append(d.buf[:0], " ro "...), cLabel)
	d.text(x, y, strconv.AppendUint(d.buf[:0], s.Reordered, 10), cValue)
}
