package data

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/data/resample"
	"github.com/spinenet-go/spinenet/detection/box"
)

// ImageNet channel statistics in [0, 1] space (spec §4, TPU
// input_utils.normalize_image).
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// Transform turns an RGB image and its objects into one S×S×3 network input
// (spec §4): resize, (train only) flip and random crop, normalise, zero-pad.
//
// Training (Train) follows the TPU/TF2 detection parsers (retinanet_parser →
// input_utils.resize_and_crop_image with random jittering):
//
//  1. flip horizontally with probability 0.5 (if Flip);
//  2. draw s uniformly in [ScaleMin, ScaleMax] and resize so that the long
//     side becomes s·Size (scale r = s·Size / max(W, H), the same r for both
//     axes);
//  3. if the resized image is larger than Size in a dimension, crop a random
//     window: offset = floor(u·(scaled − Size)) with u uniform in [0, 1),
//     drawn per axis; otherwise the offset is 0;
//  4. zero-pad bottom/right to Size×Size (after normalisation).
//
// Boxes go through the same map (x ↦ W−x under the flip, then ·r − offset),
// are clipped to the visible image area, and are dropped when their clipped
// width or height is below MinBoxSide pixels. TF keeps every box with
// positive clipped size (MinBoxSide = 0); the default of 1 px drops slivers
// at the crop border. So with s < 1 the image sits in the top-left corner
// with padding, and with s > 1 the network sees a random Size×Size window.
//
// Evaluation (Eval) resizes the long side to exactly Size (r = Size/max(W,H)),
// pads bottom/right and never crops or flips; Placement.Scale maps
// detections back to original pixels.
//
// Resampling is data/resample's bilinear with half-pixel centres (network
// pixel u samples source coordinate (u+0.5)/r − 0.5, clamped at the border;
// as TF2 tf.image.resize, without antialiasing).
type Transform struct {
	// Size is the side S of the square network input.
	Size int
	// ScaleMin and ScaleMax bound the training scale jitter s (spec §7:
	// [0.8, 1.2] protocol A; [0.5, 2.0] protocols B/C and TPU yamls for
	// 49S/49/96; [0.1, 2.0] TF2 yamls). 1, 1 disables jitter.
	ScaleMin, ScaleMax float64
	// Flip enables the random horizontal flip in training.
	Flip bool
	// Mean and Std normalise each RGB channel in [0, 1] space:
	// v = (pixel/255 − Mean) / Std.
	Mean, Std [3]float32
	// MinBoxSide drops transformed boxes whose clipped width or height is
	// below this many network pixels (training and evaluation).
	MinBoxSide float32
	// MaskPatch, when positive, gives every transformed object with a
	// Mask its Object.MaskPatch of this side (Mask R-CNN: 112).
	MaskPatch int
}

// DefaultTransform returns the SpineNet-49 RetinaNet training settings at
// input size size: scale jitter [0.5, 2.0] (TPU yamls for 49S/49/96, spec
// §7), random flip, ImageNet mean/std, MinBoxSide 1.
func DefaultTransform(size int) Transform {
	return Transform{Size: size, ScaleMin: 0.5, ScaleMax: 2.0, Flip: true, Mean: ImageNetMean, Std: ImageNetStd, MinBoxSide: 1}
}

// Check reports an invalid configuration.
func (t Transform) Check() error {
	switch {
	case t.Size <= 0:
		return fmt.Errorf("data: transform size %d must be positive", t.Size)
	case !(t.ScaleMin > 0) || !(t.ScaleMax >= t.ScaleMin) || math.IsInf(t.ScaleMax, 0):
		return fmt.Errorf("data: transform scale range [%g, %g] must satisfy 0 < min ≤ max", t.ScaleMin, t.ScaleMax)
	case t.Std[0] == 0 || t.Std[1] == 0 || t.Std[2] == 0:
		return fmt.Errorf("data: transform std %v has a zero channel", t.Std)
	case t.MinBoxSide < 0:
		return fmt.Errorf("data: transform MinBoxSide %g is negative", t.MinBoxSide)
	}
	return nil
}

