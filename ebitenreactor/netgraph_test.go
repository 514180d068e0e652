//go:build unix

package ebitenreactor_test

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"
)

// TestNetGraphIsDrawn captures a frame with the net graph on and checks
// that the graph's corner of the screen is drawn: a dark panel over the
// background, bars in the drain plot, light text. The PNG is kept in the
// test's temporary directory (and copied to $NETGRAPH_PNG if set, to look
// at).
func TestNetGraphIsDrawn(t *testing.T) {
	dir := t.TempDir()
	runScenario(t, "netgraph", "SHOT_DIR="+dir)
	path := filepath.Join(dir, "netgraph.png")
	img, err := readPNG(path)
	if err != nil {
		t.Fatal(err)
	}
	if dst := os.Getenv("NETGRAPH_PNG"); dst != "" {
		if b, err := os.ReadFile(path); err == nil {
			_ = os.WriteFile(dst, b, 0o644)
		}
	}
	b := img.Bounds()
	// The panel: bottom-right, 376x199 with an 8-pixel margin (unscaled
	// on a 640x400 screen).
	panel := image.Rect(b.Max.X-8-376, b.Max.Y-8-199, b.Max.X-8, b.Max.Y-8)
	outside := image.Rect(0, 0, panel.Min.X-1, b.Max.Y)
	bg := shotBackground
	same := func(c color.Color) bool {
		r, g, bl, _ := c.RGBA()
		return uint8(r>>8) == bg.R && uint8(g>>8) == bg.G && uint8(bl>>8) == bg.B
	}
	var changed, total, greenish, light int
	for y := panel.Min.Y; y < panel.Max.Y; y++ {
		for x := panel.Min.X; x < panel.Max.X; x++ {
			total++
			c := img.At(x, y)
			if !same(c) {
				changed++
			}
			r, g, bl, _ := c.RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if g > 120 && g > r+40 && g > bl+40 {
				greenish++
			}
			if r > 200 && g > 200 && bl > 200 {
				light++
			}
		}
	}
	for y := outside.Min.Y; y < outside.Max.Y; y += 7 {
		for x := outside.Min.X; x < outside.Max.X; x += 7 {
			if !same(img.At(x, y)) {
				t.Fatalf("pixel (%d,%d) outside the graph differs from the background", x, y)
			}
		}
	}
	t.Logf("graph area: %d of %d pixels drawn, %d green (bars), %d light (text, budget line)", changed, total, greenish, light)
	if changed < total*9/10 {
		t.Errorf("only %d of %d pixels of the graph's area differ from the background", changed, total)
	}
	if greenish < 50 {
		t.Errorf("no drain bars: %d green pixels", greenish)
	}
	if light < 300 {
		t.Errorf("no text: %d light pixels", light)
	}
}

// TestNetGraphDrawAddsNoAllocations draws the graph in a running game for
// a few hundred frames, after warming up, and counts heap allocations
// around each Draw (runtime.MemStats.Mallocs: process-wide, so another
// goroutine's allocation would count against it, never hide one). The
// graph's code allocates nothing; Ebitengine v2.8.8 allocates one 48-byte
// slice for each draw command it cannot merge with the previous one, which
// the graph's single DrawTriangles is when it is first on the screen. The
// scenario measures that cost with a one-triangle draw in the same place,
// and the graph must cost no more.
func TestNetGraphDrawAddsNoAllocations(t *testing.T) {
	res := runScenario(t, "graphbench", "GRAPH_FRAMES=300")
	m := res.Metrics
	t.Logf("net graph Draw: %.0f draws, %.1f µs/draw, %.3f allocs (%.0f B)/draw, worst frame %.0f; a one-triangle draw: %.3f allocs (%.0f B)",
		m["draws"], m["ns_per_draw"]/1e3, m["allocs_per_draw"], m["bytes_per_draw"], m["worst_allocs_in_a_draw"],
		m["one_triangle_allocs_per_draw"], m["one_triangle_bytes_per_draw"])
	// The counts are process-wide: Ebitengine's other goroutines allocate
	// now and then during a Draw (more so on a loaded machine), so a single
	// frame proves nothing and the average gets a small tolerance. An
	// allocation of the graph's own, once per Draw, would add a whole 1.
	if m["allocs_per_draw"] > m["one_triangle_allocs_per_draw"]+0.05 || m["bytes_per_draw"] > m["one_triangle_bytes_per_draw"]+8 {
		t.Errorf("the graph's Draw allocates more than a single draw call: %.3f allocs (%.0f B) per draw against %.3f (%.0f B)",
			m["allocs_per_draw"], m["bytes_per_draw"], m["one_triangle_allocs_per_draw"], m["one_triangle_bytes_per_draw"])
	}
}
