package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/text/v2"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/threadedselect/reactor/assets"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// The screen: the arena with a wall of one tile all around it. The HUD is
// drawn over the top wall.
const (
	wallW   = assets.TileSize
	screenW = game.ArenaW + 2*wallW
	screenH = game.ArenaH + 2*wallW
	// arenaX and arenaY are where the arena's origin is on the screen.
	arenaX = wallW
	arenaY = wallW
)

// art is everything the client draws with, made once at start-up: the
// decoded sprites as Ebiten images, the pre-rendered arena, a few shapes
// and the text faces.
type art struct {
	players    []*ebiten.Image // one per colour; see assets.PlayerSprite
	nameColors []ebiten.ColorScale
	background *ebiten.Image // the whole arena: floor and walls
	shadow     *ebiten.Image // a soft ellipse under every player's feet
	ring       *ebiten.Image // the ellipse under the own player
	marker     *ebiten.Image // the triangle above the own player's name
	pixel      *ebiten.Image // one white pixel, for filled rectangles

	nameFace, hudFace, titleFace *text.GoTextFace
}

// Colours of the HUD and the own player's highlight, as premultiplied
// scales (ColorScale.Scale), so drawing with them allocates nothing.
var (
	colorWhite = rgba(255, 255, 255, 255)
	colorGold  = rgba(255, 214, 92, 255)
	colorDim   = rgba(200, 206, 222, 255)
	colorPanel = rgba(12, 14, 24, 200)
	colorVeil  = rgba(8, 10, 18, 150)
	colorTag   = rgba(10, 12, 20, 130)
)

func loadArt() (*art, error) {
	a := &art{}
	for i := range assets.NumPlayerColors {
		img, err := assets.PlayerSprite(i)
		if err != nil {
			return nil, fmt.Errorf("player sprite %d: %w", i, err)
		}
		a.players = append(a.players, ebiten.NewImageFromImage(img))
		// Names are written in a light tint of their player's colour.
		c := assets.PlayerColor(i)
		a.nameColors = append(a.nameColors, rgba(tint(c.R), tint(c.G), tint(c.B), 255))
	}
	floor, err := assets.Floor()
	if err != nil {
		return nil, fmt.Errorf("floor tile: %w", err)
	}
	wall, err := assets.Wall()
	if err != nil {
		return nil, fmt.Errorf("wall tile: %w", err)
	}
	a.background = arenaImage(ebiten.NewImageFromImage(floor), ebiten.NewImageFromImage(wall))

	a.shadow = ebiten.NewImageFromImage(ellipse(22, 8, 0, color.NRGBA{0, 0, 0, 110}))
	a.ring = ebiten.NewImageFromImage(ellipse(34, 14, 2.2, color.NRGBA{255, 214, 92, 255}))
	a.marker = ebiten.NewImageFromImage(triangle(9, 6, color.NRGBA{255, 214, 92, 255}))
	// A 3x3 image, of which the centre pixel is used, so that scaling it
	// never samples a neighbour in Ebiten's texture atlas.
	white := ebiten.NewImage(3, 3)
	white.Fill(color.White)
	a.pixel = white.SubImage(image.Rect(1, 1, 2, 2)).(*ebiten.Image)

	src, err := text.NewGoTextFaceSource(bytes.NewReader(goregular.TTF))
	if err != nil {
		return nil, fmt.Errorf("font: %w", err)
	}
	a.nameFace = &text.GoTextFace{Source: src, Size: 11}
	a.hudFace = &text.GoTextFace{Source: src, Size: 14}
	a.titleFace = &text.GoTextFace{Source: src, Size: 24}
	return a, nil
}

// sprite returns the sprite of player id: a colour per id.
func (a *art) sprite(id uint16) *ebiten.Image { return a.players[int(id)%len(a.players)] }

// nameColor returns the colour of player id's name tag.
func (a *art) nameColor(id uint16) ebiten.ColorScale { return a.nameColors[int(id)%len(a.nameColors)] }

// arenaImage tiles the floor over the arena and the wall around it, once,
// so that a frame draws the whole background with one DrawImage.
func arenaImage(floor, wall *ebiten.Image) *ebiten.Image {
	bg := ebiten.NewImage(screenW, screenH)
	var op ebiten.DrawImageOptions
	tile := func(img *ebiten.Image, x, y int) {
		op.GeoM.Reset()
		op.GeoM.Translate(float64(x), float64(y))
		bg.DrawImage(img, &op)
	}
	// The wall first, everywhere; then the floor over the arena, clipped to
	// it (its last row and column of tiles are cut).
	for y := 0; y < screenH; y += assets.TileSize {
		for x := 0; x < screenW; x += assets.TileSize {
			tile(wall, x, y)
		}
	}
	arena := bg.SubImage(image.Rect(arenaX, arenaY, arenaX+game.ArenaW, arenaY+game.ArenaH)).(*ebiten.Image)
	for y := 0; y < game.ArenaH; y += assets.TileSize {
		for x := 0; x < game.ArenaW; x += assets.TileSize {
			op.GeoM.Reset()
			op.GeoM.Translate(float64(arenaX+x), float64(arenaY+y))
			arena.DrawImage(floor, &op)
		}
	}
	// A thin dark line where the floor meets the wall, as if the wall cast
	// a shadow.
	edge := ebiten.NewImage(game.ArenaW, 3)
	edge.Fill(color.NRGBA{0, 0, 0, 70})
	op.GeoM.Reset()
	op.GeoM.Translate(arenaX, arenaY)
	bg.DrawImage(edge, &op)
	return bg
}

// ellipse draws an anti-aliased ellipse w x h px: filled if stroke is 0,
// else a ring stroke px wide.
func ellipse(w, h int, stroke float64, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rx, ry := float64(w)/2, float64(h)/2
	const sub = 4 // samples per pixel side
	for y := range h {
		for x := range w {
			in := 0
			for sy := range sub {
				for sx := range sub {
					dx := (float64(x) + (float64(sx)+0.5)/sub - rx) / rx
					dy := (float64(y) + (float64(sy)+0.5)/sub - ry) / ry
					d := math.Hypot(dx, dy) // 1 on the outline
					if d <= 1 && (stroke == 0 || d >= 1-stroke/ry) {
						in++
					}
				}
			}
			a := float64(c.A) * float64(in) / (sub * sub)
			if stroke == 0 {
				// A soft edge: fade out towards the rim.
				d := math.Hypot((float64(x)+0.5-rx)/rx, (float64(y)+0.5-ry)/ry)
				a *= math.Max(0, math.Min(1, 1.6*(1-d)))
			}
			img.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, uint8(a)})
		}
	}
	return img
}

// triangle draws a small downward-pointing triangle, w x h px.
func triangle(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		// Row y spans the width shrinking linearly to the tip.
		half := float64(w) / 2 * (1 - float64(y)/float64(h))
		for x := range w {
			if math.Abs(float64(x)+0.5-float64(w)/2) <= half {
				img.SetNRGBA(x, y, c)
			}
		}
	}
	return img
}

// rgba returns the colour scale that turns a white pixel into the given
// non-premultiplied colour.
func rgba(r, g, b, a uint8) ebiten.ColorScale {
	var cs ebiten.ColorScale
	fa := float32(a) / 255
	cs.Scale(float32(r)/255*fa, float32(g)/255*fa, float32(b)/255*fa, fa)
	return cs
}

// tint moves a colour channel 55% of the way to white.
func tint(v uint8) uint8 { return uint8(float64(v) + 0.55*float64(255-v)) }
