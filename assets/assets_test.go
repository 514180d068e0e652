package assets

import (
	"bytes"
	"image"
	"image/color"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestImages checks every embedded PNG: it decodes, has its size, and is
// not blank. Sprites must have both transparent and opaque pixels; tiles
// must be opaque (they cover the floor) and not one flat colour.
func TestImages(t *testing.T) {
	names, err := fs.Glob(FS(), "*.png")
	if err != nil {
		t.Fatal(err)
	}
	if want := NumPlayerColors + 2; len(names) != want {
		t.Errorf("%d PNG files embedded, want %d: %v", len(names), want, names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			img, err := decode(name)
			if err != nil {
				t.Fatal(err)
			}
			size, sprite := TileSize, false
			if name != "floor.png" && name != "wall.png" {
				size, sprite = PlayerSize, true
			}
			if b := img.Bounds(); b != image.Rect(0, 0, size, size) {
				t.Fatalf("bounds %v, want %dx%d", b, size, size)
			}
			transparent, opaque := 0, 0
			colors := map[color.NRGBA]bool{}
			for y := range size {
				for x := range size {
					c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
					colors[c] = true
					switch c.A {
					case 0:
						transparent++
					case 0xff:
						opaque++
					}
				}
			}
			if sprite && (transparent == 0 || opaque == 0) {
				t.Errorf("%d transparent and %d opaque pixels, want some of each", transparent, opaque)
			}
			if !sprite && opaque != size*size {
				t.Errorf("%d of %d pixels opaque, want all", opaque, size*size)
			}
			if len(colors) < 3 {
				t.Errorf("only %d colours", len(colors))
			}
		})
	}
}

func TestPlayerSprite(t *testing.T) {
	for _, i := range []int{0, 5, NumPlayerColors - 1, NumPlayerColors, 65535, -1} {
		img, err := PlayerSprite(i)
		if err != nil {
			t.Fatalf("PlayerSprite(%d): %v", i, err)
		}
		// The body colour is the sprite's most common colour.
		counts := map[color.NRGBA]int{}
		var most color.NRGBA
		for y := range PlayerSize {
			for x := range PlayerSize {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				if c.A == 0 {
					continue
				}
				counts[c]++
				if counts[c] > counts[most] {
					most = c
				}
			}
		}
		if want := PlayerColor(i); most != want {
			t.Errorf("sprite %d: most common colour %v, PlayerColor %v", i, most, want)
		}
	}
	a, _ := PlayerSprite(-1)
	b, _ := PlayerSprite(NumPlayerColors - 1)
	if !sameImage(a, b) {
		t.Error("PlayerSprite(-1) is not the last colour")
	}
	for _, f := range []func() (image.Image, error){Floor, Wall} {
		if _, err := f(); err != nil {
			t.Error(err)
		}
	}
}

func sameImage(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}

// TestGeneratorUpToDate runs the generator twice into temporary directories
// and checks that its output is deterministic and identical to the committed
// PNG files, so nobody edits the generator and forgets to regenerate.
func TestGeneratorUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	// go test puts its own toolchain first in PATH.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	var runs [2]string
	for i := range runs {
		runs[i] = t.TempDir()
		out, err := exec.Command(goCmd, "run", "./gen", "-dir", runs[i]).CombinedOutput()
		if err != nil {
			t.Fatalf("go run ./gen: %v\n%s", err, out)
		}
	}
	names, _ := fs.Glob(FS(), "*.png")
	for _, name := range names {
		committed, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		for i, dir := range runs {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, committed) {
				t.Errorf("run %d: %s differs from the committed file; run go generate in assets/", i+1, name)
			}
		}
	}
	generated, _ := filepath.Glob(filepath.Join(runs[0], "*.png"))
	if len(generated) != len(names) {
		t.Errorf("generator wrote %d files, %d are embedded", len(generated), len(names))
	}
}
