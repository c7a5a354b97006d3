package autograd

import (
	"fmt"

	"github.com/spinenet-go/spinenet/tensor"
)

// BatchNormStats holds a batch-normalization layer's running statistics and
// hyper-parameters. The statistics are state, not Params: they get no
// gradient and are updated in place by BatchNorm on a training tape.
type BatchNormStats struct {
	// Mean and Var are the moving mean and variance, [C].
	Mean, Var *tensor.Tensor
	// Momentum is the TensorFlow/Keras moving-average momentum:
	// moving = Momentum·moving + (1−Momentum)·batch. PyTorch's momentum
	// argument is 1 − this value (0.01 in PyTorch is 0.99 here).
	Momentum float32
	// Epsilon is added to the variance before the square root.
	Epsilon float32
	// UnbiasedVar feeds the Bessel-corrected batch variance (·M/(M−1), M
	// positions per channel) into the moving variance, as PyTorch does.
	// The default (false) follows Keras, which feeds the biased variance:
	// tf.keras BatchNormalization computes it with tf.nn.moments, and its
	// fused path removes the fused kernel's Bessel correction "to be
	// consistent with non-fused batch norm". Normalisation always uses the
	// biased batch variance.
	UnbiasedVar bool
	// Frozen makes BatchNorm use the moving statistics and leave them
	// unchanged even on a training tape (Keras's trainable=False behaviour,
	// for fine-tuning with frozen BN).
	Frozen bool
}

// NewBatchNormStats returns statistics for c channels with moving mean 0,
// moving variance 1 and the TF2 Keras defaults momentum 0.99, epsilon 1e-3
// (SpineNet's TF2 configs; spec §3.4 lists the per-config values).
func NewBatchNormStats(c int) *BatchNormStats {
	s := &BatchNormStats{Mean: tensor.New(c), Var: tensor.New(c), Momentum: 0.99, Epsilon: 1e-3}
	s.Var.Fill(1)
	return s
}

// BatchNorm normalizes x per channel (the last axis) and applies the affine
// gamma·x̂ + beta:
//
//	x [N,H,W,C] → [N,H,W,C]   (or x [N,C] → [N,C] for dense heads; any
//	                           leading shape, statistics over all of it)
//
// gamma and beta are [C] (usually Params; either may be nil for scale 1 or
// offset 0); s holds the moving statistics.
//
// On a training tape (t.Training, s.Frozen false) it normalizes with the
// batch mean and the biased batch variance, x̂ = (x − μ_B)/sqrt(σ²_B + ε), and
// updates s.Mean and s.Var in place with the Keras convention
// moving = momentum·moving + (1−momentum)·batch (see BatchNormStats for the
// variance fed in). The backward pass differentiates through the batch
// statistics. Otherwise (inference, or Frozen) it uses the moving statistics,
// which are then constants for the backward pass.
func (t *Tape) BatchNorm(x, gamma, beta *Var, s *BatchNormStats) *Var {
	c := x.Value.Dim(-1)
	if (gamma != nil && gamma.Value.Len() != c) || (beta != nil && beta.Value.Len() != c) || s.Mean.Len() != c || s.Var.Len() != c {
		panic(&tensor.ShapeError{Op: "BatchNorm", Msg: fmt.Sprintf("x %v, gamma %v, beta %v, moving mean %v, var %v", x.Shape(), shapeOrNil(gamma), shapeOrNil(beta), s.Mean.Shape(), s.Var.Shape())})
	}
	batch := t.Training && !s.Frozen
	mean, invStd := t.alloc(c), t.alloc(c)
	if batch {
		variance := t.alloc(c)
		t.dev.BatchMoments(mean, variance, x.Value)
		tensor.InvStd(invStd, variance, float64(s.Epsilon))
		scale := 1.0
		if m := x.Value.Len() / c; s.UnbiasedVar && m > 1 {
			scale = float64(m) / float64(m-1)
		}
		tensor.MovingAverage(s.Mean, mean, float64(s.Momentum), 1)
		tensor.MovingAverage(s.Var, variance, float64(s.Momentum), scale)
	} else {
		mean.CopyFrom(s.Mean)
		tensor.InvStd(invStd, s.Var, float64(s.Epsilon))
	}
	var g, b *tensor.Tensor
	if gamma != nil {
		g = gamma.Value
	}
	if beta != nil {
		b = beta.Value
	}
	y := t.alloc(x.Shape()...)
	t.dev.BatchNormForward(y, x.Value, mean, invStd, g, b)
	out, nd := t.output(y, backBatchNorm, x, gamma, beta)
	if nd != nil {
		nd.saved = append(nd.saved, mean, invStd)
		flag := 0
		if batch {
			flag = 1
		}
		nd.ints = append(nd.ints, flag)
	}
	return out
}

func backBatchNorm(t *Tape, n *node) {
	x, gamma, beta := n.in[0], n.in[1], n.in[2]
	mean, invStd := n.saved[0], n.saved[1]
	batch := n.ints[0] == 1
	dy := n.out.Grad
	c := mean.Len()
	needX := x.requiresGrad
	needG := gamma != nil && gamma.requiresGrad
	needB := beta != nil && beta.requiresGrad
	var sumDy, sumDyXhat *tensor.Tensor
	if needG || needB || (needX && batch) {
		sumDy, sumDyXhat = t.alloc(c), t.alloc(c)
		t.dev.BatchNormGradSums(sumDy, sumDyXhat, x.Value, dy, mean, invStd)
	}
	if needG {
		g, acc := t.grad(gamma)
		tensor.CopyAcc(g, t.pool.View(sumDyXhat, gamma.Shape()...), acc)
	}
	if needB {
		g, acc := t.grad(beta)
		tensor.CopyAcc(g, t.pool.View(sumDy, beta.Shape()...), acc)
	}
	if needX {
		var gv *tensor.Tensor
		if gamma != nil {
			gv = gamma.Value
		}
		g, acc := t.grad(x)
		t.dev.BatchNormInputGrad(g, x.Value, dy, mean, invStd, gv, sumDy, sumDyXhat, batch, acc)
	}
}
