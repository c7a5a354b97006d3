package data_test

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/data"

	"github.com/spinenet-go/spinenet/detection/box"
)

// brightBounds returns the bounding box of network pixels whose red channel,
// de-normalised, is above 0.5, and how many there are.
func brightBounds(pix []float32, size int, t data.Transform) (box.Box, int) {
	b := box.Box{X1: math.MaxFloat32, Y1: math.MaxFloat32, X2: -1, Y2: -1}
	n := 0
	for y := range size {
		for x := range size {
			v := pix[3*(y*size+x)]*t.Std[0] + t.Mean[0]
			if v > 0.5 {
				n++
				b.X1, b.Y1 = min(b.X1, float32(x)), min(b.Y1, float32(y))
				b.X2, b.Y2 = max(b.X2, float32(x+1)), max(b.Y2, float32(y+1))
			}
		}
	}
	return b, n
}

// TestTrainTransformTracksPixels draws a white rectangle, transforms it with
// flip and jitter, and checks that the transformed box bounds the pixels
// where the rectangle went, within 1 px.
func TestTrainTransformTracksPixels(t *testing.T) {
	const W, H, size = 200, 150, 96
	img := &data.RGB{Width: W, Height: H, Pix: make([]uint8, 3*W*H)}
	rect := image.Rect(37, 41, 121, 97) // pixels [37,121) × [41,97)
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			copy(img.Pix[3*(y*W+x):], []uint8{255, 255, 255})
		}
	}
	objs := []data.Object{{Box: box.Box{X1: 37, Y1: 41, X2: 121, Y2: 97}, Area: 84 * 56}}
	tr := data.DefaultTransform(size)
	tr.ScaleMin, tr.ScaleMax = 0.3, 2.5
	pix := make([]float32, size*size*3)
	rng := rand.New(rand.NewPCG(1, 2))
	flips, crops, dropped := 0, 0, 0
	for i := range 200 {
		out, p := tr.Train(pix, img, objs, rng, nil)
		if p.Flipped {
			flips++
		}
		if p.OffsetX > 0 || p.OffsetY > 0 {
			crops++
		}
		got, n := brightBounds(pix, size, tr)
		if len(out) == 0 {
			dropped++
			// Only a sliver (< MinBoxSide) of the rectangle may be visible.
			if got.W() > 2 && got.H() > 2 {
				t.Fatalf("iter %d: box dropped but %d pixels visible in %v (placement %+v)", i, n, got, p)
			}
			continue
		}
		b := out[0].Box
		if d := maxAbsDiff(b, got); d > 1 {
			t.Fatalf("iter %d: box %v, pixels span %v (diff %.2f), placement %+v", i, b, got, d, p)
		}
		if want := objs[0].Area * p.Scale * p.Scale; math.Abs(float64(out[0].Area-want)) > 1e-3*float64(want) {
			t.Errorf("area %g, want %g", out[0].Area, want)
		}
	}
	if flips < 70 || flips > 130 || crops < 50 || dropped == 200 {
		t.Errorf("flips %d, crops %d, dropped %d of 200: augmentation not exercised", flips, crops, dropped)
	}
}

func maxAbsDiff(a, b box.Box) float32 {
	return max(abs32(a.X1-b.X1), abs32(a.Y1-b.Y1), abs32(a.X2-b.X2), abs32(a.Y2-b.Y2))
}

func abs32(v float32) float32 { return float32(math.Abs(float64(v))) }

