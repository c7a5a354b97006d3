package autograd

import (
	"fmt"

	"github.com/spinenet-go/spinenet/tensor"
)

// MaxPool2D returns the k×k max-pool of x [N,H,W,C] at the given stride and
// padding ('same' padding never wins a window): [N,OH,OW,C]. SpineNet's stem
// uses 3×3 stride 2 'same'; TPU-style downsampling uses larger windows.
func (t *Tape) MaxPool2D(x *Var, k, stride int, pad tensor.Padding) *Var {
	p, err := tensor.PoolParams(x.Shape(), k, stride, pad)
	if err != nil {
		panic(err)
	}
	y := t.alloc(p.N, p.OutH(), p.OutW(), p.C)
	if !t.needsGrad(x) {
		t.dev.MaxPool2D(y, x.Value, p, nil)
		return t.newVar(y, false)
	}
	out, n := t.output(y, backMaxPool, x)
	n.conv = p
	n.idx = grow(n.idx, y.Len())
	t.dev.MaxPool2D(y, x.Value, p, n.idx)
	return out
}

func backMaxPool(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		t.dev.MaxPool2DBackward(g, n.out.Grad, n.conv, n.idx, acc)
	}
}

// grow returns s resized to n elements, reusing its capacity.
func grow(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// GlobalAvgPool returns the spatial mean of x [N,H,W,C]: [N,C].
func (t *Tape) GlobalAvgPool(x *Var) *Var {
	if x.Value.Rank() != 4 {
		panic(&tensor.ShapeError{Op: "GlobalAvgPool", Msg: fmt.Sprintf("input %v, want [N,H,W,C]", x.Shape())})
	}
	y := t.alloc(x.Value.Dim(0), x.Value.Dim(3))
	t.dev.GlobalAvgPool(y, x.Value)
	out, _ := t.output(y, backGlobalAvgPool, x)
	return out
}

func backGlobalAvgPool(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		t.dev.GlobalAvgPoolBackward(g, n.out.Grad, acc)
	}
}

// UpsampleNearest resizes x [N,H,W,C] to [N,oh,ow,C] by nearest neighbour
// (TensorFlow 1's rule src = ⌊dst·in/out⌋; pixel replication for integer
// factors). SpineNet uses it to upsample parents to a finer level, and to an
// exact size when the level sizes do not divide (TPU convention, spec §3.1).
func (t *Tape) UpsampleNearest(x *Var, oh, ow int) *Var {
	if x.Value.Rank() != 4 || oh < 1 || ow < 1 {
		panic(&tensor.ShapeError{Op: "UpsampleNearest", Msg: fmt.Sprintf("input %v to %d×%d", x.Shape(), oh, ow)})
	}
	y := t.alloc(x.Value.Dim(0), oh, ow, x.Value.Dim(3))
	t.dev.UpsampleNearest(y, x.Value)
	out, _ := t.output(y, backUpsample, x)
	return out
}

// Upsample repeats every pixel of x [N,H,W,C] factor×factor times:
// [N,H·factor,W·factor,C].
func (t *Tape) Upsample(x *Var, factor int) *Var {
	if x.Value.Rank() != 4 || factor < 1 {
		panic(&tensor.ShapeError{Op: "Upsample", Msg: fmt.Sprintf("input %v by factor %d", x.Shape(), factor)})
	}
	return t.UpsampleNearest(x, x.Value.Dim(1)*factor, x.Value.Dim(2)*factor)
}

func backUpsample(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		t.dev.UpsampleNearestBackward(g, n.out.Grad, acc)
	}
}
