// Command gen draws the game's pixel-art sprites and writes them as PNG
// files into the assets directory:
//
//	player_00.png ... player_11.png  24x24 player creature, one per colour
//	floor.png                        32x32 arena floor tile
//	wall.png                         32x32 arena wall tile
//
// It finds the assets directory when run from there (as go generate does)
// or from the repository root (go run ./assets/gen); -dir overrides. The
// output is deterministic: the drawing uses no randomness but a fixed-seed
// generator of our own, and image/png encodes the same image to the same
// bytes, so running it twice leaves git with nothing to commit.
//
// With -preview FILE it also writes every image, scaled up 8 times on a
// light and a dark background, into one PNG for looking at.
package main

import (
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/threadedselect/reactor/assets/internal/palette"
)

// Sizes, in pixels; package assets checks them.
const (
	playerSize = 24
	tileSize   = 32
)

func main() {
	dir := flag.String("dir", "", "directory to write the PNG files into (default: the assets directory)")
	preview := flag.String("preview", "", "also write a scaled-up preview sheet to this PNG file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	if *dir == "" {
		d, err := assetsDir()
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}

	type output struct {
		name string
		img  image.Image
	}
	var outs []output
	for i, c := range palette.Players {
		outs = append(outs, output{fmt.Sprintf("player_%02d.png", i), drawPlayer(c)})
	}
	outs = append(outs, output{"floor.png", drawFloor()}, output{"wall.png", drawWall()})

	var imgs []image.Image
	for _, o := range outs {
		if err := writePNG(filepath.Join(*dir, o.name), o.img); err != nil {
			log.Fatal(err)
		}
		imgs = append(imgs, o.img)
	}
	if *preview != "" {
		if err := writePNG(*preview, previewSheet(imgs, 8)); err != nil {
			log.Fatal(err)
		}
	}
}

// assetsDir returns the assets directory: the current one or its "assets"
// subdirectory, whichever holds this generator's source.
func assetsDir() (string, error) {
	for _, d := range []string{".", "assets"} {
		if _, err := os.Stat(filepath.Join(d, "gen", "main.go")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("cannot find the assets directory; run from it or from the repository root, or pass -dir")
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return f.Close()
}

// The player sprite is painted in two steps: a map of which part of the
// creature each pixel is (drawn once, by shape), then a colouring of the
// parts for each variant. So every variant has exactly the same shape.
type part uint8

const (
	empty   part = iota // transparent
	outline             // dark rim around everything, so it reads on any background
	shadow              // body, turned away from the light
	body                // body, base colour
	light               // body, facing the light
	eye                 // eyes and mouth
	glint               // white sparkle in the eyes and on the body
	cheek               // pink blush
	foot                // feet, slightly darker than the body
)

// creature returns the part map of the player: a round blob with two
// little feet and a sprout on its head, looking to the right (the client
// mirrors it to look left). Light comes from the top left.
func creature() [playerSize][playerSize]part {
	var m [playerSize][playerSize]part // m[y][x]
	inEllipse := func(x, y int, cx, cy, rx, ry float64) bool {
		dx := (float64(x) + 0.5 - cx) / rx
		dy := (float64(y) + 0.5 - cy) / ry
		return dx*dx+dy*dy <= 1
	}
	const cx, cy, rx, ry = 12, 13, 9.6, 8.4
	for y := range playerSize {
		for x := range playerSize {
			switch {
			case inEllipse(x, y, cx, cy, rx, ry):
				switch {
				case inEllipse(x, y, 8, 9, 2.6, 1.8):
					m[y][x] = light
				case !inEllipse(x, y, cx-1.4, cy-2.2, rx, ry):
					// The body minus itself moved towards the light
					// leaves a crescent of shadow on the far side.
					m[y][x] = shadow
				default:
					m[y][x] = body
				}
			case inEllipse(x, y, 7.5, 21.8, 2.8, 1.6), inEllipse(x, y, 16.5, 21.8, 2.8, 1.6):
				m[y][x] = foot
			}
		}
	}
	// A sprout: a stem and a leaf leaning right.
	for _, p := range [][2]int{{12, 4}, {12, 3}, {13, 2}, {14, 2}, {13, 3}, {14, 1}, {15, 1}} {
		m[p[1]][p[0]] = foot
	}
	m[2][14] = light // the leaf catches the light

	// Eyes: tall and dark, with a glint, looking right.
	for _, ex := range []int{13, 18} {
		for y := 10; y <= 12; y++ {
			m[y][ex] = eye
			m[y][ex+1] = eye
		}
		m[10][ex] = glint
	}
	// A small smile between the eyes and rosy cheeks beside it.
	m[14][15], m[14][16] = eye, eye
	m[13][14], m[13][17] = eye, eye
	m[13][11], m[13][12] = cheek, cheek
	m[13][20], m[13][19] = cheek, cheek
	// A sparkle on the body's highlight.
	m[8][7] = glint

	// The outline: every empty pixel touching the creature, diagonals too,
	// so the silhouette is closed.
	out := m
	for y := range playerSize {
		for x := range playerSize {
			if m[y][x] != empty {
				continue
			}
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx >= 0 && ny >= 0 && nx < playerSize && ny < playerSize && m[ny][nx] != empty {
						out[y][x] = outline
					}
				}
			}
		}
	}
	return out
}