func TestEvalNormaliseAndPad(t *testing.T) {
	const W, H, size = 64, 32, 48
	img := &data.RGB{Width: W, Height: H, Pix: make([]uint8, 3*W*H)}
	for i := 0; i < len(img.Pix); i += 3 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2] = 255, 128, 0
	}
	tr := data.DefaultTransform(size)
	pix := make([]float32, size*size*3)
	for i := range pix {
		pix[i] = 42 // stale values must be overwritten
	}
	objs := []data.Object{{Box: box.Box{X1: 8, Y1: 4, X2: 40, Y2: 30}}}
	out, p := tr.Eval(pix, img, objs, nil)
	if p.Scale != 0.75 || p.Width != 48 || p.Height != 24 || p.Flipped || p.OffsetX != 0 {
		t.Fatalf("placement %+v", p)
	}
	want := [3]float32{(1 - 0.485) / 0.229, (128.0/255 - 0.456) / 0.224, (0 - 0.406) / 0.225}
	for y := range size {
		for x := range size {
			for c := range 3 {
				v := pix[3*(y*size+x)+c]
				w := want[c]
				if y >= 24 {
					w = 0 // padding after normalisation
				}
				if math.Abs(float64(v-w)) > 1e-5 {
					t.Fatalf("pixel (%d,%d,%d) = %g, want %g", x, y, c, v, w)
				}
			}
		}
	}
	if len(out) != 1 || out[0].Box != (box.Box{X1: 6, Y1: 3, X2: 30, Y2: 22.5}) {
		t.Errorf("eval box %+v", out)
	}
	if back := p.ToOriginal(out[0].Box); maxAbsDiff(back, objs[0].Box) > 1e-4 {
		t.Errorf("ToOriginal %v, want %v", back, objs[0].Box)
	}
	// Round trip through a flipped, cropped training placement.
	q := data.Placement{Scale: 1.5, OffsetX: 7, OffsetY: 3, Flipped: true, OrigWidth: W, OrigHeight: H, Width: 48, Height: 45}
	b := box.Box{X1: 10, Y1: 5, X2: 20, Y2: 25}
	if back := q.ToOriginal(q.ToNetwork(b)); maxAbsDiff(back, b) > 1e-4 {
		t.Errorf("flipped round trip %v, want %v", back, b)
	}
}

func TestTransformCheck(t *testing.T) {
	for _, tr := range []data.Transform{
		{Size: 0, ScaleMin: 1, ScaleMax: 1, Std: data.ImageNetStd},
		{Size: 64, ScaleMin: 0, ScaleMax: 1, Std: data.ImageNetStd},
		{Size: 64, ScaleMin: 2, ScaleMax: 1, Std: data.ImageNetStd},
		{Size: 64, ScaleMin: 1, ScaleMax: 1},
	} {
		if tr.Check() == nil {
			t.Errorf("%+v accepted", tr)
		}
	}
	if err := data.DefaultTransform(640).Check(); err != nil {
		t.Error(err)
	}
}

// TestToRGB compares the fast conversion paths with the standard library's
// colour models.
func TestToRGB(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(p []uint8) {
		for i := range p {
			p[i] = uint8(rng.IntN(256))
		}
	}
	r := image.Rect(0, 0, 37, 23)
	var imgs []image.Image
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		m := image.NewYCbCr(r, ratio)
		fill(m.Y)
		fill(m.Cb)
		fill(m.Cr)
		imgs = append(imgs, m, m.SubImage(image.Rect(3, 5, 30, 20)))
	}
	g := image.NewGray(r)
	fill(g.Pix)
	c := image.NewCMYK(r)
	fill(c.Pix)
	n := image.NewNRGBA(r)
	fill(n.Pix)
	pal := image.NewPaletted(r, color.Palette{color.RGBA{1, 2, 3, 255}, color.RGBA{200, 100, 50, 255}, color.Gray{77}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(rng.IntN(3))
	}
	g16 := image.NewGray16(r)
	fill(g16.Pix)
	imgs = append(imgs, g, g.SubImage(image.Rect(1, 1, 9, 9)), c, n, pal, g16)
	for i, img := range imgs {
		got := data.ToRGB(nil, img)
		b := img.Bounds()
		if got.Width != b.Dx() || got.Height != b.Dy() {
			t.Fatalf("image %d: size %dx%d", i, got.Width, got.Height)
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				var want [3]uint8
				switch m := img.(type) {
				case *image.NRGBA:
					p := m.NRGBAAt(x, y)
					want = [3]uint8{p.R, p.G, p.B}
				default:
					p := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
					want = [3]uint8{p.R, p.G, p.B}
				}
				o := 3 * ((y-b.Min.Y)*got.Width + x - b.Min.X)
				if [3]uint8(got.Pix[o:o+3]) != want {
					t.Fatalf("image %d (%T) pixel (%d,%d): %v, want %v", i, img, x, y, got.Pix[o:o+3], want)
				}
			}
		}
	}
}
