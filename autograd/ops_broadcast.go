package autograd

import (
	"fmt"

	"github.com/spinenet-go/spinenet/tensor"
)

// AddBias returns x + b with b [C] broadcast over every leading index of
// x [..., C] (the bias of a convolution or dense layer).
func (t *Tape) AddBias(x, b *Var) *Var {
	if b.Value.Rank() != 1 || x.Value.Dim(-1) != b.Value.Len() {
		panic(&tensor.ShapeError{Op: "AddBias", Msg: fmt.Sprintf("bias %v does not fit %v", b.Shape(), x.Shape())})
	}
	y := t.alloc(x.Shape()...)
	y.CopyFrom(x.Value)
	tensor.AddRowVector(y, b.Value)
	out, _ := t.output(y, backAddBias, x, b)
	return out
}

func backAddBias(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		tensor.CopyAcc(g, n.out.Grad, acc)
	}
	if g, acc := t.grad(n.in[1]); g != nil {
		tensor.SumRows(g, n.out.Grad, acc)
	}
}

// ScaleChannels returns x [N,H,W,C] multiplied by a per-example channel gate
// g [N,C] (the excitation step of squeeze-and-excitation).
func (t *Tape) ScaleChannels(x, g *Var) *Var {
	y := t.alloc(x.Shape()...)
	tensor.ScaleChannels(y, x.Value, g.Value)
	out, _ := t.output(y, backScaleChannels, x, g)
	return out
}

func backScaleChannels(t *Tape, n *node) {
	x, g := n.in[0], n.in[1]
	dx, accX := t.grad(x)
	dg, accG := t.grad(g)
	tensor.ScaleChannelsBackward(dx, dg, x.Value, g.Value, n.out.Grad, accX, accG)
}
