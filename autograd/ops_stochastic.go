package autograd

import "github.com/spinenet-go/spinenet/tensor"

// StochasticDepth drops whole examples of a residual branch at random
// ("drop connect", spec §3.5):
//
//	x [N, ...] → [N, ...]
//
// On a training tape each example n is kept with probability keep = 1 − rate
// (one Bernoulli draw per example, a [N,1,1,1] mask) and kept examples are
// divided by keep, so the expectation is unchanged (TF2 nn_layers
// StochasticDepth; TPU nn_ops drop_connect). It returns x itself, recording
// nothing, on an inference tape or when rate is not strictly between 0 and 1
// (the TPU convention). Draws come from t.Rand(), one Float64 per example.
func (t *Tape) StochasticDepth(x *Var, rate float64) *Var {
	if !t.Training || !(rate > 0 && rate < 1) {
		return x
	}
	mask := t.alloc(x.Value.Dim(0))
	tensor.BernoulliMask(mask, t.rng, 1-rate)
	y := t.alloc(x.Shape()...)
	tensor.ScaleByExample(y, x.Value, mask, false)
	out, nd := t.output(y, backStochasticDepth, x)
	if nd != nil {
		nd.saved = append(nd.saved, mask)
	}
	return out
}

func backStochasticDepth(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		tensor.ScaleByExample(g, n.out.Grad, n.saved[0], acc)
	}
}

// Dropout zeroes elements of x at random (inverted dropout):
//
//	x [...] → [...]
//
// On a training tape each element is kept with probability keep = 1 − rate
// and kept elements are divided by keep (tf.nn.dropout; the classification
// head's dropout, spec §5.7). It returns x itself, recording nothing, on an
// inference tape or when rate is not strictly between 0 and 1. Draws come
// from t.Rand(), one Float64 per element in row-major order.
func (t *Tape) Dropout(x *Var, rate float64) *Var {
	if !t.Training || !(rate > 0 && rate < 1) {
		return x
	}
	mask := t.alloc(x.Shape()...)
	tensor.BernoulliMask(mask, t.rng, 1-rate)
	y := t.alloc(x.Shape()...)
	tensor.Mul(y, x.Value, mask)
	out, nd := t.output(y, backDropout, x)
	if nd != nil {
		nd.saved = append(nd.saved, mask)
	}
	return out
}

func backDropout(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		tensor.MulAcc(g, n.out.Grad, n.saved[0], acc)
	}
}