// drawPlayer paints the creature in base colour c.
func drawPlayer(c color.NRGBA) image.Image {
	colors := [...]color.NRGBA{
		empty:   {},
		outline: mix(c, color.NRGBA{0x14, 0x0c, 0x1c, 0xff}, 0.8),
		shadow:  mix(c, color.NRGBA{0x20, 0x10, 0x40, 0xff}, 0.35),
		body:    c,
		light:   mix(c, color.NRGBA{0xff, 0xff, 0xff, 0xff}, 0.45),
		eye:     {0x1a, 0x12, 0x22, 0xff},
		glint:   {0xff, 0xff, 0xff, 0xff},
		cheek:   mix(c, color.NRGBA{0xff, 0x60, 0x90, 0xff}, 0.55),
		foot:    mix(c, color.NRGBA{0x20, 0x10, 0x40, 0xff}, 0.55),
	}
	m := creature()
	img := image.NewNRGBA(image.Rect(0, 0, playerSize, playerSize))
	for y := range playerSize {
		for x := range playerSize {
			img.SetNRGBA(x, y, colors[m[y][x]])
		}
	}
	return img
}

// mix returns a blend of a and b, t of the way to b, opaque.
func mix(a, b color.NRGBA, t float64) color.NRGBA {
	f := func(x, y uint8) uint8 {
		return uint8(float64(x)*(1-t) + float64(y)*t + 0.5)
	}
	return color.NRGBA{f(a.R, b.R), f(a.G, b.G), f(a.B, b.B), 0xff}
}

// rng is a small deterministic generator (a 32-bit xorshift), ours so that
// the output cannot change with a library's algorithm.
type rng uint32

func (r *rng) next() uint32 {
	x := uint32(*r)
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	*r = rng(x)
	return x
}

