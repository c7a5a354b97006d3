package labeled

import (
	"fmt"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/data/pipeline"
	"github.com/spinenet-go/spinenet/data/resample"
)

// ImageNet channel statistics in [0, 1] space, used for RGB sets.
var (
	ImageNetMean = data.ImageNetMean
	ImageNetStd  = data.ImageNetStd
)

// Augment is the random training augmentation; the zero value (evaluation)
// does nothing.
type Augment struct {
	// Flip mirrors the image horizontally with probability 0.5.
	Flip bool
	// CropPad pads the (resized) image by CropPad black pixels on every side
	// and crops a random Size×Size window back out: a shift by dx, dy drawn
	// uniformly from [−CropPad, CropPad] (the CIFAR-style "random crop with
	// padding"; black is pixel value 0, padded before normalisation as
	// torchvision's RandomCrop(padding) does).
	CropPad int
	// RandomWindow takes an ImageFolder image's square window at a random
	// offset along its long side instead of centred.
	RandomWindow bool
}

// Transform turns one image of a Set into a network input [Size, Size,
// Channels] (NHWC, float32):
//
//  1. window: an IDX image is used whole; an ImageFolder image contributes
//     the square of side min(W, H), centred (or at a random offset along the
//     long side with Augment.RandomWindow), so the aspect ratio is kept;
//  2. resize the window to Size×Size with data/resample's bilinear,
//     half-pixel centres (output pixel u samples source
//     (u + 0.5)·side/Size − 0.5, clamped at the border; without
//     antialiasing, like tf.image.resize). A window already Size×Size is
//     copied exactly;
//  3. augment (Augment): horizontal flip, then shift with black padding;
//  4. convert channels: a 1-channel image is replicated to 3 channels when
//     Channels is 3, an RGB image becomes luma (0.299 R + 0.587 G + 0.114 B)
//     when Channels is 1;
//  5. normalise: v = (pixel/255 − Mean[c]) / Std[c].
type Transform struct {
	// Size is the side of the square network input.
	Size int
	// Channels is the network's input channel count, 1 or 3.
	Channels int
	// Mean and Std per output channel in [0, 1] space (only index 0 is used
	// when Channels is 1).
	Mean, Std [3]float32
	// Augment is the random training augmentation; leave it zero for
	// evaluation.
	Augment Augment
}

// Check reports an invalid Transform.
func (t Transform) Check() error {
	switch {
	case t.Size < 1:
		return fmt.Errorf("labeled: transform size %d, want ≥ 1", t.Size)
	case t.Channels != 1 && t.Channels != 3:
		return fmt.Errorf("labeled: transform channels %d, want 1 or 3", t.Channels)
	case t.Augment.CropPad < 0 || t.Augment.CropPad >= t.Size:
		return fmt.Errorf("labeled: crop padding %d, want 0 ≤ pad < size %d", t.Augment.CropPad, t.Size)
	}
	for c := range t.Channels {
		if !(t.Std[c] > 0) {
			return fmt.Errorf("labeled: transform std[%d] = %v, want > 0", c, t.Std[c])
		}
	}
	return nil
}

// Floats returns the number of floats of one transformed image.
func (t Transform) Floats() int { return t.Size * t.Size * t.Channels }

// Scratch holds reusable per-goroutine buffers for Fill.
type Scratch struct {
	rgb  data.RGB
	taps []resample.Tap
	bl   resample.Bilinear
}

// SampleSeed derives the seed of sample index's generator in an epoch
// (splitmix64 over the tuple).
func SampleSeed(seed uint64, epoch, index int) uint64 {
	return pipeline.Mix(seed, uint64(epoch), uint64(index))
}

// SampleRNG returns the generator of sample index in an epoch, the one the
// Loader's workers hand to Fill.
func SampleRNG(seed uint64, epoch, index int) *rand.Rand {
	return pipeline.ItemRNG(seed, epoch, index, augmentKey)
}

// Fill writes image i of s, transformed by t, into dst (t.Floats() values).
// rng drives the augmentation and may be nil when t.Augment is the zero
// value. sc may be nil (buffers are then allocated).
func (s *Set) Fill(dst []float32, i int, t Transform, rng *rand.Rand, sc *Scratch) error {
	if len(dst) < t.Floats() {
		panic("labeled: short dst")
	}
	if sc == nil {
		sc = new(Scratch)
	}
	var pix []uint8
	var w, h, c int
	if s.pix != nil {
		pix, w, h, c = s.Pixels(i), s.W, s.H, s.C
	} else {
		img, err := data.DecodeFile(&sc.rgb, s.Paths[i])
		if err != nil {
			return fmt.Errorf("labeled: %s: %w", s.Paths[i], err)
		}
		pix, w, h, c = img.Pix, img.Width, img.Height, 3
		if w < 1 || h < 1 {
			return fmt.Errorf("labeled: %s: empty image", s.Paths[i])
		}
	}
	// 1. The source window.
	x0, y0, side := 0, 0, 0
	sw, sh := w, h
	if s.pix == nil {
		side = min(w, h)
		sw, sh = side, side
		x0, y0 = (w-side)/2, (h-side)/2
		if t.Augment.RandomWindow && rng != nil {
			if w > side {
				x0 = rng.IntN(w - side + 1)
			}
			if h > side {
				y0 = rng.IntN(h - side + 1)
			}
		}
	}
	// 3. Augmentation draws (flip, then shift).
	flip := false
	dx, dy := 0, 0
	if rng != nil {
		if t.Augment.Flip {
			flip = rng.IntN(2) == 1
		}
		if p := t.Augment.CropPad; p > 0 {
			dx, dy = rng.IntN(2*p+1)-p, rng.IntN(2*p+1)-p
		}
	}
	render(dst, pix, w, c, x0, y0, sw, sh, t, flip, dx, dy, sc)
	return nil
}

