package tensor

import (
	"fmt"

	"github.com/spinenet-go/spinenet/kernels"
)

// ConvParams fully describes a 2-D convolution over NHWC input (sizes,
// strides, padding); it is the kernels type.
type ConvParams = kernels.ConvParams

// Padding says how a convolution or pooling window is padded.
//
// Same is TensorFlow's 'same': the output has ceil(in/stride) positions and
// the padding total max((out−1)·stride + k − in, 0) is split with the smaller
// half first — asymmetric (one more at the bottom/right) when the total is
// odd, e.g. a 3×3 stride-2 window on an even input. Otherwise the four fields
// are explicit ('valid' is all zeros; TPU SpineNet's fixed padding is k/2 on
// both sides).
type Padding struct {
	Same                     bool
	Top, Bottom, Left, Right int
}

// PadSame is TensorFlow's 'same' padding.
var PadSame = Padding{Same: true}

// PadSymmetric pads p on every side (PyTorch-style padding=p).
func PadSymmetric(p int) Padding { return Padding{Top: p, Bottom: p, Left: p, Right: p} }

// Resolve returns the explicit padding for an h×w input, a kh×kw window and
// the given strides.
func (p Padding) Resolve(h, w, kh, kw, strideH, strideW int) (top, bottom, left, right int) {
	if !p.Same {
		return p.Top, p.Bottom, p.Left, p.Right
	}
	top, bottom = kernels.SamePadding(h, kh, strideH)
	left, right = kernels.SamePadding(w, kw, strideW)
	return
}

// Conv2DParams returns the convolution of an input shaped [N,H,W,C] with
// weights [KH,KW,C,OC] at the given stride and padding, or a *ShapeError if
// the shapes do not fit.
func Conv2DParams(x, w []int, stride int, pad Padding) (ConvParams, error) {
	if len(x) != 4 || len(w) != 4 || w[2] != x[3] || stride < 1 {
		return ConvParams{}, &ShapeError{Op: "Conv2D", Msg: fmt.Sprintf("input %v (want [N,H,W,C]) and weights %v (want [KH,KW,C,OC]) at stride %d", x, w, stride)}
	}
	p := ConvParams{N: x[0], H: x[1], W: x[2], C: x[3], KH: w[0], KW: w[1], OC: w[3], StrideH: stride, StrideW: stride}
	p.PadTop, p.PadBottom, p.PadLeft, p.PadRight = pad.Resolve(p.H, p.W, p.KH, p.KW, stride, stride)
	if p.OutH() < 1 || p.OutW() < 1 {
		return ConvParams{}, &ShapeError{Op: "Conv2D", Msg: fmt.Sprintf("input %v is smaller than the %d×%d window", x, p.KH, p.KW)}
	}
	return p, nil
}

// DepthwiseParams returns the depthwise convolution of an input [N,H,W,C]
// with weights [KH,KW,C] (channel multiplier 1), or a *ShapeError.
func DepthwiseParams(x, w []int, stride int, pad Padding) (ConvParams, error) {
	if len(w) != 3 {
		return ConvParams{}, &ShapeError{Op: "DepthwiseConv2D", Msg: fmt.Sprintf("weights %v, want [KH,KW,C]", w)}
	}
	p, err := Conv2DParams(x, []int{w[0], w[1], w[2], w[2]}, stride, pad)
	if err != nil {
		err.(*ShapeError).Op = "DepthwiseConv2D"
	}
	return p, err
}

// Epilogue is work fused into a convolution after its reduction:
// y = Act(conv + Bias[c] + Residual). Nil fields are skipped.
type Epilogue struct {
	Bias     *Tensor // [OC]
	Residual *Tensor // shaped like the output
	Act      Activation
}

func (e *Epilogue) kernel(oc int) *kernels.Epilogue {
	if e == nil {
		return nil
	}
	k := &kernels.Epilogue{Act: e.Act}
	if e.Bias != nil {
		k.Bias = e.Bias.data
	}
	if e.Residual != nil {
		k.Residual, k.LdResidual = e.Residual.data, oc
	}
	return k
}

// checkConv panics unless x, w and y fit p; depthwise weights are
// [KH,KW,C], dense ones [KH,KW,C,OC].
func checkConv(op string, p ConvParams, x, w, y *Tensor, depthwise bool) {
	mustShape(op, x, p.N, p.H, p.W, p.C)
	if depthwise {
		mustShape(op, w, p.KH, p.KW, p.C)
	} else {
		mustShape(op, w, p.KH, p.KW, p.C, p.OC)
	}
	mustShape(op, y, p.N, p.OutH(), p.OutW(), p.OC)
}

