package ebitenreactor

import (
	"image"
	"image/color"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/vector"
)

// The net graph is drawn with one DrawTriangles call: the panel (a rounded
// rectangle filled and stroked with the vector package, its vertices kept
// from one frame to the next), the bars and lines (quads), and the text
// (quads onto a small atlas of Go Mono glyphs rendered once with text/v2),
// all sampling one source image that also holds a block of white texels
// for the solid shapes. Every buffer is sized on the first Draw and reused,
// so a steady-state Draw allocates nothing.
//
// The call always passes the same number of vertices and indices, padding
// with degenerate triangles: Ebitengine converts vertices into a scratch
// buffer kept per destination image that it reallocates to the exact size
// whenever a call needs more (v2.8.8, (*Image).ensureTmpVertices), so a
// count that creeps up as the history fills or a number gains a digit
// would allocate every few frames.

// Layout, in unscaled pixels.
const (
	gPad      = 8
	gBarW     = 3
	gLineH    = 15
	gGap      = 4
	gDrainH   = 64
	gQueueH   = 28
	gMargin   = 8
	gRadius   = 6
	gFontSize = 12
)

// Rows, as offsets from the panel's top.
const (
	gyTitle     = gPad
	gyDrain     = gyTitle + gLineH + gGap
	gyDrainText = gyDrain + gDrainH + gGap
	gyQueue     = gyDrainText + gLineH + gGap
	gyQueueText = gyQueue + gQueueH + gGap
	gyNetText   = gyQueueText + gLineH
	gyValText   = gyNetText + gLineH
	gHeight     = gyValText + gLineH + gPad
)

// rgba is a premultiplied colour as vertex attributes take it.
type rgba struct{ r, g, b, a float32 }

func col(r, g, b uint8, a float32) rgba {
	return rgba{float32(r) / 255 * a, float32(g) / 255 * a, float32(b) / 255 * a, a}
}

var (
	cPanel    = col(13, 16, 23, 0.80)
	cBorder   = col(255, 255, 255, 0.14)
	cPlot     = col(255, 255, 255, 0.05)
	cBudget   = col(255, 255, 255, 0.70)
	cOK       = col(76, 175, 80, 1)
	cWarn     = col(255, 193, 7, 1)
	cOver     = col(244, 67, 54, 1)
	cStopping = col(171, 71, 188, 1)
	cStolen   = col(120, 130, 145, 0.9)
	cDepth    = col(66, 165, 245, 1)
	cRan      = col(255, 167, 38, 1)
	cTitle    = col(255, 255, 255, 1)
	cLabel    = col(150, 160, 175, 1)
	cValue    = col(236, 239, 244, 1)
)

// drawState is the net graph's drawing machinery and reused buffers.
type drawState struct {
	failed bool // the font could not be loaded: draw shapes only

	// The atlas: glyph cells for bytes 33..126, then a white block.
	atlas        *ebiten.Image
	fontSize     float64
	adv          float32 // pen advance per character, scaled pixels
	cellW, cellH float32
	cellPad      float32
	whiteX       float32 // a white texel's centre in the atlas
	whiteY       float32

	// The panel's shape at the current size, from the vector package,
	// at the origin; copied (translated) into vs every frame.
	panelVS  []ebiten.Vertex
	panelIS  []uint16
	panelFor [3]float32 // width, height, scale the panel was built for

	vs   []ebiten.Vertex
	is   []uint16
	nvs  int // the fixed vertex and index counts of every call
	nis  int
	buf  []byte
	durs []time.Duration
	tri  ebiten.DrawTrianglesOptions

	s      float32 // scale of this frame
	ox, oy float32 // panel origin of this frame
	w      float32 // panel width, unscaled
}

const atlasCols = 16

