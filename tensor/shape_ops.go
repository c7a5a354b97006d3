package tensor

import (
	"fmt"
	"math/rand/v2"
)

// NormAxis returns axis as a non-negative index into a shape of the given
// rank (negative axes count from the end); it panics with a *ShapeError naming
// op if the axis is out of range.
func NormAxis(op string, axis, rank int) int {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("axis %d out of range for rank %d", axis, rank)})
	}
	return axis
}

// blockAlong checks that a (the whole) and b (the part at offset start along
// axis) agree on every other dimension, and returns the number of outer
// blocks, the contiguous element counts of one block in a and in b, and the
// element offset of the part within a block of a.
func blockAlong(op string, a, b *Tensor, axis, start int) (outer, aBlock, bBlock, off int) {
	if a.Rank() != b.Rank() {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("ranks differ: %v and %v", a.shape, b.shape)})
	}
	axis = NormAxis(op, axis, a.Rank())
	for i := range a.shape {
		if i != axis && a.shape[i] != b.shape[i] {
			panic(&ShapeError{Op: op, Msg: fmt.Sprintf("shapes %v and %v differ outside axis %d", a.shape, b.shape, axis)})
		}
	}
	if start < 0 || start+b.shape[axis] > a.shape[axis] {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("range [%d, %d) along axis %d outside %v", start, start+b.shape[axis], axis, a.shape)})
	}
	outer, inner := 1, 1
	for _, d := range a.shape[:axis] {
		outer *= d
	}
	for _, d := range a.shape[axis+1:] {
		inner *= d
	}
	return outer, a.shape[axis] * inner, b.shape[axis] * inner, start * inner
}

// SliceAxis sets dst (= or += when accumulate) to src[..., start:start+n, ...]
// along axis, where n is dst's size on that axis; dst and src agree on every
// other dimension. Negative axes count from the end.
func SliceAxis(dst, src *Tensor, axis, start int, accumulate bool) {
	outer, sb, db, off := blockAlong("SliceAxis", src, dst, axis, start)
	for o := range outer {
		d := dst.data[o*db : (o+1)*db]
		s := src.data[o*sb+off : o*sb+off+db]
		if accumulate {
			for i, v := range s {
				d[i] += v
			}
		} else {
			copy(d, s)
		}
	}
}

// InsertAxis sets dst[..., start:start+n, ...] (= or += when accumulate) to
// src along axis, where n is src's size on that axis, leaving the rest of dst
// untouched; dst and src agree on every other dimension. Concatenation is one
// InsertAxis per part.
func InsertAxis(dst, src *Tensor, axis, start int, accumulate bool) {
	outer, db, sb, off := blockAlong("InsertAxis", dst, src, axis, start)
	for o := range outer {
		d := dst.data[o*db+off : o*db+off+sb]
		s := src.data[o*sb : (o+1)*sb]
		if accumulate {
			for i, v := range s {
				d[i] += v
			}
		} else {
			copy(d, s)
		}
	}
}

// ScaleByExample sets dst[n, ...] (= or += when accumulate) to
// scale[n]·src[n, ...]: a per-example factor broadcast over every other axis
// (stochastic depth's [N,1,1,1] mask). scale has one element per index of
// src's leading axis; dst and src have the same shape.
func ScaleByExample(dst, src, scale *Tensor, accumulate bool) {
	MustSameShape("ScaleByExample", dst, src)
	if src.Rank() == 0 || len(scale.data) != src.shape[0] {
		panic(&ShapeError{Op: "ScaleByExample", Msg: fmt.Sprintf("%d factors for leading axis of %v", len(scale.data), src.shape)})
	}
	if len(src.data) == 0 {
		return
	}
	per := len(src.data) / src.shape[0]
	for n, f := range scale.data {
		d, s := dst.data[n*per:(n+1)*per], src.data[n*per:(n+1)*per]
		switch {
		case accumulate:
			for i, v := range s {
				d[i] += f * v
			}
		case f == 0:
			clear(d)
		default:
			for i, v := range s {
				d[i] = f * v
			}
		}
	}
}

// BernoulliMask fills dst with independent draws that are 1/keep with
// probability keep and 0 otherwise (an inverted-dropout mask, so the masked
// value keeps its expectation), drawing one rng.Float64 per element in order.
func BernoulliMask(dst *Tensor, rng *rand.Rand, keep float64) {
	if !(keep > 0 && keep <= 1) {
		panic(fmt.Sprintf("tensor: BernoulliMask keep probability %v outside (0, 1]", keep))
	}
	// Kept with probability keep, like TF's floor(keep + U[0,1)) / keep.
	v := float32(1 / keep)
	for i := range dst.data {
		if rng.Float64() < keep {
			dst.data[i] = v
		} else {
			dst.data[i] = 0
		}
	}
}
