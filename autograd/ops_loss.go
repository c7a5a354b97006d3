package autograd

import (
	"fmt"

	"github.com/spinenet-go/spinenet/tensor"
)

// Losses return one-element Vars (shape [1]) whose value is reduced in
// float64. Targets, labels and weights are constants: they get no gradient,
// and the tensors passed in must stay unchanged until Backward has run.

func checkNormalizer(op string, normalizer float64) {
	if !(normalizer > 0) {
		panic(fmt.Sprintf("autograd: %s normalizer %v is not positive", op, normalizer))
	}
}

// SigmoidFocalLoss returns the RetinaNet classification loss (spec §7):
//
//	logits [..., K], targets [..., K] (one-hot in {0,1}), weights nil,
//	[..., K] or [...] (one per anchor) → [1]
//
//	loss = Σ w·a·(1 − p_t)^γ·CE(logits, targets) / normalizer
//
// with p_t the probability of the true label (σ(x) for a positive target,
// 1 − σ(x) for a negative one), a = alpha for positives and 1 − alpha for
// negatives, and CE the sigmoid cross-entropy. It is computed stably from the
// logits in log space (the TPU focal_loss's unified modulator
// exp(−γ·z·x − γ·log(1 + e^−x)), with a stable softplus). Weights mask
// ignored anchors (0) and may be nil. SpineNet uses alpha 0.25, gamma 1.5
// and normalizer = number of positive anchors + 1.
func (t *Tape) SigmoidFocalLoss(logits *Var, targets, weights *tensor.Tensor, alpha, gamma, normalizer float64) *Var {
	checkNormalizer("SigmoidFocalLoss", normalizer)
	y := t.alloc(1)
	y.Data()[0] = float32(t.dev.SigmoidFocalLoss(logits.Value, targets, weights, alpha, gamma) / normalizer)
	out, nd := t.output(y, backSigmoidFocalLoss, logits)
	if nd != nil {
		nd.saved = append(nd.saved, targets, weights)
		nd.floats = append(nd.floats, alpha, gamma, 1/normalizer)
	}
	return out
}

func backSigmoidFocalLoss(t *Tape, n *node) {
	x := n.in[0]
	if g, acc := t.grad(x); g != nil {
		scale := float64(n.out.Grad.Data()[0]) * n.floats[2]
		t.dev.SigmoidFocalLossGrad(g, x.Value, n.saved[0], n.saved[1], n.floats[0], n.floats[1], scale, acc)
	}
}

// HuberLoss returns the RetinaNet box-regression loss (spec §7):
//
//	pred [..., 4], target [..., 4], weights nil, [..., 4] or [...] → [1]
//
//	loss = Σ w·h(pred − target) / normalizer,
//	h(r) = r²/2 for |r| ≤ delta, delta·(|r| − delta/2) otherwise
//
// (tf.keras.losses.Huber and tf.losses.huber_loss). Weights select the
// positive anchors and may be nil. SpineNet uses delta 0.1 and normalizer
// 4·(positives + 1), and weights the box loss by 50 (apply with Scale).
func (t *Tape) HuberLoss(pred *Var, target, weights *tensor.Tensor, delta, normalizer float64) *Var {
	checkNormalizer("HuberLoss", normalizer)
	y := t.alloc(1)
	y.Data()[0] = float32(tensor.HuberLoss(pred.Value, target, weights, delta) / normalizer)
	out, nd := t.output(y, backHuberLoss, pred)
	if nd != nil {
		nd.saved = append(nd.saved, target, weights)
		nd.floats = append(nd.floats, delta, 1/normalizer)
	}
	return out
}

func backHuberLoss(t *Tape, n *node) {
	x := n.in[0]
	if g, acc := t.grad(x); g != nil {
		scale := float64(n.out.Grad.Data()[0]) * n.floats[1]
		tensor.HuberLossGrad(g, x.Value, n.saved[0], n.saved[1], n.floats[0], scale, acc)
	}
}

