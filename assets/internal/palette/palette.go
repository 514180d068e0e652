// Package palette holds the player colours, shared by the sprite generator
// (assets/gen), which paints them, and package assets, which reports them to
// the client, e.g. to draw a player's name in its colour. It lives apart
// from package assets because the generator must build before any PNG
// exists for assets to embed.
package palette

import "image/color"

// Players are the base body colours of the player sprite variants, in the
// order of the files player_00.png, player_01.png, ...: hues chosen to be
// told apart at a glance, not spaced evenly.
var Players = [...]color.NRGBA{
	{0xe8, 0x3b, 0x3b, 0xff}, // red
	{0xf5, 0x8a, 0x1f, 0xff}, // orange
	{0xf7, 0xd2, 0x2e, 0xff}, // yellow
	{0x8c, 0xd6, 0x3a, 0xff}, // lime
	{0x2f, 0xb0, 0x5a, 0xff}, // green
	{0x2e, 0xc4, 0xb6, 0xff}, // teal
	{0x3f, 0xa7, 0xf0, 0xff}, // sky
	{0x4a, 0x5c, 0xe8, 0xff}, // blue
	{0x9b, 0x59, 0xe0, 0xff}, // purple
	{0xe0, 0x4f, 0xc8, 0xff}, // magenta
	{0xff, 0x9e, 0xb5, 0xff}, // pink
	{0xe8, 0xe4, 0xda, 0xff}, // white
}