// build (re)makes the glyph atlas for a font size. First Draw, and when
// the scale changes.
func (d *drawState) build(size float64) {
	d.fontSize = size
	gs, err := newGlyphSet(size)
	if err != nil {
		d.failed = true
		gs = &glyphSet{size: size, advance: size * 0.6, line: size * 1.2}
	}
	d.adv = float32(gs.advance)
	d.cellPad = 2
	d.cellW = float32(math.Ceil(gs.advance)) + 2*d.cellPad
	d.cellH = float32(math.Ceil(gs.line)) + 2*d.cellPad
	rows := (127 - 33 + atlasCols - 1) / atlasCols
	w := int(d.cellW) * atlasCols
	h := int(d.cellH)*rows + 4
	if d.atlas != nil {
		d.atlas.Deallocate()
	}
	d.atlas = ebiten.NewImage(w, h)
	var op ebiten.DrawImageOptions
	for c := 33; c < 127; c++ {
		if gs.img[c] == nil {
			continue
		}
		cx, cy := d.cell(byte(c))
		op.GeoM.Reset()
		op.GeoM.Translate(float64(cx+d.cellPad)+gs.dx[c], float64(cy+d.cellPad)+gs.dy[c])
		d.atlas.DrawImage(gs.img[c], &op)
	}
	wy := int(d.cellH) * rows
	d.atlas.SubImage(image.Rect(0, wy, 4, wy+4)).(*ebiten.Image).Fill(color.White)
	d.whiteX, d.whiteY = 2, float32(wy)+2
	d.tri.ColorScaleMode = ebiten.ColorScaleModePremultipliedAlpha
}

// cell returns the top-left of c's cell in the atlas.
func (d *drawState) cell(c byte) (float32, float32) {
	i := int(c) - 33
	return float32(i%atlasCols) * d.cellW, float32(i/atlasCols) * d.cellH
}

// buildPanel makes the panel's rounded rectangle with the vector package:
// a fill and a 1-pixel border, at the origin. Only when the size changes.
func (d *drawState) buildPanel(w, h, s float32) {
	d.panelFor = [3]float32{w, h, s}
	r := gRadius * s
	var p vector.Path
	p.MoveTo(r, 0)
	p.LineTo(w-r, 0)
	p.Arc(w-r, r, r, -math.Pi/2, 0, vector.Clockwise)
	p.LineTo(w, h-r)
	p.Arc(w-r, h-r, r, 0, math.Pi/2, vector.Clockwise)
	p.LineTo(r, h)
	p.Arc(r, h-r, r, math.Pi/2, math.Pi, vector.Clockwise)
	p.LineTo(0, r)
	p.Arc(r, r, r, math.Pi, 3*math.Pi/2, vector.Clockwise)
	p.Close()
	vs, is := p.AppendVerticesAndIndicesForFilling(d.panelVS[:0], d.panelIS[:0])
	paint(vs, cPanel, d.whiteX, d.whiteY)
	n := len(vs)
	vs, is = p.AppendVerticesAndIndicesForStroke(vs, is, &vector.StrokeOptions{Width: max(1, s), LineJoin: vector.LineJoinBevel})
	paint(vs[n:], cBorder, d.whiteX, d.whiteY)
	d.panelVS, d.panelIS = vs, is
}

func paint(vs []ebiten.Vertex, c rgba, sx, sy float32) {
	for i := range vs {
		vs[i].SrcX, vs[i].SrcY = sx, sy
		vs[i].ColorR, vs[i].ColorG, vs[i].ColorB, vs[i].ColorA = c.r, c.g, c.b, c.a
	}
}

