// Package box is the one box type of the module: boxes are [x1 y1 x2 y2] in
// pixels, continuous coordinates (a box covering pixel columns 3..5 is
// X1=3, X2=6, so its width is X2 − X1 = 3), stored as Box values. Data
// loading, augmentation, anchors, target assignment, post-processing,
// evaluation output and drawing all use it, so no code converts between box
// types. It has no dependencies beyond the standard library.
//
// # Width semantics
//
// W and H clamp at 0: an inverted box (X2 < X1 or Y2 < Y1) has width or
// height 0 and Area 0, never a negative value. There is deliberately no
// signed width accessor; code that must tell an inverted box from an empty
// one compares the corners itself (b.X2 < b.X1). NaN coordinates propagate:
// W, H and Area of a box with a NaN corner are NaN, so a comparison such as
// b.W() >= min is false for it.
package box

import (
	"cmp"
	"slices"
)

// Box is an axis-aligned box [X1, Y1, X2, Y2] in pixels.
type Box struct {
	// X1, Y1 is the top-left corner and X2, Y2 the bottom-right one, in
	// continuous pixel coordinates (X2 is one past the last covered
	// column, so W = X2 − X1); the origin is the image's top-left corner.
	// These are corners, not COCO's [x y w h].
	X1, Y1, X2, Y2 float32
}

// W returns the width X2 − X1, clamped at 0 (0 for an inverted box).
func (b Box) W() float32 { return max(b.X2-b.X1, 0) }

// H returns the height Y2 − Y1, clamped at 0 (0 for an inverted box).
func (b Box) H() float32 { return max(b.Y2-b.Y1, 0) }

// Area returns W·H (0 for an empty or inverted box).
func (b Box) Area() float32 { return b.W() * b.H() }

// Center returns the box centre.
func (b Box) Center() (x, y float32) { return (b.X1 + b.X2) / 2, (b.Y1 + b.Y2) / 2 }

// Clip limits the box to [0,w]×[0,h].
func (b Box) Clip(w, h float32) Box {
	return Box{min(max(b.X1, 0), w), min(max(b.Y1, 0), h), min(max(b.X2, 0), w), min(max(b.Y2, 0), h)}
}

// Scale multiplies every coordinate by s.
func (b Box) Scale(s float32) Box { return Box{b.X1 * s, b.Y1 * s, b.X2 * s, b.Y2 * s} }

// IoU returns the intersection over union of a and b (0 when both are empty).
func IoU(a, b Box) float32 {
	iw := min(a.X2, b.X2) - max(a.X1, b.X1)
	ih := min(a.Y2, b.Y2) - max(a.Y1, b.Y1)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	return inter / (a.Area() + b.Area() - inter)
}

// IoUMatrix fills out[i*len(bs)+j] = IoU(as[i], bs[j]) and returns it,
// reusing out's storage when large enough.
func IoUMatrix(out []float32, as, bs []Box) []float32 {
	n := len(as) * len(bs)
	if cap(out) < n {
		out = make([]float32, n)
	}
	out = out[:n]
	for i, a := range as {
		row := out[i*len(bs) : (i+1)*len(bs)]
		for j, b := range bs {
			row[j] = IoU(a, b)
		}
	}
	return out
}

// Scored is a box with a score and a class, the unit of post-processing.
type Scored struct {
	// Box is the detected box; from detection.Detect, in network-input
	// pixels.
	Box Box
	// Score is the confidence NMS ranks by; detection.Detect gives the
	// class's sigmoid probability in (0, 1).
	Score float32
	// Class is the contiguous class index 0..K−1 (not a dataset category
	// id); NMS suppresses only boxes of the same class.
	Class int
}

// NMS keeps, in descending score order, each box whose IoU with every kept
// box of the same class is at most iouThresh (greedy non-maximum
// suppression per class), stopping at maxKeep (≤ 0: no limit). dets is
// sorted in place; the kept boxes are returned in score order, sharing
// dets' storage.
func NMS(dets []Scored, iouThresh float32, maxKeep int) []Scored {
	slices.SortStableFunc(dets, func(a, b Scored) int { return cmp.Compare(b.Score, a.Score) })
	kept := dets[:0]
	for i := 0; i < len(dets); i++ {
		d := dets[i]
		ok := true
		for _, k := range kept {
			if k.Class == d.Class && IoU(k.Box, d.Box) > iouThresh {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, d)
			if maxKeep > 0 && len(kept) == maxKeep {
				break
			}
		}
	}
	return kept
}

// XYWH returns the box as COCO's bbox [x y w h] (cocoeval's layout), with
// W and H clamped at 0 as everywhere.
func (b Box) XYWH() [4]float64 {
	return [4]float64{float64(b.X1), float64(b.Y1), float64(b.W()), float64(b.H())}
}

// XYXY returns the box with corners (x1, y1) and (x2, y2).
func XYXY(x1, y1, x2, y2 float32) Box { return Box{x1, y1, x2, y2} }
