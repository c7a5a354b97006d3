package tensor

import (
	"fmt"
	"math"

	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/kernels"
)

// RoI is one region of a multi-level RoIAlign: the image (Batch), the index
// of the level it is cropped from (Level, into the levels given to
// RoIAlign) and its box in input-image pixels.
type RoI = kernels.RoI

// RoIAlignMode selects the sampling rule of RoIAlign (see the constants).
type RoIAlignMode = kernels.RoIAlignMode

// The sampling rules of RoIAlign.
const (
	// RoIAlignTF is the TF/TPU multilevel_crop_and_resize: one bilinear
	// sample per bin at its centre, no half-pixel shift, edge clamping
	// (Mask R-CNN spec §6).
	RoIAlignTF = kernels.RoIAlignTF
	// RoIAlignTorchvision is torchvision's roi_align(aligned=False) with a
	// fixed sampling ratio (2 by default): ratio² samples per bin averaged,
	// the RoI forced to at least 1×1, samples beyond [−1, size] read 0.
	RoIAlignTorchvision = kernels.RoIAlignTorchvision
)

// MaxRoILevels is the most feature levels one RoIAlign takes.
const MaxRoILevels = kernels.MaxRoILevels

// RoIAlignOptions select how RoIAlign samples.
type RoIAlignOptions struct {
	Mode RoIAlignMode
	// SamplingRatio is the samples per bin per axis of RoIAlignTorchvision
	// (0 means 2, torchvision's MultiScaleRoIAlign; at most
	// kernels.MaxRoISamplingRatio); RoIAlignTF ignores it.
	SamplingRatio int
}

// AssignRoILevel returns the pyramid level a region is cropped from (Mask
// R-CNN spec §6, TF/TPU multilevel_crop_and_resize):
//
//	level = ⌊log2(√(w·h) / 224)⌋ + 4, clamped to [minLevel, maxLevel]
//
// with w = X2 − X1 and h = Y2 − Y1 (no +1). A region of zero (or inverted,
// or NaN) area gets minLevel, where TF's log(0) ends up. It is computed in
// float64; TF's float32 can differ only for areas within rounding of a
// level boundary.
func AssignRoILevel(b box.Box, minLevel, maxLevel int) int {
	area := float64(b.W()) * float64(b.H())
	if !(area > 0) {
		return minLevel
	}
	l := int(math.Floor(math.Log2(math.Sqrt(area)/224))) + 4
	return min(max(l, minLevel), maxLevel)
}

// roiLevels describes levels (and, in the backward pass, possibly nil
// gradients) for the kernels, checking that they agree in N and C with
// each other and with c; it returns N.
func roiLevels(op string, dst []kernels.RoILevel, levels []*Tensor, strides []float64, c int) int {
	if len(levels) == 0 || len(levels) > kernels.MaxRoILevels || len(strides) != len(levels) {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("%d levels with %d strides (want 1 to %d levels, one stride each)", len(levels), len(strides), kernels.MaxRoILevels)})
	}
	n := -1
	for i, l := range levels {
		if !(strides[i] > 0) {
			panic(&ShapeError{Op: op, Msg: fmt.Sprintf("level %d stride %v", i, strides[i])})
		}
		dst[i] = kernels.RoILevel{Stride: strides[i]}
		if l == nil {
			continue
		}
		if l.Rank() != 4 || l.Dim(3) != c || (n >= 0 && l.Dim(0) != n) {
			panic(&ShapeError{Op: op, Msg: fmt.Sprintf("level %d is %v, want [N,H,W,%d] with the other levels' N", i, l.shape, c)})
		}
		n = l.Dim(0)
		dst[i].H, dst[i].W, dst[i].Data = l.Dim(1), l.Dim(2), l.data
	}
	return max(n, 0)
}

func roiOut(op string, y *Tensor, rois []RoI) (oh, ow, c int) {
	if y.Rank() != 4 || y.Dim(0) != len(rois) {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("output %v, want [%d,OH,OW,C] (one crop per region)", y.shape, len(rois))})
	}
	return y.Dim(1), y.Dim(2), y.Dim(3)
}

func roiCheckRegions(op string, rois []RoI, levels []*Tensor, n int) {
	for i, r := range rois {
		if r.Level < 0 || r.Level >= len(levels) || r.Batch < 0 || r.Batch >= n {
			panic(&ShapeError{Op: op, Msg: fmt.Sprintf("region %d: image %d, level %d outside %d images and %d levels", i, r.Batch, r.Level, n, len(levels))})
		}
	}
}

// RoIAlign sets y [R, OH, OW, C] to the crops of rois (in their order),
// each sampled from its level — levels[r.Level] [N, H_l, W_l, C], whose
// pixels are strides[r.Level] input pixels apart — at OH×OW bins by the
// rule opt.Mode selects. It runs on d's threads.
func (d CPU) RoIAlign(y *Tensor, levels []*Tensor, strides []float64, rois []RoI, opt RoIAlignOptions) {
	oh, ow, c := roiOut("RoIAlign", y, rois)
	var buf [kernels.MaxRoILevels]kernels.RoILevel
	for i, l := range levels {
		if l == nil {
			panic(&ShapeError{Op: "RoIAlign", Msg: fmt.Sprintf("level %d is nil", i)})
		}
	}
	n := roiLevels("RoIAlign", buf[:], levels, strides, c)
	roiCheckRegions("RoIAlign", rois, levels, n)
	p := kernels.RoIAlignParams{N: n, C: c, OH: oh, OW: ow, Mode: opt.Mode, SamplingRatio: opt.SamplingRatio}
	d.Exec().RoIAlign(p, buf[:len(levels)], rois, y.data)
}

// RoIAlign is DefaultCPU().RoIAlign.
func RoIAlign(y *Tensor, levels []*Tensor, strides []float64, rois []RoI, opt RoIAlignOptions) {
	DefaultCPU().RoIAlign(y, levels, strides, rois, opt)
}

// RoIAlignBackward adds the gradient of RoIAlign for dy [R, OH, OW, C] to
// the levels' gradients dlevels (shaped like the levels; zero them first
// for a fresh gradient). A nil entry is a level that needs no gradient.
// The sum each gradient element receives runs in region order, whatever
// d's thread count.
func (d CPU) RoIAlignBackward(dlevels []*Tensor, dy *Tensor, strides []float64, rois []RoI, opt RoIAlignOptions) {
	oh, ow, c := roiOut("RoIAlignBackward", dy, rois)
	var buf [kernels.MaxRoILevels]kernels.RoILevel
	n := roiLevels("RoIAlignBackward", buf[:], dlevels, strides, c)
	p := kernels.RoIAlignParams{N: n, C: c, OH: oh, OW: ow, Mode: opt.Mode, SamplingRatio: opt.SamplingRatio}
	if n == 0 {
		return // no level needs a gradient
	}
	roiCheckRegions("RoIAlignBackward", rois, dlevels, n)
	d.Exec().RoIAlignBackward(p, buf[:len(dlevels)], rois, dy.data)
}

// RoIAlignBackward is DefaultCPU().RoIAlignBackward.
func RoIAlignBackward(dlevels []*Tensor, dy *Tensor, strides []float64, rois []RoI, opt RoIAlignOptions) {
	DefaultCPU().RoIAlignBackward(dlevels, dy, strides, rois, opt)
}