// quad adds a rectangle of the atlas (sx, sy, w, h) drawn at (x, y) with
// size (dw, dh), tinted c.
func (d *drawState) quad(x, y, dw, dh, sx, sy, sw, sh float32, c rgba) {
	base := uint16(len(d.vs))
	d.vs = append(d.vs,
		ebiten.Vertex{DstX: x, DstY: y, SrcX: sx, SrcY: sy, ColorR: c.r, ColorG: c.g, ColorB: c.b, ColorA: c.a},
		ebiten.Vertex{DstX: x + dw, DstY: y, SrcX: sx + sw, SrcY: sy, ColorR: c.r, ColorG: c.g, ColorB: c.b, ColorA: c.a},
		ebiten.Vertex{DstX: x, DstY: y + dh, SrcX: sx, SrcY: sy + sh, ColorR: c.r, ColorG: c.g, ColorB: c.b, ColorA: c.a},
		ebiten.Vertex{DstX: x + dw, DstY: y + dh, SrcX: sx + sw, SrcY: sy + sh, ColorR: c.r, ColorG: c.g, ColorB: c.b, ColorA: c.a},
	)
	d.is = append(d.is, base, base+1, base+2, base+1, base+3, base+2)
}

// rect adds a solid rectangle in panel coordinates (unscaled).
func (d *drawState) rect(x, y, w, h float32, c rgba) {
	s := d.s
	d.quad(d.ox+x*s, d.oy+y*s, w*s, h*s, d.whiteX, d.whiteY, 0, 0, c)
}

// text adds b at (x, y) in panel coordinates (unscaled; y is the top of
// the line) and returns the x after it. Characters past the panel's inner
// right edge are dropped, which also bounds the vertices a frame needs.
func (d *drawState) text(x, y float32, b []byte, c rgba) float32 {
	px := d.ox + x*d.s
	py := float32(math.Round(float64(d.oy + y*d.s)))
	right := d.ox + (d.w-gPad)*d.s
	for _, ch := range b {
		if px+d.adv > right+0.5 {
			break
		}
		if ch > 32 && ch < 127 && !d.failed {
			cx, cy := d.cell(ch)
			qx := float32(math.Round(float64(px))) - d.cellPad
			d.quad(qx, py-d.cellPad, d.cellW, d.cellH, cx, cy, d.cellW, d.cellH, c)
		}
		px += d.adv
	}
	return (px - d.ox) / d.s
}

// textWidth is the unscaled width of n characters.
func (d *drawState) textWidth(n int) float32 { return float32(n) * d.adv / d.s }

// Draw draws the graph onto screen (usually the game's screen, in its
// corner), whether or not it is visible: the Game calls it only when it
// is. The panel is scaled down to fit a small screen.
func (ng *NetGraph) Draw(screen *ebiten.Image) {
	d := &ng.draw
	b := screen.Bounds()
	sw, sh := float32(b.Dx()), float32(b.Dy())
	w := float32(2*gPad + ng.bars*gBarW)
	h := float32(gHeight)
	if ng.hasSim {
		h += gLineH // the simulator's row
	}
	s := min(1, (sw-2*gMargin)/w, (sh-2*gMargin)/h)
	if s <= 0.2 {
		return // no room for anything legible
	}
	// Font sizes in half pixels, so a resizing window does not rebuild
	// the atlas every frame.
	if size := math.Round(gFontSize*float64(s)*2) / 2; d.atlas == nil || size != d.fontSize {
		d.build(size)
	}
	d.s, d.w = s, w
	switch ng.corner {
	case BottomRight:
		d.ox, d.oy = sw-gMargin-w*s, sh-gMargin-h*s
	case BottomLeft:
		d.ox, d.oy = gMargin, sh-gMargin-h*s
	case TopRight:
		d.ox, d.oy = sw-gMargin-w*s, gMargin
	default:
		d.ox, d.oy = gMargin, gMargin
	}
	d.ox, d.oy = d.ox+float32(b.Min.X), d.oy+float32(b.Min.Y)
	d.ox, d.oy = float32(math.Round(float64(d.ox))), float32(math.Round(float64(d.oy)))
	if d.panelFor != [3]float32{w, h, s} {
		d.buildPanel(w*s, h*s, s)
		d.reserve(ng.bars, w, s)
	}

	d.vs, d.is = d.vs[:0], d.is[:0]
	base := uint16(0)
	for _, v := range d.panelVS {
		v.DstX += d.ox
		v.DstY += d.oy
		d.vs = append(d.vs, v)
	}
	for _, i := range d.panelIS {
		d.is = append(d.is, base+i)
	}
	ng.drawGraphs(w)
	ng.drawText(w)
	if len(d.vs) > d.nvs || len(d.is) > d.nis {
		// More than reserve counted on (cannot happen with the fixed
		// layout): grow the fixed counts once.
		d.nvs, d.nis = max(d.nvs, len(d.vs)), max(d.nis, len(d.is))
	}
	// Pad to the fixed counts: unused vertices, and triangles whose three
	// corners are vertex 0, which cover no pixel.
	d.vs = d.vs[:d.nvs]
	n := len(d.is)
	d.is = d.is[:d.nis]
	clear(d.is[n:])
	screen.DrawTriangles(d.vs, d.is, d.atlas, &d.tri)
}