// Placement records where an original image landed in the network input.
// Network coordinates x' relate to original coordinates x by
// x' = (Flipped ? OrigWidth − x : x)·Scale − OffsetX, and y' = y·Scale − OffsetY.
type Placement struct {
	Scale            float32 // network pixels per original pixel
	OffsetX, OffsetY int     // crop offset within the resized image (0 in evaluation)
	Flipped          bool    // horizontally flipped before resizing
	// OrigWidth and OrigHeight are the original image size.
	OrigWidth, OrigHeight int
	// Width and Height are the image region of the network input (the rest,
	// to Size, is padding), anchored at the top-left.
	Width, Height int
}

// ToNetwork maps an original-image box into the network input (unclipped).
func (p Placement) ToNetwork(b box.Box) box.Box {
	if p.Flipped {
		w := float32(p.OrigWidth)
		b.X1, b.X2 = w-b.X2, w-b.X1
	}
	s, ox, oy := p.Scale, float32(p.OffsetX), float32(p.OffsetY)
	return box.XYXY(b.X1*s-ox, b.Y1*s-oy, b.X2*s-ox, b.Y2*s-oy)
}

// ToOriginal maps a network-input box (e.g. a detection) back to original
// image pixels, clipped to the image.
func (p Placement) ToOriginal(b box.Box) box.Box {
	s, ox, oy := p.Scale, float32(p.OffsetX), float32(p.OffsetY)
	b = box.XYXY((b.X1+ox)/s, (b.Y1+oy)/s, (b.X2+ox)/s, (b.Y2+oy)/s)
	if p.Flipped {
		w := float32(p.OrigWidth)
		b.X1, b.X2 = w-b.X2, w-b.X1
	}
	return b.Clip(float32(p.OrigWidth), float32(p.OrigHeight))
}

// visible returns the extent of the resized image inside the network input
// window, in network pixels: the exact W·Scale − OffsetX where the image ends
// inside the window (Width is that rounded), or Width where the window
// crops it (likewise for the height).
func (p Placement) visible() (w, h float32) {
	ext := func(n, off, got int) float32 {
		r := float64(p.Scale)
		if got < scaledSize(n, r)-off { // cropped by the window
			return float32(got)
		}
		return max(0, float32(float64(n)*r-float64(off)))
	}
	return ext(p.OrigWidth, p.OffsetX, p.Width), ext(p.OrigHeight, p.OffsetY, p.Height)
}

// Train applies the training transform (random flip, scale jitter, random
// crop, normalisation, padding; see Transform) with randomness from rng. It
// writes the Size×Size×3 input (HWC) into dst, appends the surviving objects
// in network coordinates to out, and returns them with the placement.
// dst must hold Size·Size·3 values; every value is written.
func (t Transform) Train(dst []float32, img *RGB, objs []Object, rng *rand.Rand, out []Object) ([]Object, Placement) {
	p := t.TrainPlacement(img.Width, img.Height, rng)
	t.render(dst, img, p)
	return t.mapObjects(objs, p, out), p
}

// TrainPlacement draws a training placement for a w×h image: first the flip
// (one rng.Float64 if Flip), then the scale, then the x and y crop offsets.
func (t Transform) TrainPlacement(w, h int, rng *rand.Rand) Placement {
	flip := t.Flip && rng.Float64() < 0.5
	s := t.ScaleMin + (t.ScaleMax-t.ScaleMin)*rng.Float64()
	r := float64(float32(s * float64(t.Size) / float64(max(w, h)))) // as stored in Placement.Scale
	sw, sh := scaledSize(w, r), scaledSize(h, r)
	ux, uy := rng.Float64(), rng.Float64()
	ox := int(ux * float64(max(0, sw-t.Size)))
	oy := int(uy * float64(max(0, sh-t.Size)))
	return Placement{
		Scale: float32(r), OffsetX: ox, OffsetY: oy, Flipped: flip,
		OrigWidth: w, OrigHeight: h,
		Width: min(t.Size, sw-ox), Height: min(t.Size, sh-oy),
	}
}

