package ebitenreactor

import (
	"bytes"
	"math"
	"sync"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/text/v2"
	"golang.org/x/image/font/gofont/gomono"
)

// The Go Mono face source is parsed once per process: parsing a font is
// far too slow for a frame, and a GoTextFaceSource is safe to share.
var (
	monoOnce   sync.Once
	monoSource *text.GoTextFaceSource
	monoErr    error
)

func monoFaceSource() (*text.GoTextFaceSource, error) {
	monoOnce.Do(func() {
		monoSource, monoErr = text.NewGoTextFaceSource(bytes.NewReader(gomono.TTF))
	})
	return monoSource, monoErr
}

// glyphSet holds one glyph image per printable ASCII byte, laid out once
// with text/v2 and then drawn directly. text.Draw would shape its string
// again (and cache the shaped result keyed by the string) whenever the
// text changes, which for numbers is every frame; drawing cached glyphs of
// a monospaced face costs one DrawImage per character and allocates
// nothing.
type glyphSet struct {
	size    float64
	advance float64 // every Go Mono glyph has the same advance
	line    float64 // line height
	img     [128]*ebiten.Image
	dx, dy  [128]float64 // glyph image offset from the pen (top of the line)
}

func newGlyphSet(size float64) (*glyphSet, error) {
	src, err := monoFaceSource()
	if err != nil {
		return nil, err
	}
	face := &text.GoTextFace{Source: src, Size: size}
	m := face.Metrics()
	gs := &glyphSet{
		size:    size,
		advance: text.Advance("0", face),
		line:    math.Ceil(m.HAscent + m.HDescent),
	}
	var buf [1]byte
	var glyphs []text.Glyph
	for c := 33; c < 127; c++ {
		buf[0] = byte(c)
		glyphs = text.AppendGlyphs(glyphs[:0], string(buf[:]), face, nil)
		for _, g := range glyphs {
			if g.Image != nil {
				gs.img[c], gs.dx[c], gs.dy[c] = g.Image, g.X, g.Y
			}
		}
	}
	return gs, nil
}