// reserve sizes the buffers for the most a frame can draw: the panel, the
// plots' backgrounds and budget line, four quads a bar, and the text rows
// (the text is clipped to the panel's width).
func (d *drawState) reserve(bars int, w, s float32) {
	const rows = 7 // six, and the simulator's
	cols := int((w-2*gPad)*s/d.adv) + 2
	quads := 3 + 4*bars + rows*cols
	d.nvs = len(d.panelVS) + 4*quads
	d.nis = len(d.panelIS) + 6*quads
	if cap(d.vs) < d.nvs {
		d.vs = make([]ebiten.Vertex, 0, d.nvs)
	}
	if cap(d.is) < d.nis {
		d.is = make([]uint16, 0, d.nis)
	}
	if cap(d.buf) < 128 {
		d.buf = make([]byte, 0, 128)
	}
	if cap(d.durs) < bars {
		d.durs = make([]time.Duration, 0, bars)
	}
}

// window returns how many recent frames the graph shows and the index of
// the first in the Game's history.
func (ng *NetGraph) window() (first, n int) {
	if ng.src == nil {
		return 0, 0
	}
	h := &ng.src.hist
	n = min(h.len(), ng.bars)
	return h.len() - n, n
}

// drawGraphs adds the two plots: drain time per tick against the budget,
// and queue depth with items run per tick.
func (ng *NetGraph) drawGraphs(w float32) {
	d := &ng.draw
	plotW := w - 2*gPad
	d.rect(gPad, gyDrain, plotW, gDrainH, cPlot)
	d.rect(gPad, gyQueue, plotW, gQueueH, cPlot)
	first, n := ng.window()
	// The queue plot's scale, shared by depth and items run (both count
	// items, so a tick level with its bar's top means all queued work
	// ran): the window's maximum, rounded up to a power of two so the
	// scale does not twitch every frame.
	qmax := 8
	for i := 0; i < n; i++ {
		f := ng.src.hist.at(first + i)
		qmax = max(qmax, f.Depth, f.Ran)
	}
	qmax = pow2(qmax)
	right := gPad + plotW
	for i := 0; i < n; i++ {
		f := ng.src.hist.at(first + i)
		x := right - float32(n-i)*gBarW
		// Drain: the plot's top is twice the budget, so the budget line
		// sits in the middle and overruns up to 2x stay visible.
		frac := float32(0)
		if f.Budget > 0 {
			frac = float32(f.Elapsed) / float32(2*f.Budget)
		}
		c := cOK
		switch {
		case f.Stopping:
			c = cStopping
		case f.Elapsed > f.Budget:
			c = cOver
		case f.Elapsed*4 > f.Budget*3:
			c = cWarn
		}
		if bh := barHeight(frac, gDrainH); bh > 0 {
			// The part of the drain the thread was not running (the OS
			// gave the core to another thread) is drawn grey on top.
			own := bh
			if st := f.Preempted(); st > 0 {
				own = min(bh, max(1, float32(math.Round(float64(bh*float32(f.CPU)/float32(f.Elapsed))))))
				d.rect(x, gyDrain+gDrainH-bh, gBarW-1, bh-own, cStolen)
			}
			d.rect(x, gyDrain+gDrainH-own, gBarW-1, own, c)
		}
		if bh := barHeight(float32(f.Depth)/float32(qmax), gQueueH); bh > 0 {
			d.rect(x, gyQueue+gQueueH-bh, gBarW-1, bh, cDepth)
		}
		if f.Ran > 0 {
			y := gyQueue + gQueueH - barHeight(float32(f.Ran)/float32(qmax), gQueueH)
			d.rect(x, min(y, gyQueue+gQueueH-2), gBarW-1, 2, cRan)
		}
	}
	d.rect(gPad, gyDrain+gDrainH/2, plotW, 1, cBudget)
}