// SigmoidBCE returns the sigmoid binary cross-entropy against soft
// targets, Mask R-CNN's mask loss and RPN objectness loss (Mask R-CNN spec
// §8):
//
//	logits [...], targets [...] (values in [0, 1]), weights nil, [...] or
//	one per row of the last axis → [1]
//
//	loss = Σ w·(max(x, 0) − x·t + log(1 + e^−|x|)) / normalizer
//
// (tf.nn.sigmoid_cross_entropy_with_logits), stable for any logit; the
// gradient is w·(σ(x) − t)/normalizer. For the mask loss, gather the GT
// class's [R, 28, 28] logits (GatherClass), reshape them to [R, 784] to
// weight whole RoIs with one weight each (0 for padded samples), and use
// normalizer #fg·784.
func (t *Tape) SigmoidBCE(logits *Var, targets, weights *tensor.Tensor, normalizer float64) *Var {
	checkNormalizer("SigmoidBCE", normalizer)
	y := t.alloc(1)
	y.Data()[0] = float32(tensor.SigmoidBCE(logits.Value, targets, weights) / normalizer)
	out, nd := t.output(y, backSigmoidBCE, logits)
	if nd != nil {
		nd.saved = append(nd.saved, targets, weights)
		nd.floats = append(nd.floats, 1/normalizer)
	}
	return out
}

func backSigmoidBCE(t *Tape, n *node) {
	x := n.in[0]
	if g, acc := t.grad(x); g != nil {
		scale := float64(n.out.Grad.Data()[0]) * n.floats[0]
		tensor.SigmoidBCEGrad(g, x.Value, n.saved[0], n.saved[1], scale, acc)
	}
}

// SoftmaxCrossEntropy returns the classification loss (spec §5.7):
//
//	logits [N, K], labels []int32 (N class indices in [0, K)) → [1]
//
//	loss = (1/N)·Σ_n −Σ_k q_nk·log softmax(logits_n)_k,
//	q = (1 − ε)·onehot(label) + ε/K
//
// with ε = labelSmoothing (tf.losses.softmax_cross_entropy /
// tf.keras CategoricalCrossentropy label_smoothing; SpineNet's improved
// classification recipe uses 0.1). The log-softmax is computed stably.
// Leading dimensions beyond N are allowed: every row of the last axis is an
// example, and there must be one label per row.
func (t *Tape) SoftmaxCrossEntropy(logits *Var, labels []int32, labelSmoothing float64) *Var {
	prob := t.alloc(logits.Shape()...)
	rows := max(len(labels), 1)
	y := t.alloc(1)
	y.Data()[0] = float32(tensor.SoftmaxCrossEntropy(prob, logits.Value, labels, labelSmoothing) / float64(rows))
	out, nd := t.output(y, backSoftmaxCrossEntropy, logits)
	if nd != nil {
		nd.saved = append(nd.saved, prob)
		nd.idx = append(nd.idx, labels...)
		nd.floats = append(nd.floats, labelSmoothing, 1/float64(rows))
	}
	return out
}

func backSoftmaxCrossEntropy(t *Tape, n *node) {
	x := n.in[0]
	if g, acc := t.grad(x); g != nil {
		scale := float64(n.out.Grad.Data()[0]) * n.floats[1]
		tensor.SoftmaxCrossEntropyGrad(g, n.saved[0], n.idx, n.floats[0], scale, acc)
	}
}

// SoftmaxCrossEntropyDense is SoftmaxCrossEntropy with dense targets:
//
//	logits [N, K], targets [N, K] (one-hot rows, or any distribution) → [1]
//
// with q = (1 − ε)·targets + ε/K and the mean over the N rows.
func (t *Tape) SoftmaxCrossEntropyDense(logits *Var, targets *tensor.Tensor, labelSmoothing float64) *Var {
	prob := t.alloc(logits.Shape()...)
	rows := max(logits.Value.Len()/max(logits.Value.Dim(-1), 1), 1)
	y := t.alloc(1)
	y.Data()[0] = float32(tensor.SoftmaxCrossEntropyDense(prob, logits.Value, targets, labelSmoothing) / float64(rows))
	out, nd := t.output(y, backSoftmaxCrossEntropyDense, logits)
	if nd != nil {
		nd.saved = append(nd.saved, prob, targets)
		nd.floats = append(nd.floats, labelSmoothing, 1/float64(rows))
	}
	return out
}

func backSoftmaxCrossEntropyDense(t *Tape, n *node) {
	x := n.in[0]
	if g, acc := t.grad(x); g != nil {
		scale := float64(n.out.Grad.Data()[0]) * n.floats[1]
		tensor.SoftmaxCrossEntropyDenseGrad(g, n.saved[0], n.saved[1], n.floats[0], scale, acc)
	}
}

// TopKAccuracy returns the fraction of rows of logits [N, K] whose label is
// among the k highest scores (ties favour the label); not differentiable.
// It returns 0 for no rows.
func TopKAccuracy(logits *tensor.Tensor, labels []int32, k int) float64 {
	if len(labels) == 0 {
		return 0
	}
	return float64(tensor.TopKCorrect(logits, labels, k)) / float64(len(labels))
}
