// Package assets holds the game's sprites: pixel art drawn by our own
// generator (assets/gen), committed as PNG files and embedded here.
//
//   - player_00.png ... player_11.png: the player creature, PlayerSize px
//     square, one per colour. It looks to the right; draw it mirrored
//     horizontally (scale x by -1) for a player facing left. Its centre is
//     the player's position.
//   - floor.png: the arena floor, a TileSize px tile that repeats seamlessly.
//   - wall.png: the arena wall, a TileSize px tile that repeats seamlessly.
//
// The functions decode the embedded PNG on every call, so the package has no
// mutable state; decode once at start-up and keep the result (the Ebiten
// client converts it to an *ebiten.Image, which this package does not
// import).
//
// To change the art, edit gen/main.go and run go generate in this directory.
package assets

//go:generate go run ./gen

import (
	"embed"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"

	"github.com/threadedselect/reactor/assets/internal/palette"
)

// Sprite sizes, in pixels.
const (
	PlayerSize = 24 // width and height of a player sprite
	TileSize   = 32 // width and height of the floor and wall tiles
)

// NumPlayerColors is the number of player sprite colours.
const NumPlayerColors = len(palette.Players)

//go:embed *.png
var files embed.FS

// FS returns the embedded PNG files, for callers that want the raw bytes.
func FS() fs.FS { return files }

// PlayerSprite returns the player sprite of colour i. Any i is accepted and
// taken modulo NumPlayerColors, so a player id can be passed directly.
func PlayerSprite(i int) (image.Image, error) {
	return decode(fmt.Sprintf("player_%02d.png", playerColorIndex(i)))
}

// PlayerColor returns the body colour of player sprite i (modulo
// NumPlayerColors, as in PlayerSprite), e.g. to draw the player's name in.
func PlayerColor(i int) color.NRGBA {
	return palette.Players[playerColorIndex(i)]
}

func playerColorIndex(i int) int {
	return (i%NumPlayerColors + NumPlayerColors) % NumPlayerColors
}

// Floor returns the arena floor tile.
func Floor() (image.Image, error) { return decode("floor.png") }

// Wall returns the arena wall tile.
func Wall() (image.Image, error) { return decode("wall.png") }

func decode(name string) (image.Image, error) {
	f, err := files.Open(name)
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("assets: decoding %s: %w", name, err)
	}
	return img, nil
}
