package autograd

import "github.com/spinenet-go/spinenet/tensor"

// Conv2D returns the convolution of x [N,H,W,C] with weights w [KH,KW,C,OC]
// at the given stride and padding: [N,OH,OW,OC], no bias. Shapes that do not
// fit panic with a *tensor.ShapeError.
func (t *Tape) Conv2D(x, w *Var, stride int, pad tensor.Padding) *Var {
	p, err := tensor.Conv2DParams(x.Shape(), w.Shape(), stride, pad)
	if err != nil {
		panic(err)
	}
	y := t.alloc(p.N, p.OutH(), p.OutW(), p.OC)
	t.dev.Conv2D(y, x.Value, w.Value, p, nil)
	out, n := t.output(y, backConv2D, x, w)
	if n != nil {
		n.conv = p
	}
	return out
}

func backConv2D(t *Tape, n *node) {
	x, w := n.in[0], n.in[1]
	if g, acc := t.grad(w); g != nil {
		t.dev.Conv2DBackwardFilter(g, x.Value, n.out.Grad, n.conv, acc)
	}
	if g, acc := t.grad(x); g != nil {
		t.dev.Conv2DBackwardData(g, n.out.Grad, w.Value, n.conv, acc)
	}
}

// DepthwiseConv2D returns the depthwise convolution (channel multiplier 1) of
// x [N,H,W,C] with w [KH,KW,C]: [N,OH,OW,C], no bias.
func (t *Tape) DepthwiseConv2D(x, w *Var, stride int, pad tensor.Padding) *Var {
	p, err := tensor.DepthwiseParams(x.Shape(), w.Shape(), stride, pad)
	if err != nil {
		panic(err)
	}
	y := t.alloc(p.N, p.OutH(), p.OutW(), p.OC)
	t.dev.DepthwiseConv2D(y, x.Value, w.Value, p, nil)
	out, n := t.output(y, backDepthwise, x, w)
	if n != nil {
		n.conv = p
	}
	return out
}

func backDepthwise(t *Tape, n *node) {
	x, w := n.in[0], n.in[1]
	if g, acc := t.grad(w); g != nil {
		t.dev.DepthwiseConv2DBackwardFilter(g, x.Value, n.out.Grad, n.conv, acc)
	}
	if g, acc := t.grad(x); g != nil {
		t.dev.DepthwiseConv2DBackwardData(g, n.out.Grad, w.Value, n.conv, acc)
	}
}
