package labeled

import (
	"math"
	"testing"

	"github.com/spinenet-go/spinenet/data"
)

// FillRGB takes the centred square window of an image: with the window
// already at the network size it is copied exactly, then normalised, and
// converted to luma for one channel.
func TestFillRGBCentredWindow(t *testing.T) {
	// A 4×2 image: the centred 2×2 window is columns 1 and 2.
	img := &data.RGB{Width: 4, Height: 2, Pix: make([]uint8, 4*2*3)}
	for i := range img.Pix {
		img.Pix[i] = uint8(10 * i)
	}
	tr := Transform{Size: 2, Channels: 3, Mean: [3]float32{0.1, 0.2, 0.3}, Std: [3]float32{0.5, 0.5, 0.5}}
	dst := make([]float32, tr.Floats())
	if err := tr.FillRGB(dst, img, nil); err != nil {
		t.Fatal(err)
	}
	gray := Transform{Size: 2, Channels: 1, Std: [3]float32{1, 1, 1}}
	g := make([]float32, gray.Floats())
	if err := gray.FillRGB(g, img, nil); err != nil {
		t.Fatal(err)
	}
	for y := range 2 {
		for x := range 2 {
			src := (y*4 + x + 1) * 3
			for c := range 3 {
				want := (float32(img.Pix[src+c])/255 - tr.Mean[c]) / tr.Std[c]
				if got := dst[(y*2+x)*3+c]; math.Abs(float64(got-want)) > 1e-5 {
					t.Errorf("pixel (%d,%d) channel %d: %v, want %v", x, y, c, got, want)
				}
			}
			luma := (0.299*float32(img.Pix[src]) + 0.587*float32(img.Pix[src+1]) + 0.114*float32(img.Pix[src+2])) / 255
			if got := g[y*2+x]; math.Abs(float64(got-luma)) > 1e-2 {
				t.Errorf("pixel (%d,%d) luma %v, want %v", x, y, got, luma)
			}
		}
	}
	if err := tr.FillRGB(dst, &data.RGB{}, nil); err == nil {
		t.Error("FillRGB of an empty image did not fail")
	}
}
