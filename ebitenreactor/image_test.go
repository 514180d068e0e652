//go:build unix

package ebitenreactor_test

import (
	"image"
	"image/color"
	"image/png"
	"os"
)

func colorRGBA(r, g, b uint8) color.RGBA { return color.RGBA{r, g, b, 0xff} }

// writePNG writes RGBA pixels (premultiplied, as ReadPixels gives them; the
// frame is opaque, so the same) as a PNG.
func writePNG(path string, pix []byte, w, h int) error {
	img := &image.RGBA{Pix: pix, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readPNG(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return png.Decode(f)
}
