package labeled

import (
	"fmt"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/data"
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
//  2. resize the window to Size×Size bilinearly with half-pixel centres
//     (output pixel u samples source (u + 0.5)·side/Size − 0.5, clamped at
//     the border; without antialiasing, like tf.image.resize). A window
//     already Size×Size is copied exactly;
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
	Augment   Augment
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
	taps []tap
}

type tap struct {
	i0, i1 int32
	w      float32
}

// SampleSeed derives the seed of sample index's generator in an epoch
// (splitmix64 over the tuple).
func SampleSeed(seed uint64, epoch, index int) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range [...]uint64{seed, uint64(epoch), uint64(index)} {
		h ^= v
		h += 0x9e3779b97f4a7c15
		h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
		h = (h ^ h>>27) * 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

// SampleRNG returns the generator of sample index in an epoch.
func SampleRNG(seed uint64, epoch, index int) *rand.Rand {
	return rand.New(rand.NewPCG(SampleSeed(seed, epoch, index), 0x5ca1ab1e))
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
// image pix to t.Size², with the flip and shift applied, and normalises.
func render(dst []float32, pix []uint8, w, c, x0, y0, sw, sh int, t Transform, flip bool, dx, dy int, sc *Scratch) {
	S, oc := t.Size, t.Channels
	var mul, add [3]float32
	for k := range oc {
		mul[k] = 1 / (255 * t.Std[k])
		add[k] = -t.Mean[k] / t.Std[k]
	}
	// Column taps of every output column (−1: padding).
	if cap(sc.taps) < 2*S {
		sc.taps = make([]tap, 2*S)
	}
	cols, rows := sc.taps[:S], sc.taps[S:2*S]
	setTaps := func(tp []tap, n, off, shift int, mirror bool) {
		scale := float64(n) / float64(S)
		for u := range S {
			v := u + shift // the shifted window…
			if v < 0 || v >= S {
				tp[u] = tap{-1, -1, 0}
				continue
			}
			if mirror { // …of the flipped image
				v = S - 1 - v
			}
			i0, i1, wt := taps((float64(v)+0.5)*scale-0.5, n)
			tp[u] = tap{int32(off + i0), int32(off + i1), wt}
		}
	}
	setTaps(cols, sw, x0, dx, flip)
	setTaps(rows, sh, y0, dy, false)
	stride := w * c
	var px [3]float32
	for v := range S {
		o := dst[v*S*oc : (v+1)*S*oc]
		ry := rows[v]
		if ry.i0 < 0 {
			for u := range S {
				copy(o[u*oc:(u+1)*oc], add[:oc])
			}
			continue
		}
		r0 := pix[int(ry.i0)*stride : (int(ry.i0)+1)*stride]
		r1 := pix[int(ry.i1)*stride : (int(ry.i1)+1)*stride]
		for u := range S {
			cx := cols[u]
			q := o[u*oc : (u+1)*oc]
			if cx.i0 < 0 {
				copy(q, add[:oc])
				continue
			}
			a, b := int(cx.i0)*c, int(cx.i1)*c
			for k := range c {
				top := float32(r0[a+k]) + cx.w*(float32(r0[b+k])-float32(r0[a+k]))
				bot := float32(r1[a+k]) + cx.w*(float32(r1[b+k])-float32(r1[a+k]))
				px[k] = top + ry.w*(bot-top)
			}
			switch {
			case c == oc:
				for k := range oc {
					q[k] = px[k]*mul[k] + add[k]
				}
			case c == 1: // gray → RGB
				for k := range oc {
					q[k] = px[0]*mul[k] + add[k]
				}
			default: // RGB → luma (ITU-R BT.601)
				q[0] = (0.299*px[0]+0.587*px[1]+0.114*px[2])*mul[0] + add[0]
			}
		}
	}
}

// taps returns the two neighbouring source indices of coordinate f in
// [0, n) and the weight of the second, clamping at the borders.
func taps(f float64, n int) (i0, i1 int, w float32) {
	if f <= 0 {
		return 0, 0, 0
	}
	if f >= float64(n-1) {
		return n - 1, n - 1, 0
	}
	i0 = int(f)
	return i0, i0 + 1, float32(f - float64(i0))
}