// barHeight maps frac of a plot to whole pixels, at least one for any
// work at all, at most the plot.
func barHeight(frac float32, plot float32) float32 {
	if frac <= 0 {
		return 0
	}
	return max(1, float32(math.Round(float64(min(frac, 1)*plot))))
}

func pow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// drawText adds the panel's text rows.
func (ng *NetGraph) drawText(w float32) {
	d := &ng.draw
	first, n := ng.window()
	var last *Frame
	if n > 0 {
		last = ng.src.hist.at(first + n - 1)
	}

	// Title row: name and key on the left, ticks per second on the right.
	x := d.text(gPad, gyTitle, append(d.buf[:0], "net graph"...), cTitle)
	if ng.hasKey {
		d.text(x+d.textWidth(1), gyTitle, append(d.buf[:0], "(toggle: key "...), cLabel)
	}
	b := strconv.AppendFloat(d.buf[:0], ebiten.ActualTPS(), 'f', 1, 64)
	b = append(b, " tps"...)
	d.text(w-gPad-d.textWidth(len(b)), gyTitle, b, cValue)
	if ng.hasKey {
		// The key's name goes after "(toggle: key ".
		k := append(d.buf[:0], ng.key.String()...)
		k = append(k, ')')
		d.text(gPad+d.textWidth(len("net graph (toggle: key ")), gyTitle, k, cLabel)
	}

	if last == nil {
		d.text(gPad, gyDrainText, append(d.buf[:0], "no ticks yet"...), cLabel)
		return
	}

	// The budget line's label, above its right end.
	lb := append(d.buf[:0], "budget"...)
	d.text(w-gPad-d.textWidth(len(lb)+1), gyDrain+gDrainH/2-gLineH, lb, cLabel)

	// Drain row: last drain (wall clock) / budget, its CPU time, and the
	// p99 over the window.
	d.durs = d.durs[:0]
	for i := 0; i < n; i++ {
		d.durs = append(d.durs, ng.src.hist.at(first+i).Elapsed)
	}
	slices.Sort(d.durs)
	p99 := d.durs[min(len(d.durs)-1, len(d.durs)*99/100)]
	x = d.text(gPad, gyDrainText, append(d.buf[:0], "drain "...), cLabel)
	x = d.text(x, gyDrainText, appendMillis(d.buf[:0], last.Elapsed), valueColour(last))
	x = d.text(x, gyDrainText, append(d.buf[:0], " / "...), cLabel)
	x = d.text(x, gyDrainText, appendMillis(d.buf[:0], last.Budget), cValue)
	x = d.text(x, gyDrainText, append(d.buf[:0], " ms"...), cLabel)
	if last.CPU > 0 {
		x = d.text(x, gyDrainText, append(d.buf[:0], "  cpu "...), cLabel)
		x = d.text(x, gyDrainText, appendMillis(d.buf[:0], last.CPU), cValue)
	}
	x = d.text(x, gyDrainText, append(d.buf[:0], "  p99 "...), cLabel)
	d.text(x, gyDrainText, appendMillis(d.buf[:0], p99), cValue)

	// Queue row.
	x = d.text(gPad, gyQueueText, append(d.buf[:0], "queue "...), cDepth)
	x = d.text(x, gyQueueText, strconv.AppendInt(d.buf[:0], int64(last.Depth), 10), cValue)
	x = d.text(x, gyQueueText, append(d.buf[:0], "  ran "...), cRan)
	x = d.text(x, gyQueueText, strconv.AppendInt(d.buf[:0], int64(last.Ran), 10), cValue)
	x = d.text(x, gyQueueText, append(d.buf[:0], "  left "...), cLabel)
	x = d.text(x, gyQueueText, strconv.AppendInt(d.buf[:0], int64(last.Left), 10), cValue)
	x = d.text(x, gyQueueText, append(d.buf[:0], "  hw "...), cLabel)
	hw := strconv.AppendInt(d.buf[:0], int64(last.HighWater), 10)
	hw = append(hw, '/')
	hw = strconv.AppendInt(hw, int64(last.Stats.RingCapacity), 10)
	d.text(x, gyQueueText, hw, cValue)

	// Network row: rates over about the last second of history.
	in, out := ng.rates(first, n)
	x = d.text(gPad, gyNetText, append(d.buf[:0], "in "...), cLabel)
	x = d.text(x, gyNetText, append(appendBytes(d.buf[:0], in), "/s"...), cValue)
	x = d.text(x, gyNetText, append(d.buf[:0], "  out "...), cLabel)
	x = d.text(x, gyNetText, append(appendBytes(d.buf[:0], out), "/s"...), cValue)
	x = d.text(x, gyNetText, append(d.buf[:0], "  conns "...), cLabel)
	x = d.text(x, gyNetText, strconv.AppendInt(d.buf[:0], int64(last.Stats.Conns), 10), cValue)
	if last.Stats.QueuedBytes > 0 {
		x = d.text(x, gyNetText, append(d.buf[:0], "  unsent "...), cLabel)
		d.text(x, gyNetText, appendBytes(d.buf[:0], float64(last.Stats.QueuedBytes)), cValue)
	}

	// Values row: RTT, then the game's own values.
	x = d.text(gPad, gyValText, append(d.buf[:0], "rtt "...), cLabel)
	if ng.hasRTT {
		rtt := strconv.AppendFloat(d.buf[:0], float64(ng.rtt)/float64(time.Millisecond), 'f', 1, 64)
		x = d.text(x, gyValText, rtt, cValue)
		x = d.text(x, gyValText, append(d.buf[:0], " ms"...), cLabel)
	} else {
		x = d.text(x, gyValText, append(d.buf[:0], '-'), cLabel)
	}
	for i := range ng.values {
		v := &ng.values[i]
		if !v.set {
			continue
		}
		x = d.text(x+d.textWidth(2), gyValText, append(d.buf[:0], v.label...), cLabel)
		x = d.text(x+d.textWidth(1), gyValText, appendValue(d.buf[:0], v.v), cValue)
	}
	if ng.hasSim {
		ng.drawSim(gyValText + gLineH)
	}
}

func valueColour(f *Frame) rgba {
	if f.Elapsed > f.Budget {
		return cOver
	}
	return cValue
}

// rates returns bytes in and out per second over about the last second of
// the window, from the differences of the reactor's counters.
func (ng *NetGraph) rates(first, n int) (in, out float64) {
	if n < 2 {
		return 0, 0
	}
	h := &ng.src.hist
	last := h.at(first + n - 1)
	old := h.at(first)
	for i := n - 2; i >= 0; i-- {
		f := h.at(first + i)
		old = f
		if last.At.Sub(f.At) >= time.Second {
			break
		}
	}
	dt := last.At.Sub(old.At).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	return float64(last.Stats.BytesIn-old.Stats.BytesIn) / dt, float64(last.Stats.BytesOut-old.Stats.BytesOut) / dt
}
