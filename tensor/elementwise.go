package tensor

import (
	"math"

	"github.com/spinenet-go/spinenet/kernels"
)

// Activation selects an elementwise nonlinearity; it is the kernels type, so
// the same value also selects a fused GEMM/convolution epilogue.
type Activation = kernels.Activation

// The activations, re-exported from kernels.
const (
	ActNone      = kernels.ActNone
	ActReLU      = kernels.ActReLU
	ActSwish     = kernels.ActSwish
	ActHardSwish = kernels.ActHardSwish
	ActSigmoid   = kernels.ActSigmoid
)

// ParseActivation maps a name (relu, swish, hard_swish, sigmoid, none, and
// the aliases silu, hardswish, linear) to an activation; Activation's
// String is its inverse.
func ParseActivation(name string) (Activation, error) { return kernels.ParseActivation(name) }

// Add sets dst = a + b (all the same shape).
func Add(dst, a, b *Tensor) {
	MustSameShape("Add", dst, a)
	MustSameShape("Add", a, b)
	d, x, y := dst.data, a.data[:len(dst.data)], b.data[:len(dst.data)]
	for i := range d {
		d[i] = x[i] + y[i]
	}
}

// AddInto sets dst += src (same shape).
func AddInto(dst, src *Tensor) {
	MustSameShape("AddInto", dst, src)
	d, s := dst.data, src.data[:len(dst.data)]
	for i := range d {
		d[i] += s[i]
	}
}

// AddScaledInto sets dst += alpha·src (same shape).
func AddScaledInto(dst *Tensor, alpha float32, src *Tensor) {
	MustSameShape("AddScaledInto", dst, src)
	d, s := dst.data, src.data[:len(dst.data)]
	for i := range d {
		d[i] += alpha * s[i]
	}
}

// Mul sets dst = a ⊙ b (elementwise, all the same shape).
func Mul(dst, a, b *Tensor) {
	MustSameShape("Mul", dst, a)
	MustSameShape("Mul", a, b)
	d, x, y := dst.data, a.data[:len(dst.data)], b.data[:len(dst.data)]
	for i := range d {
		d[i] = x[i] * y[i]
	}
}

// MulAcc sets dst = a ⊙ b, or dst += a ⊙ b when accumulate is true.
func MulAcc(dst, a, b *Tensor, accumulate bool) {
	if !accumulate {
		Mul(dst, a, b)
		return
	}
	MustSameShape("MulAcc", dst, a)
	MustSameShape("MulAcc", a, b)
	d, x, y := dst.data, a.data[:len(dst.data)], b.data[:len(dst.data)]
	for i := range d {
		d[i] += x[i] * y[i]
	}
}

// Scale sets dst = s·src (same shape; dst may be src).
func Scale(dst *Tensor, s float32, src *Tensor) {
	MustSameShape("Scale", dst, src)
	d, x := dst.data, src.data[:len(dst.data)]
	for i := range d {
		d[i] = s * x[i]
	}
}

// CopyAcc sets dst = src, or dst += src when accumulate is true.
func CopyAcc(dst, src *Tensor, accumulate bool) {
	if accumulate {
		AddInto(dst, src)
	} else {
		dst.CopyFrom(src)
	}
}

// Activate sets dst = act(x) elementwise (dst may be x).
func Activate(dst, x *Tensor, act Activation) {
	MustSameShape("Activate", dst, x)
	if dst != x {
		copy(dst.data, x.data)
	}
	kernels.ApplyActivation(act, dst.data)
}

// ActivationBackward computes the input gradient of dst-producing Activate:
// dx (= or +=) dy ⊙ act'(x), where x is the activation's input. It runs the
// vectorised kernels.ActivationBackward (float32, accumulation fused).
func ActivationBackward(dx, x, dy *Tensor, act Activation, accumulate bool) {
	MustSameShape("ActivationBackward", dx, x)
	MustSameShape("ActivationBackward", x, dy)
	kernels.ActivationBackward(act, dx.data, x.data, dy.data, accumulate)
}

// activationDerivative returns act'(x) (kernels.ActivationDerivative, the
// scalar twin of the vectorised kernel).
func activationDerivative(act Activation, x float32) float32 {
	return kernels.ActivationDerivative(act, x)
}

// Sum returns the sum of all elements, accumulated in float64.
func Sum(t *Tensor) float64 {
	var s float64
	for _, v := range t.data {
		s += float64(v)
	}
	return s
}

// Dot returns Σ a[i]·b[i] in float64 (same shape).
func Dot(a, b *Tensor) float64 {
	MustSameShape("Dot", a, b)
	var s float64
	y := b.data[:len(a.data)]
	for i, v := range a.data {
		s += float64(v) * float64(y[i])
	}
	return s
}

// SumSquares returns Σ t[i]² in float64.
func SumSquares(t *Tensor) float64 {
	var s float64
	for _, v := range t.data {
		s += float64(v) * float64(v)
	}
	return s
}

// AllFinite reports whether no element is NaN or ±Inf.
func AllFinite(t *Tensor) bool {
	for _, v := range t.data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}