// Conv2D sets y = ep(conv(x, w)) for x [N,H,W,C], w [KH,KW,C,OC],
// y [N,OH,OW,OC]; ep may be nil.
func (d CPU) Conv2D(y, x, w *Tensor, p ConvParams, ep *Epilogue) {
	checkConv("Conv2D", p, x, w, y, false)
	if ep != nil && ep.Residual != nil {
		MustSameShape("Conv2D residual", y, ep.Residual)
	}
	d.Exec().Conv2D(p, x.data, w.data, y.data, ep.kernel(p.OC))
}

// Conv2D is DefaultCPU().Conv2D.
func Conv2D(y, x, w *Tensor, p ConvParams, ep *Epilogue) {
	DefaultCPU().Conv2D(y, x, w, p, ep)
}

// Conv2DBackwardData sets dx (= or +=) the gradient of Conv2D with respect to
// its input, given dy = ∂L/∂y.
func (d CPU) Conv2DBackwardData(dx, dy, w *Tensor, p ConvParams, accumulate bool) {
	checkConv("Conv2DBackwardData", p, dx, w, dy, false)
	d.Exec().Conv2DBackwardData(p, dy.data, w.data, dx.data, accumulate)
}

// Conv2DBackwardData is DefaultCPU().Conv2DBackwardData.
func Conv2DBackwardData(dx, dy, w *Tensor, p ConvParams, accumulate bool) {
	DefaultCPU().Conv2DBackwardData(dx, dy, w, p, accumulate)
}

// Conv2DBackwardFilter sets dw (= or +=) the gradient of Conv2D with respect
// to its weights, given the input x and dy = ∂L/∂y.
func (d CPU) Conv2DBackwardFilter(dw, x, dy *Tensor, p ConvParams, accumulate bool) {
	checkConv("Conv2DBackwardFilter", p, x, dw, dy, false)
	d.Exec().Conv2DBackwardFilter(p, x.data, dy.data, dw.data, accumulate)
}

// Conv2DBackwardFilter is DefaultCPU().Conv2DBackwardFilter.
func Conv2DBackwardFilter(dw, x, dy *Tensor, p ConvParams, accumulate bool) {
	DefaultCPU().Conv2DBackwardFilter(dw, x, dy, p, accumulate)
}

// DepthwiseConv2D sets y = ep(depthwise(x, w)) for x [N,H,W,C], w [KH,KW,C].
func (d CPU) DepthwiseConv2D(y, x, w *Tensor, p ConvParams, ep *Epilogue) {
	checkConv("DepthwiseConv2D", p, x, w, y, true)
	d.Exec().DepthwiseConv2D(p, x.data, w.data, y.data, ep.kernel(p.OC))
}

// DepthwiseConv2D is DefaultCPU().DepthwiseConv2D.
func DepthwiseConv2D(y, x, w *Tensor, p ConvParams, ep *Epilogue) {
	DefaultCPU().DepthwiseConv2D(y, x, w, p, ep)
}

// DepthwiseConv2DBackwardData sets dx (= or +=) the input gradient of
// DepthwiseConv2D.
func (d CPU) DepthwiseConv2DBackwardData(dx, dy, w *Tensor, p ConvParams, accumulate bool) {
	checkConv("DepthwiseConv2DBackwardData", p, dx, w, dy, true)
	d.Exec().DepthwiseConv2DBackwardData(p, dy.data, w.data, dx.data, accumulate)
}

// DepthwiseConv2DBackwardData is DefaultCPU().DepthwiseConv2DBackwardData.
func DepthwiseConv2DBackwardData(dx, dy, w *Tensor, p ConvParams, accumulate bool) {
	DefaultCPU().DepthwiseConv2DBackwardData(dx, dy, w, p, accumulate)
}

// DepthwiseConv2DBackwardFilter sets dw (= or +=) the weight gradient of
// DepthwiseConv2D.
func (d CPU) DepthwiseConv2DBackwardFilter(dw, x, dy *Tensor, p ConvParams, accumulate bool) {
	checkConv("DepthwiseConv2DBackwardFilter", p, x, dw, dy, true)
	d.Exec().DepthwiseConv2DBackwardFilter(p, x.data, dy.data, dw.data, accumulate)
}

// DepthwiseConv2DBackwardFilter is DefaultCPU().DepthwiseConv2DBackwardFilter.
func DepthwiseConv2DBackwardFilter(dw, x, dy *Tensor, p ConvParams, accumulate bool) {
	DefaultCPU().DepthwiseConv2DBackwardFilter(dw, x, dy, p, accumulate)
}