// drawFloor paints a 32x32 floor tile: a quiet checker of 16 px squares in
// two close slate tones, a faint grid line along the top and left edges
// (which, tiled, outlines every tile) and a sprinkle of specks. Everything
// repeats with the tile, so it tiles seamlessly.
func drawFloor() image.Image {
	dark := color.NRGBA{0x3b, 0x41, 0x5a, 0xff}
	lite := color.NRGBA{0x40, 0x47, 0x61, 0xff}
	line := color.NRGBA{0x4a, 0x52, 0x6e, 0xff}
	img := image.NewNRGBA(image.Rect(0, 0, tileSize, tileSize))
	for y := range tileSize {
		for x := range tileSize {
			c := dark
			if (x/16+y/16)%2 == 1 {
				c = lite
			}
			if x == 0 || y == 0 {
				c = line
			}
			img.SetNRGBA(x, y, c)
		}
	}
	r := rng(0x9e3779b9)
	for range 10 {
		x, y := int(r.next()%(tileSize-2))+1, int(r.next()%(tileSize-2))+1
		base := img.NRGBAAt(x, y)
		if r.next()%2 == 0 {
			img.SetNRGBA(x, y, mix(base, color.NRGBA{0x22, 0x26, 0x36, 0xff}, 0.35))
		} else {
			img.SetNRGBA(x, y, mix(base, line, 0.6))
		}
	}
	return img
}

// drawWall paints a 32x32 wall tile of stone bricks, 16x8 px, every other
// row offset by half a brick, with a lit top edge and a shaded bottom edge
// on each brick, and dark mortar between.
func drawWall() image.Image {
	mortar := color.NRGBA{0x1e, 0x1b, 0x26, 0xff}
	stone := color.NRGBA{0x6b, 0x62, 0x7a, 0xff}
	top := mix(stone, color.NRGBA{0xff, 0xf4, 0xe0, 0xff}, 0.3)
	bottom := mix(stone, mortar, 0.45)
	img := image.NewNRGBA(image.Rect(0, 0, tileSize, tileSize))
	r := rng(0x1234567)
	for row := range tileSize / 8 {
		offset := (row % 2) * 8
		for b := range 3 { // covers the tile width with the offset
			bx := b*16 - offset
			// Each brick a slightly different tone.
			tone := mix(stone, mortar, float64(r.next()%4)*0.06)
			for y := row * 8; y < row*8+8; y++ {
				for x := bx; x < bx+16; x++ {
					if x < 0 || x >= tileSize {
						continue
					}
					lx, ly := x-bx, y-row*8
					c := tone
					switch {
					case lx == 15 || ly == 7:
						c = mortar
					case ly == 0:
						c = top
					case ly == 6 || lx == 14:
						c = bottom
					}
					img.SetNRGBA(x, y, c)
				}
			}
		}
	}
	return img
}

// previewSheet lays the images out in a row, each scaled by scale, twice:
// on a light and on a dark background.
func previewSheet(imgs []image.Image, scale int) image.Image {
	const pad = 8
	w, h := pad, 0
	for _, img := range imgs {
		w += img.Bounds().Dx()*scale + pad
		h = max(h, img.Bounds().Dy()*scale)
	}
	sheet := image.NewNRGBA(image.Rect(0, 0, w, 2*(h+2*pad)))
	bgs := []color.NRGBA{{0xe6, 0xe6, 0xe0, 0xff}, {0x3b, 0x41, 0x5a, 0xff}}
	for i, bg := range bgs {
		top := i * (h + 2*pad)
		draw.Draw(sheet, image.Rect(0, top, w, top+h+2*pad), image.NewUniform(bg), image.Point{}, draw.Src)
		x := pad
		for _, img := range imgs {
			b := img.Bounds()
			for y := range b.Dy() * scale {
				for xx := range b.Dx() * scale {
					c := img.At(b.Min.X+xx/scale, b.Min.Y+y/scale)
					sheet.Set(x+xx, top+pad+y, over(c, sheet.At(x+xx, top+pad+y)))
				}
			}
			x += b.Dx()*scale + pad
		}
	}
	return sheet
}

// over composites c over bg (both non-premultiplied at the end).
func over(c, bg color.Color) color.Color {
	r, g, b, a := c.RGBA()
	br, bgG, bb, _ := bg.RGBA()
	k := 0xffff - a
	return color.RGBA64{uint16(r + br*k/0xffff), uint16(g + bgG*k/0xffff), uint16(b + bb*k/0xffff), 0xffff}
}
