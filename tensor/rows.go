package tensor

import (
	"fmt"
	"math"
)

// This file holds the small elementwise and per-row operations of policy
// networks (the architecture-search controller's LSTM and softmax heads):
// tanh, exp, the log-softmax over the last axis, picking one element of each
// row, and row sums. They are plain loops in float64 arithmetic rounded to
// float32: the tensors they see are a few hundred elements wide.

// Tanh sets dst = tanh(x) elementwise (dst may be x), computed in float64
// as sign(x)·(1−e)/(1+e) with e = exp(−2|x|): within 1e-15 of math.Tanh
// and several times faster.
func Tanh(dst, x *Tensor) {
	MustSameShape("Tanh", dst, x)
	for i, v := range x.data[:len(dst.data)] {
		dst.data[i] = float32(tanh(float64(v)))
	}
}

func tanh(x float64) float64 {
	e := math.Exp(-2 * math.Abs(x))
	return math.Copysign((1-e)/(1+e), x)
}

// TanhBackward sets dx = dy ⊙ (1 − y²), or adds it when accumulate is true,
// where y = tanh(x) is the forward output (all the same shape).
func TanhBackward(dx, y, dy *Tensor, accumulate bool) {
	MustSameShape("TanhBackward", dx, y)
	MustSameShape("TanhBackward", y, dy)
	d, yy, g := dx.data, y.data[:len(dx.data)], dy.data[:len(dx.data)]
	for i := range d {
		v := g[i] * (1 - yy[i]*yy[i])
		if accumulate {
			d[i] += v
		} else {
			d[i] = v
		}
	}
}

// Exp sets dst = exp(x) elementwise (dst may be x). Its derivative is its
// output: the backward pass is MulAcc(dx, dy, y, accumulate).
func Exp(dst, x *Tensor) {
	MustSameShape("Exp", dst, x)
	for i, v := range x.data[:len(dst.data)] {
		dst.data[i] = float32(math.Exp(float64(v)))
	}
}

// LogSoftmax sets dst to the log-softmax of x over the last axis, x − log Σ
// exp(x) row by row (stable: the row maximum is subtracted first, and the sum
// is accumulated in float64). dst may be x. A very negative entry (a masked
// choice, x ≈ −1e9) gets a very negative output whose exp is exactly 0.
func LogSoftmax(dst, x *Tensor) {
	k, rows := softmaxRows("LogSoftmax", dst, x)
	for r := range rows {
		in, out := x.data[r*k:(r+1)*k], dst.data[r*k:(r+1)*k]
		m, s := rowMaxSumExp(in)
		lse := m + math.Log(s)
		for j, v := range in {
			out[j] = float32(float64(v) - lse)
		}
	}
}

// LogSoftmaxBackward sets dx = dy − softmax(x)·Σ_k dy_k row by row, or adds
// it when accumulate is true, where y = LogSoftmax(x) is the forward output
// (so softmax(x) = exp(y)). All three have the same shape.
func LogSoftmaxBackward(dx, y, dy *Tensor, accumulate bool) {
	k, rows := softmaxRows("LogSoftmaxBackward", dx, y)
	MustSameShape("LogSoftmaxBackward", y, dy)
	for r := range rows {
		d, yy, g := dx.data[r*k:(r+1)*k], y.data[r*k:(r+1)*k], dy.data[r*k:(r+1)*k]
		var s float64
		for _, v := range g {
			s += float64(v)
		}
		for j := range d {
			v := float32(float64(g[j]) - math.Exp(float64(yy[j]))*s)
			if accumulate {
				d[j] += v
			} else {
				d[j] = v
			}
		}
	}
}

// rowsOf checks that x [..., K] has one row per element of dst [...] and
// returns K.
func rowsOf(op string, dst, x *Tensor) int {
	if x.Rank() == 0 || x.Dim(-1) == 0 {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("need a last axis, got %v", x.shape)})
	}
	k := x.Dim(-1)
	if !EqualShapes(dst.shape, x.shape[:x.Rank()-1]) {
		panic(&ShapeError{Op: op, Want: x.shape[:x.Rank()-1], Got: dst.shape})
	}
	return k
}

// PickLast gathers one element of each row: dst[r] = x[r, idx[r]] for x
// [..., K] and dst [...] (one index in [0, K) per row).
func PickLast(dst, x *Tensor, idx []int32) {
	k := rowsOf("PickLast", dst, x)
	checkLabels("PickLast", idx, len(dst.data), k)
	for r, j := range idx {
		dst.data[r] = x.data[r*k+int(j)]
	}
}

