package autograd

import (
	"github.com/spinenet-go/spinenet/tensor"
)

// The operations of small policy networks (the architecture-search
// controller: an LSTM with masked softmax heads, trained by policy
// gradients). A masked softmax over the last axis is
//
//	t.LogSoftmax(t.Add(logits, t.Constant(mask)))
//
// with mask 0 on the allowed choices and −1e9 on the others: their
// log-probability is then about −1e9 and their probability exactly 0, so
// neither the log-probability of a chosen action (Pick) nor the entropy
// −SumLast(Exp(ls)⊙ls) sees them, and no NaN appears.

// Tanh returns tanh(x) elementwise.
func (t *Tape) Tanh(x *Var) *Var {
	y := t.alloc(x.Shape()...)
	tensor.Tanh(y, x.Value)
	out, _ := t.output(y, backTanh, x)
	return out
}

func backTanh(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		tensor.TanhBackward(g, n.out.Value, n.out.Grad, acc)
	}
}

// Exp returns exp(x) elementwise.
func (t *Tape) Exp(x *Var) *Var {
	y := t.alloc(x.Shape()...)
	tensor.Exp(y, x.Value)
	out, _ := t.output(y, backExp, x)
	return out
}

func backExp(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		tensor.MulAcc(g, n.out.Grad, n.out.Value, acc)
	}
}

// LogSoftmax returns the log-softmax of x over its last axis:
//
//	x [..., K] → [..., K],   y = x − log Σ_k exp(x_k)   (row by row, stable)
//
// The gradient is dx = dy − softmax(x)·Σ_k dy_k.
func (t *Tape) LogSoftmax(x *Var) *Var {
	y := t.alloc(x.Shape()...)
	tensor.LogSoftmax(y, x.Value)
	out, _ := t.output(y, backLogSoftmax, x)
	return out
}

func backLogSoftmax(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		tensor.LogSoftmaxBackward(g, n.out.Value, n.out.Grad, acc)
	}
}

// Pick gathers one element of each row of x, the log-probability of a
// chosen action:
//
//	x [..., K], idx (one index in [0, K) per row) → [...],   y[r] = x[r, idx[r]]
//
// idx is copied. The gradient is dy scattered back to the picked entries.
func (t *Tape) Pick(x *Var, idx []int32) *Var {
	shape := x.Shape()
	y := t.alloc(shape[:len(shape)-1]...)
	tensor.PickLast(y, x.Value, idx)
	out, nd := t.output(y, backPick, x)
	if nd != nil {
		nd.idx = append(nd.idx, idx...)
	}
	return out
}

func backPick(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		tensor.PickLastBackward(g, n.out.Grad, n.idx, acc)
	}
}

// SumLast sums x over its last axis:
//
//	x [..., K] → [...],   y[r] = Σ_k x[r, k]
func (t *Tape) SumLast(x *Var) *Var {
	shape := x.Shape()
	y := t.alloc(shape[:len(shape)-1]...)
	tensor.SumLast(y, x.Value, false)
	out, _ := t.output(y, backSumLast, x)
	return out
}

func backSumLast(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		tensor.BroadcastLast(g, n.out.Grad, acc)
	}
}