// EvalPlacement is the evaluation placement of a w×h image: long side
// resized to Size, no flip, no crop.
func (t Transform) EvalPlacement(w, h int) Placement {
	r := float64(float32(float64(t.Size) / float64(max(w, h))))
	return Placement{
		Scale: float32(r), OrigWidth: w, OrigHeight: h,
		Width: min(t.Size, scaledSize(w, r)), Height: min(t.Size, scaledSize(h, r)),
	}
}

func scaledSize(n int, r float64) int { return max(1, int(math.Round(float64(n)*r))) }

// Eval applies the evaluation transform (resize long side to Size, normalise,
// pad bottom/right). Like Train it writes dst and appends the objects, in
// network coordinates, to out.
func (t Transform) Eval(dst []float32, img *RGB, objs []Object, out []Object) ([]Object, Placement) {
	p := t.EvalPlacement(img.Width, img.Height)
	t.render(dst, img, p)
	return t.mapObjects(objs, p, out), p
}

// Apply renders img at a given placement (from TrainPlacement, EvalPlacement
// or built by hand for the same image size) and maps the objects.
func (t Transform) Apply(dst []float32, img *RGB, objs []Object, p Placement, out []Object) []Object {
	t.render(dst, img, p)
	return t.mapObjects(objs, p, out)
}

// mapObjects transforms, clips and filters boxes.
func (t Transform) mapObjects(objs []Object, p Placement, out []Object) []Object {
	// Clip to the resized image's exact extent inside the window (Width
	// and Height are that extent rounded to whole pixels).
	w, h := p.visible()
	a := p.Scale * p.Scale
	for _, o := range objs {
		b := p.ToNetwork(o.Box).Clip(w, h)
		if !(b.W() >= t.MinBoxSide && b.H() >= t.MinBoxSide) || b.Area() == 0 {
			continue
		}
		if t.MaskPatch > 0 && o.Mask != nil {
			o.MaskPatch = o.Mask.Patch(p.ToOriginal(b), p.OrigWidth, p.OrigHeight, t.MaskPatch, p.Flipped)
		}
		o.Box, o.Area, o.Mask = b, o.Area*a, nil
		out = append(out, o)
	}
	return out
}

// render resamples img bilinearly (data/resample) into the network input at
// placement p, normalises, and zero-fills the padding.
func (t Transform) render(dst []float32, img *RGB, p Placement) {
	S := t.Size
	if len(dst) < S*S*3 {
		panic("data: short dst")
	}
	dst = dst[:S*S*3]
	W, H := img.Width, img.Height
	vw, vh := max(0, min(S, p.Width)), max(0, min(S, p.Height))
	var mul, add [3]float32
	for c := range 3 {
		mul[c] = 1 / (255 * t.Std[c])
		add[c] = -t.Mean[c] / t.Std[c]
	}
	inv := 1 / float64(p.Scale)
	taps := make([]resample.Tap, vw+vh)
	cols, rows := taps[:vw], taps[vw:]
	for ox := range cols {
		fx := resample.Center(ox+p.OffsetX, inv)
		if p.Flipped {
			fx = float64(W-1) - fx
		}
		cols[ox] = resample.At(fx, W)
	}
	for oy := range rows {
		rows[oy] = resample.At(resample.Center(oy+p.OffsetY, inv), H)
	}
	var bl resample.Bilinear
	bl.Rows(resample.Image{Pix: img.Pix, Width: W, Height: H, Channels: 3}, cols, rows, func(oy int, row []float32) {
		normaliseRow(dst[oy*S*3:(oy*S+vw)*3], row, mul, add)
		clear(dst[(oy*S+vw)*3 : (oy+1)*S*3])
	})
	clear(dst[vh*S*3:])
}

// normaliseRow writes v·mul + add per RGB channel.
func normaliseRow(o, v []float32, mul, add [3]float32) {
	n := len(o) / 3
	v = v[:3*n]
	for i := range n {
		a := (*[3]float32)(v[3*i:])
		q := (*[3]float32)(o[3*i:])
		q[0] = a[0]*mul[0] + add[0]
		q[1] = a[1]*mul[1] + add[1]
		q[2] = a[2]*mul[2] + add[2]
	}
}
