package main

import (
	"cmp"
	"math"
	"slices"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/text/v2"

	"github.com/threadedselect/reactor/assets"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// spriteItem is one player to draw this frame.
type spriteItem struct {
	p    game.PlayerState
	self bool
}

// nameTag is what is kept per player between frames: its name as drawn,
// the name's width, and which way it last looked sideways (a player walking
// straight up or down keeps looking that way).
type nameTag struct {
	name  string
	width float64
	left  bool
}

// Draw draws the arena, the players with their name tags, the HUD, and the
// status screen when not playing. It allocates nothing in steady state:
// the slices are reused and every text is made in Update, only when it
// changes.
func (g *Game) Draw(screen *ebiten.Image) {
	g.op.GeoM.Reset()
	g.op.ColorScale.Reset()
	screen.DrawImage(g.art.background, &g.op)

	g.visible = 0
	if g.sess != nil && g.sess.State().Status == netclient.StatusConnected {
		g.drawPlayers(screen)
	}
	g.drawHUD(screen)
	if g.title.s != "" {
		g.drawStatusScreen(screen)
	}
}

// drawPlayers draws everybody, lower on the screen in front, then the name
// tags over all of them.
func (g *Game) drawPlayers(screen *ebiten.Image) {
	g.others = g.sess.Remote(g.others[:0])
	g.sprites = g.sprites[:0]
	for _, p := range g.others {
		g.sprites = append(g.sprites, spriteItem{p: p})
	}
	if me, ok := g.sess.Self(); ok {
		g.sprites = append(g.sprites, spriteItem{p: me, self: true})
	}
	slices.SortFunc(g.sprites, func(a, b spriteItem) int {
		return cmp.Or(cmp.Compare(a.p.Y, b.p.Y), cmp.Compare(a.p.ID, b.p.ID))
	})
	g.visible = len(g.sprites)
	if g.tags == nil || len(g.tags) > 4*game.MaxPlayers {
		g.tags = make(map[uint16]*nameTag) // forget players long gone
	}

	for _, s := range g.sprites {
		x, y := screenPos(s.p)
		if s.self {
			g.drawImageAt(screen, g.art.ring, x-17, y+5, colorGold)
		} else {
			g.drawImageAt(screen, g.art.shadow, x-11, y+7, ebiten.ColorScale{})
		}
		// The sprite looks right; mirror it for a player looking left.
		tag := g.tag(s.p.ID)
		switch s.p.Facing {
		case game.FacingLeft, game.FacingUpLeft, game.FacingDownLeft:
			tag.left = true
		case game.FacingRight, game.FacingUpRight, game.FacingDownRight:
			tag.left = false
		}
		const half = assets.PlayerSize / 2
		g.op.GeoM.Reset()
		g.op.ColorScale.Reset()
		if tag.left {
			g.op.GeoM.Scale(-1, 1)
			g.op.GeoM.Translate(x+half, y-half)
		} else {
			g.op.GeoM.Translate(x-half, y-half)
		}
		screen.DrawImage(g.art.sprite(s.p.ID), &g.op)
	}

	for _, s := range g.sprites {
		x, y := screenPos(s.p)
		tag := g.tag(s.p.ID)
		// The tag sits centred above the sprite.
		const h = 14
		top := y - assets.PlayerSize/2 - 3 - h
		g.fillRect(screen, x-tag.width/2-4, top, tag.width+8, h, colorTag)
		clr := g.art.nameColor(s.p.ID)
		if s.self {
			clr = colorGold
			g.drawImageAt(screen, g.art.marker, x-4, top-8, colorGold)
		}
		g.drawText(screen, tag.name, g.art.nameFace, x, top+0.5, text.AlignCenter, clr)
	}
}

// tag returns player id's name tag, refreshed if the server renamed it.
func (g *Game) tag(id uint16) *nameTag {
	t := g.tags[id]
	if t == nil {
		t = &nameTag{}
		g.tags[id] = t
	}
	name, ok := g.sess.Name(id)
	if !ok {
		name = "?"
	}
	if t.name != name || t.width == 0 {
		t.name, t.width = name, text.Advance(name, g.art.nameFace)
	}
	return t
}

// screenPos returns where a player's centre is on the screen, on whole
// pixels so that the pixel art stays crisp.
func screenPos(p game.PlayerState) (x, y float64) {
	return math.Round(arenaX + p.X), math.Round(arenaY + p.Y)
}

// drawHUD draws the status line over the top wall, and the net graph's
// key on the right.
func (g *Game) drawHUD(screen *ebiten.Image) {
	const y, h = 6, 20
	g.fillRect(screen, 8, y, g.hudLabel.w+16, h, colorPanel)
	g.drawText(screen, g.hudLabel.s, g.art.hudFace, 16, y+1, text.AlignStart, colorWhite)
	kw := g.keyLabel.w
	g.fillRect(screen, screenW-8-kw-16, y, kw+16, h, colorPanel)
	g.drawText(screen, g.keyLabel.s, g.art.hudFace, screenW-16-kw, y+1, text.AlignStart, colorDim)
}

// drawStatusScreen veils the arena and writes the status in the middle:
// connecting, why the connection failed or ended, or "Disconnecting…".
func (g *Game) drawStatusScreen(screen *ebiten.Image) {
	g.fillRect(screen, arenaX, arenaY, game.ArenaW, game.ArenaH, colorVeil)
	w := math.Max(g.title.w, g.hint.w) + 64
	h := 72.0
	if g.hint.s != "" {
		h += 26
	}
	cx, cy := float64(screenW)/2, float64(screenH)/2
	g.fillRect(screen, cx-w/2, cy-h/2, w, h, colorPanel)
	g.fillRect(screen, cx-w/2, cy-h/2, w, 3, colorGold)
	g.drawText(screen, g.title.s, g.art.titleFace, cx, cy-h/2+22, text.AlignCenter, colorWhite)
	if g.hint.s != "" {
		g.drawText(screen, g.hint.s, g.art.hudFace, cx, cy-h/2+60, text.AlignCenter, colorDim)
	}
}

// label is a text with its width, measured only when the text changes.
type label struct {
	s string
	w float64
}

// set changes the text, measuring it in face if it is new.
func (l *label) set(s string, face text.Face) {
	if s != l.s || l.w == 0 && s != "" {
		l.s, l.w = s, text.Advance(s, face)
	}
}

// drawImageAt draws img with its top-left corner at (x, y), coloured by
// clr (the zero ColorScale leaves it as is).
func (g *Game) drawImageAt(dst, img *ebiten.Image, x, y float64, clr ebiten.ColorScale) {
	g.op.GeoM.Reset()
	g.op.GeoM.Translate(x, y)
	g.op.ColorScale = clr
	dst.DrawImage(img, &g.op)
}

// fillRect fills a rectangle with a colour, translucent ones included.
func (g *Game) fillRect(dst *ebiten.Image, x, y, w, h float64, clr ebiten.ColorScale) {
	g.op.GeoM.Reset()
	g.op.GeoM.Scale(w, h)
	g.op.GeoM.Translate(x, y)
	g.op.ColorScale = clr
	dst.DrawImage(g.art.pixel, &g.op)
}

// textGlyph is text.Glyph; the alias keeps Game's field list short.
type textGlyph = text.Glyph

// drawText draws one line of s with its top at y, starting at x
// (text.AlignStart) or centred on it (text.AlignCenter). Unlike text.Draw
// it reuses its glyph slice, so it allocates nothing once the glyphs are
// cached.
func (g *Game) drawText(dst *ebiten.Image, s string, face text.Face, x, y float64, align text.Align, clr ebiten.ColorScale) {
	layout := text.LayoutOptions{PrimaryAlign: align}
	g.glyphs = text.AppendGlyphs(g.glyphs[:0], s, face, &layout)
	g.op.ColorScale = clr
	for _, gl := range g.glyphs {
		if gl.Image == nil {
			continue
		}
		g.op.GeoM.Reset()
		g.op.GeoM.Translate(x+gl.X, y+gl.Y)
		dst.DrawImage(gl.Image, &g.op)
	}
}
