package autograd

import (
	"fmt"

	"github.com/spinenet-go/spinenet/tensor"
)

// Add returns a + b (same shape).
func (t *Tape) Add(a, b *Var) *Var {
	y := t.alloc(a.Shape()...)
	tensor.Add(y, a.Value, b.Value)
	out, _ := t.output(y, backAdd, a, b)
	return out
}

func backAdd(t *Tape, n *node) {
	for _, v := range n.in {
		if g, acc := t.grad(v); g != nil {
			tensor.CopyAcc(g, n.out.Grad, acc)
		}
	}
}

// AddN returns the sum of one or more same-shaped values (SpineNet's
// plain-sum fusion of resampled parents).
func (t *Tape) AddN(xs ...*Var) *Var {
	if len(xs) == 0 {
		panic("autograd: AddN of nothing")
	}
	y := t.alloc(xs[0].Shape()...)
	y.CopyFrom(xs[0].Value)
	for _, x := range xs[1:] {
		tensor.AddInto(y, x.Value)
	}
	out, _ := t.output(y, backAdd, xs...)
	return out
}

// Mul returns a ⊙ b (elementwise, same shape).
func (t *Tape) Mul(a, b *Var) *Var {
	y := t.alloc(a.Shape()...)
	tensor.Mul(y, a.Value, b.Value)
	out, _ := t.output(y, backMul, a, b)
	return out
}

func backMul(t *Tape, n *node) {
	a, b := n.in[0], n.in[1]
	if g, acc := t.grad(a); g != nil {
		tensor.MulAcc(g, n.out.Grad, b.Value, acc)
	}
	if g, acc := t.grad(b); g != nil {
		tensor.MulAcc(g, n.out.Grad, a.Value, acc)
	}
}

// Scale returns s·x.
func (t *Tape) Scale(x *Var, s float32) *Var {
	y := t.alloc(x.Shape()...)
	tensor.Scale(y, s, x.Value)
	out, nd := t.output(y, backScale, x)
	if nd != nil {
		nd.floats = append(nd.floats, float64(s))
	}
	return out
}

func backScale(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		s := float32(n.floats[0])
		if acc {
			tensor.AddScaledInto(g, s, n.out.Grad)
		} else {
			tensor.Scale(g, s, n.out.Grad)
		}
	}
}

// Activate returns act(x) elementwise.
func (t *Tape) Activate(x *Var, act tensor.Activation) *Var {
	y := t.alloc(x.Shape()...)
	tensor.Activate(y, x.Value, act)
	out, nd := t.output(y, backActivate, x)
	if nd != nil {
		nd.ints = append(nd.ints, int(act))
	}
	return out
}

func backActivate(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		tensor.ActivationBackward(g, n.in[0].Value, n.out.Grad, tensor.Activation(n.ints[0]), acc)
	}
}

// ReLU returns max(x, 0).
func (t *Tape) ReLU(x *Var) *Var { return t.Activate(x, tensor.ActReLU) }

// Swish returns x·sigmoid(x).
func (t *Tape) Swish(x *Var) *Var { return t.Activate(x, tensor.ActSwish) }

// HardSwish returns x·relu6(x+3)/6.
func (t *Tape) HardSwish(x *Var) *Var { return t.Activate(x, tensor.ActHardSwish) }

// Sigmoid returns 1/(1+exp(-x)).
func (t *Tape) Sigmoid(x *Var) *Var { return t.Activate(x, tensor.ActSigmoid) }

// Sum returns the sum of all elements of x as a one-element tensor.
func (t *Tape) Sum(x *Var) *Var { return t.sumScaled(x, 1) }

// Mean returns the mean of all elements of x as a one-element tensor.
func (t *Tape) Mean(x *Var) *Var {
	if x.Value.Len() == 0 {
		panic("autograd: Mean of an empty tensor")
	}
	return t.sumScaled(x, 1/float64(x.Value.Len()))
}

func (t *Tape) sumScaled(x *Var, s float64) *Var {
	y := t.alloc(1)
	y.Data()[0] = float32(tensor.Sum(x.Value) * s)
	out, nd := t.output(y, backSumScaled, x)
	if nd != nil {
		nd.floats = append(nd.floats, s)
	}
	return out
}

func backSumScaled(t *Tape, n *node) {
	g, acc := t.grad(n.in[0])
	if g == nil {
		return
	}
	v := float32(float64(n.out.Grad.Data()[0]) * n.floats[0])
	d := g.Data()
	for i := range d {
		if acc {
			d[i] += v
		} else {
			d[i] = v
		}
	}
}

// Dense returns x·w + b for x [..., in], w [in, out] and b [out] (b may be
// nil): a fully connected layer applied over the last axis.
func (t *Tape) Dense(x, w, b *Var) *Var {
	in, outDim := w.Value.Dim(0), w.Value.Dim(1)
	if w.Value.Rank() != 2 || x.Value.Dim(-1) != in || (b != nil && b.Value.Len() != outDim) {
		panic(&tensor.ShapeError{Op: "Dense", Msg: fmt.Sprintf("x %v, w %v, b %v", x.Shape(), w.Shape(), shapeOrNil(b))})
	}
	rows := x.Value.Len() / in
	var buf [8]int
	shape := append(buf[:0], x.Shape()...)
	shape[len(shape)-1] = outDim
	y := t.alloc(shape...)
	x2 := t.pool.View(x.Value, rows, in)
	y2 := t.pool.View(y, rows, outDim)
	t.dev.MatMul(y2, x2, w.Value, false, false, false)
	if b != nil {
		tensor.AddRowVector(y2, b.Value)
	}
	out, _ := t.output(y, backDense, x, w, b)
	return out
}

func backDense(t *Tape, n *node) {
	x, w, b := n.in[0], n.in[1], n.in[2]
	in, outDim := w.Value.Dim(0), w.Value.Dim(1)
	rows := x.Value.Len() / in
	dy := t.pool.View(n.out.Grad, rows, outDim)
	if g, acc := t.grad(x); g != nil {
		t.dev.MatMul(t.pool.View(g, rows, in), dy, w.Value, false, true, acc)
	}
	if g, acc := t.grad(w); g != nil {
		t.dev.MatMul(g, t.pool.View(x.Value, rows, in), dy, true, false, acc)
	}
	if b != nil {
		if g, acc := t.grad(b); g != nil {
			tensor.SumRows(g, dy, acc)
		}
	}
}

func shapeOrNil(v *Var) any {
	if v == nil {
		return "none"
	}
	return v.Shape()
}