// FillRGB writes img, transformed by t for evaluation, into dst
// (t.Floats() values): the centred square window of the image resized to
// Size×Size, channels converted and normalised as for an ImageFolder
// sample, without augmentation. sc may be nil.
func (t Transform) FillRGB(dst []float32, img *data.RGB, sc *Scratch) error {
	if len(dst) < t.Floats() {
		return fmt.Errorf("labeled: FillRGB into %d floats, want %d", len(dst), t.Floats())
	}
	if img.Width < 1 || img.Height < 1 {
		return fmt.Errorf("labeled: empty %d×%d image", img.Width, img.Height)
	}
	if sc == nil {
		sc = new(Scratch)
	}
	side := min(img.Width, img.Height)
	render(dst, img.Pix, img.Width, 3, (img.Width-side)/2, (img.Height-side)/2, side, side, t, false, 0, 0, sc)
	return nil
}

// render resamples the window (x0, y0, sw×sh) of the w-wide c-channel
// image pix to t.Size² with data/resample's bilinear, with the flip and
// shift applied, and normalises; shifted-in pixels are black.
func render(dst []float32, pix []uint8, w, c, x0, y0, sw, sh int, t Transform, flip bool, dx, dy int, sc *Scratch) {
	S, oc := t.Size, t.Channels
	var mul, add [3]float32
	for k := range oc {
		mul[k] = 1 / (255 * t.Std[k])
		add[k] = -t.Mean[k] / t.Std[k]
	}
	if cap(sc.taps) < 2*S {
		sc.taps = make([]resample.Tap, 2*S)
	}
	// Output columns u0…u0+len(cols)−1 (rows v0…) show the image; the rest
	// is black padding brought in by the shift.
	cols, u0 := windowTaps(sc.taps[:0:S], S, sw, x0, dx, flip)
	rows, v0 := windowTaps(sc.taps[S:S:2*S], S, sh, y0, dy, false)
	pad := func(o []float32) {
		for u := 0; u < len(o); u += oc {
			copy(o[u:u+oc], add[:oc])
		}
	}
	pad(dst[:v0*S*oc])
	pad(dst[(v0+len(rows))*S*oc : S*S*oc])
	img := resample.Image{Pix: pix, Width: w, Height: len(pix) / max(w*c, 1), Channels: c}
	sc.bl.Rows(img, cols, rows, func(y int, row []float32) {
		o := dst[(v0+y)*S*oc : (v0+y+1)*S*oc]
		pad(o[:u0*oc])
		pad(o[(u0+len(cols))*oc:])
		q := o[u0*oc : (u0+len(cols))*oc]
		for u := range cols {
			px, qu := row[u*c:(u+1)*c], q[u*oc:(u+1)*oc]
			switch {
			case c == oc:
				for k := range oc {
					qu[k] = px[k]*mul[k] + add[k]
				}
			case c == 1: // gray → RGB
				for k := range oc {
					qu[k] = px[0]*mul[k] + add[k]
				}
			default: // RGB → luma (ITU-R BT.601)
				qu[0] = (0.299*px[0]+0.587*px[1]+0.114*px[2])*mul[0] + add[0]
			}
		}
	})
}

// windowTaps appends to tp the taps of the output pixels of an S-pixel axis
// that show the n-pixel source window starting at off, shifted by shift
// (output u shows window pixel u + shift, mirrored when mirror), and
// returns them with the first such output pixel. Output pixels whose
// shifted position falls outside [0, S) are padding.
func windowTaps(tp []resample.Tap, S, n, off, shift int, mirror bool) ([]resample.Tap, int) {
	first, end := max(0, -shift), min(S, S-shift)
	scale := float64(n) / float64(S)
	for u := first; u < end; u++ {
		v := u + shift
		if mirror {
			v = S - 1 - v
		}
		tap := resample.At(resample.Center(v, scale), n)
		tap.I0 += int32(off)
		tap.I1 += int32(off)
		tp = append(tp, tap)
	}
	return tp, first
}