// PickLastBackward scatters the gradient of PickLast: dx[r, idx[r]] = dy[r]
// and 0 elsewhere, or dx[r, idx[r]] += dy[r] when accumulate is true.
func PickLastBackward(dx, dy *Tensor, idx []int32, accumulate bool) {
	k := rowsOf("PickLastBackward", dy, dx)
	checkLabels("PickLastBackward", idx, len(dy.data), k)
	if !accumulate {
		clear(dx.data)
	}
	for r, j := range idx {
		dx.data[r*k+int(j)] += dy.data[r]
	}
}

// SumLast sets dst[r] = Σ_k x[r, k] for x [..., K] and dst [...],
// accumulating each row in float64, or adds the sums when accumulate is
// true.
func SumLast(dst, x *Tensor, accumulate bool) {
	k := rowsOf("SumLast", dst, x)
	for r := range dst.data {
		var s float64
		for _, v := range x.data[r*k : (r+1)*k] {
			s += float64(v)
		}
		if accumulate {
			dst.data[r] += float32(s)
		} else {
			dst.data[r] = float32(s)
		}
	}
}

// BroadcastLast sets dx[r, k] = dy[r] for every k (the gradient of SumLast),
// or adds it when accumulate is true; dx is [..., K] and dy [...].
func BroadcastLast(dx, dy *Tensor, accumulate bool) {
	k := rowsOf("BroadcastLast", dy, dx)
	for r, g := range dy.data {
		row := dx.data[r*k : (r+1)*k]
		for j := range row {
			if accumulate {
				row[j] += g
			} else {
				row[j] = g
			}
		}
	}
}

// classAxis checks x [R, …, K, …] (the class axis at axis ≥ 1) against
// dst, x's shape without that axis, and one class per R; it returns the
// sizes of x seen as [R, A, K, B].
func classAxis(op string, dst, x *Tensor, axis int, classes []int32) (rows, a, k, b int) {
	if x.Rank() < 2 {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("input %v, want [R, …, K, …]", x.shape)})
	}
	axis = NormAxis(op, axis, x.Rank())
	if axis == 0 {
		panic(&ShapeError{Op: op, Msg: "the class axis cannot be the region axis 0"})
	}
	fits := dst.Rank() == x.Rank()-1
	for i := 0; fits && i < dst.Rank(); i++ {
		j := i
		if i >= axis {
			j++
		}
		fits = dst.shape[i] == x.shape[j]
	}
	if !fits {
		want := append(append([]int(nil), x.shape[:axis]...), x.shape[axis+1:]...)
		panic(&ShapeError{Op: op, Want: want, Got: dst.shape})
	}
	rows, a, k, b = x.shape[0], 1, x.shape[axis], 1
	for _, d := range x.shape[1:axis] {
		a *= d
	}
	for _, d := range x.shape[axis+1:] {
		b *= d
	}
	checkLabels(op, classes, rows, k)
	return rows, a, k, b
}

// GatherClass picks, for every region r, the slice of class classes[r]
// along the class axis of x [R, …, K, …]:
//
//	dst[r, i, j] = x[r, i, classes[r], j]   (i: the axes before, j: after)
//
// dst has x's shape without axis. Mask R-CNN gathers the 4 box deltas of
// each RoI's class from [R, K, 4] (axis 1; the box layer's [R, 4·K]
// reshaped) and the 28×28 mask logits of its class from [R, 28, 28, K]
// (axis 3).
func GatherClass(dst, x *Tensor, axis int, classes []int32) {
	rows, a, k, b := classAxis("GatherClass", dst, x, axis, classes)
	for r := range rows {
		c := int(classes[r])
		for i := range a {
			src := x.data[((r*a+i)*k+c)*b : ((r*a+i)*k+c+1)*b]
			copy(dst.data[(r*a+i)*b:(r*a+i+1)*b], src)
		}
	}
}

// GatherClassBackward scatters the gradient of GatherClass: dx[r, i,
// classes[r], j] = dy[r, i, j] and 0 elsewhere, or adds dy there when
// accumulate is true.
func GatherClassBackward(dx, dy *Tensor, axis int, classes []int32, accumulate bool) {
	rows, a, k, b := classAxis("GatherClassBackward", dy, dx, axis, classes)
	if !accumulate {
		clear(dx.data)
	}
	for r := range rows {
		c := int(classes[r])
		for i := range a {
			d := dx.data[((r*a+i)*k+c)*b : ((r*a+i)*k+c+1)*b]
			g := dy.data[(r*a+i)*b : (r*a+i+1)*b]
			for j := range d {
				d[j] += g[j]
			}
		}
	}
}
