package tensor

import (
	"fmt"
	"math"
)

// Loss primitives. Each loss has a function returning the (weighted) sum of
// the per-element losses, accumulated in float64, and a gradient function
// that writes scale·∂sum/∂input, so autograd can recompute the gradient in
// the backward pass instead of keeping an input-sized buffer alive.
//
// Optional weights broadcast either per element (same number of elements as
// the input) or per row of the last axis (one weight per anchor for [..., K]
// logits or [..., 4] box deltas); a weight of 0 ignores the element.

// weightStride returns how many consecutive input elements share one weight:
// 0 when weights is nil, 1 per element, or x's last dimension per row.
func weightStride(op string, x, weights *Tensor) int {
	if weights == nil {
		return 0
	}
	n := len(x.data)
	switch {
	case len(weights.data) == n:
		return 1
	case x.Rank() > 0 && x.Dim(-1) > 0 && len(weights.data)*x.Dim(-1) == n:
		return x.Dim(-1)
	}
	panic(&ShapeError{Op: op, Msg: fmt.Sprintf("weights %v fit neither the elements nor the rows of %v", weights.shape, x.shape)})
}

func weightAt(weights *Tensor, stride, i int) float64 {
	if stride == 0 {
		return 1
	}
	return float64(weights.data[i/stride])
}

// softplus returns log(1 + exp(x)) without overflow.
func softplus(x float64) float64 {
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// focalTerms returns, for logit x and target z, the focal loss
// a·(1−p_t)^γ·CE and its derivative with respect to x (both unweighted).
func focalTerms(x, z, alpha, gamma float64) (loss, grad float64) {
	// CE = sigmoid_cross_entropy_with_logits = max(x,0) − x·z + log(1+e^−|x|).
	ce := softplus(x) - x*z
	// (1−p_t)^γ = exp(−γ·z·x − γ·softplus(−x)) (the TPU implementation's
	// unified form: σ(x)^γ for z = 0, (1−σ(x))^γ for z = 1), computed in log
	// space so it is stable for any logit.
	mod := 1.0
	if gamma != 0 {
		mod = math.Exp(-gamma*z*x - gamma*softplus(-x))
	}
	a := 1 - alpha
	if z == 1 {
		a = alpha
	}
	s := sigmoid64(x)
	// d mod/dx = mod·γ·(1 − σ − z); d CE/dx = σ − z.
	return a * mod * ce, a * mod * (gamma*(1-s-z)*ce + (s - z))
}

// SigmoidFocalLoss returns Σ w·FL(x, z) over the elements of logits x and
// targets z (same shape, z in {0, 1}), with
//
//	FL = a·(1 − p_t)^γ · CE(x, z),   CE = −z·log σ(x) − (1−z)·log(1−σ(x)),
//
// p_t = σ(x) where z = 1 and 1 − σ(x) where z = 0, and a = alpha where z = 1,
// 1 − alpha elsewhere (Lin et al. 2017; the TPU/TF2 RetinaNet focal_loss).
// weights may be nil, per element, or per row of the last axis.
func SigmoidFocalLoss(logits, targets, weights *Tensor, alpha, gamma float64) float64 {
	MustSameShape("SigmoidFocalLoss", logits, targets)
	ws := weightStride("SigmoidFocalLoss", logits, weights)
	z := targets.data[:len(logits.data)]
	var sum float64
	for i, x := range logits.data {
		w := weightAt(weights, ws, i)
		if w == 0 {
			continue
		}
		l, _ := focalTerms(float64(x), float64(z[i]), alpha, gamma)
		sum += w * l
	}
	return sum
}

// SigmoidFocalLossGrad sets dx (= or += when accumulate) to
// scale·∂SigmoidFocalLoss/∂logits.
func SigmoidFocalLossGrad(dx, logits, targets, weights *Tensor, alpha, gamma, scale float64, accumulate bool) {
	MustSameShape("SigmoidFocalLossGrad", dx, logits)
	MustSameShape("SigmoidFocalLossGrad", logits, targets)
	ws := weightStride("SigmoidFocalLossGrad", logits, weights)
	z, d := targets.data[:len(logits.data)], dx.data[:len(logits.data)]
	for i, x := range logits.data {
		var g float64
		if w := weightAt(weights, ws, i); w != 0 {
			_, g = focalTerms(float64(x), float64(z[i]), alpha, gamma)
			g *= w * scale
		}
		if accumulate {
			d[i] += float32(g)
		} else {
			d[i] = float32(g)
		}
	}
}

// HuberLoss returns Σ w·h(pred − target) over same-shaped pred and target,
// with h(r) = r²/2 for |r| ≤ delta and delta·(|r| − delta/2) beyond
// (tf.keras.losses.Huber / tf.losses.huber_loss). weights may be nil, per
// element, or per row of the last axis.
func HuberLoss(pred, target, weights *Tensor, delta float64) float64 {
	MustSameShape("HuberLoss", pred, target)
	ws := weightStride("HuberLoss", pred, weights)
	t := target.data[:len(pred.data)]
	var sum float64
	for i, p := range pred.data {
		w := weightAt(weights, ws, i)
		if w == 0 {
			continue
		}
		r := math.Abs(float64(p) - float64(t[i]))
		if r <= delta {
			sum += w * 0.5 * r * r
		} else {
			sum += w * delta * (r - 0.5*delta)
		}
	}
	return sum
}

// HuberLossGrad sets dx (= or += when accumulate) to scale·∂HuberLoss/∂pred:
// scale·w·clip(pred − target, −delta, delta).
func HuberLossGrad(dx, pred, target, weights *Tensor, delta, scale float64, accumulate bool) {
	MustSameShape("HuberLossGrad", dx, pred)
	MustSameShape("HuberLossGrad", pred, target)
	ws := weightStride("HuberLossGrad", pred, weights)
	t, d := target.data[:len(pred.data)], dx.data[:len(pred.data)]
	for i, p := range pred.data {
		r := math.Max(-delta, math.Min(delta, float64(p)-float64(t[i])))
		g := float32(scale * weightAt(weights, ws, i) * r)
		if accumulate {
			d[i] += g
		} else {
			d[i] = g
		}
	}
}

// softmaxRows checks logits [..., K] against prob and returns K and the
// number of rows.
func softmaxRows(op string, prob, logits *Tensor) (k, rows int) {
	if logits.Rank() == 0 || logits.Dim(-1) == 0 {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("need logits with a class axis, got %v", logits.shape)})
	}
	MustSameShape(op, prob, logits)
	k = logits.Dim(-1)
	return k, len(logits.data) / k
}

// softmaxRow writes the softmax of x into p and returns log Σ exp(x).
func softmaxRow(p, x []float32) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	for j, v := range x {
		p[j] = float32(math.Exp(float64(v)-m) / s)
	}
	return m + math.Log(s)
}

// Softmax sets dst to the softmax of logits over the last axis (stable:
// the row maximum is subtracted first). dst may be logits.
func Softmax(dst, logits *Tensor) {
	k, rows := softmaxRows("Softmax", dst, logits)
	for r := range rows {
		softmaxRow(dst.data[r*k:(r+1)*k], logits.data[r*k:(r+1)*k])
	}
}

func checkLabels(op string, labels []int32, rows, k int) {
	if len(labels) != rows {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("%d labels for %d rows", len(labels), rows)})
	}
	for _, y := range labels {
		if y < 0 || int(y) >= k {
			panic(&ShapeError{Op: op, Msg: fmt.Sprintf("label %d outside [0, %d)", y, k)})
		}
	}
}

// SoftmaxCrossEntropy returns the summed cross-entropy Σ_rows −Σ_k q_k·log p_k
// of logits [..., K] against integer class labels (one per row), with the
// label-smoothed targets q = (1−ε)·onehot(label) + ε/K (tf.losses /
// tf.keras softmax cross-entropy label_smoothing). It writes the softmax p
// into prob (same shape as logits) for the gradient.
func SoftmaxCrossEntropy(prob, logits *Tensor, labels []int32, smoothing float64) float64 {
	k, rows := softmaxRows("SoftmaxCrossEntropy", prob, logits)
	checkLabels("SoftmaxCrossEntropy", labels, rows, k)
	var sum float64
	u := smoothing / float64(k)
	for r := range rows {
		x := logits.data[r*k : (r+1)*k]
		lse := softmaxRow(prob.data[r*k:(r+1)*k], x)
		var all float64 // Σ_k (lse − x_k)
		if u != 0 {
			for _, v := range x {
				all += lse - float64(v)
			}
		}
		sum += (1-smoothing)*(lse-float64(x[labels[r]])) + u*all
	}
	return sum
}

// SoftmaxCrossEntropyGrad sets dx (= or += when accumulate) to
// scale·(p − q), the gradient of SoftmaxCrossEntropy given the prob it wrote.
func SoftmaxCrossEntropyGrad(dx, prob *Tensor, labels []int32, smoothing, scale float64, accumulate bool) {
	k, rows := softmaxRows("SoftmaxCrossEntropyGrad", dx, prob)
	checkLabels("SoftmaxCrossEntropyGrad", labels, rows, k)
	u := smoothing / float64(k)
	for r := range rows {
		p, d := prob.data[r*k:(r+1)*k], dx.data[r*k:(r+1)*k]
		y := int(labels[r])
		for j, pj := range p {
			q := u
			if j == y {
				q += 1 - smoothing
			}
			g := float32(scale * (float64(pj) - q))
			if accumulate {
				d[j] += g
			} else {
				d[j] = g
			}
		}
	}
}

// SoftmaxCrossEntropyDense is SoftmaxCrossEntropy with dense targets t
// (one-hot rows, or any distribution) of logits' shape: q = (1−ε)·t + ε/K.
func SoftmaxCrossEntropyDense(prob, logits, targets *Tensor, smoothing float64) float64 {
	k, rows := softmaxRows("SoftmaxCrossEntropyDense", prob, logits)
	MustSameShape("SoftmaxCrossEntropyDense", logits, targets)
	var sum float64
	u := smoothing / float64(k)
	for r := range rows {
		x, t := logits.data[r*k:(r+1)*k], targets.data[r*k:(r+1)*k]
		lse := softmaxRow(prob.data[r*k:(r+1)*k], x)
		for j, v := range x {
			sum += ((1-smoothing)*float64(t[j]) + u) * (lse - float64(v))
		}
	}
	return sum
}

// SoftmaxCrossEntropyDenseGrad sets dx (= or += when accumulate) to
// scale·(p·Σq − q), the gradient of SoftmaxCrossEntropyDense (p − q when the
// target rows sum to 1).
func SoftmaxCrossEntropyDenseGrad(dx, prob, targets *Tensor, smoothing, scale float64, accumulate bool) {
	k, rows := softmaxRows("SoftmaxCrossEntropyDenseGrad", dx, prob)
	MustSameShape("SoftmaxCrossEntropyDenseGrad", prob, targets)
	u := smoothing / float64(k)
	for r := range rows {
		p, t, d := prob.data[r*k:(r+1)*k], targets.data[r*k:(r+1)*k], dx.data[r*k:(r+1)*k]
		var qs float64
		for _, v := range t {
			qs += (1-smoothing)*float64(v) + u
		}
		for j, pj := range p {
			q := (1-smoothing)*float64(t[j]) + u
			g := float32(scale * (float64(pj)*qs - q))
			if accumulate {
				d[j] += g
			} else {
				d[j] = g
			}
		}
	}
}

// TopKCorrect returns how many rows of logits [..., K] have their label among
// the k highest scores. A row counts when fewer than k classes score strictly
// higher than the label (ties favour the label); k ≥ K counts every row with
// a finite label score, and a NaN or infinite label score never counts (as in
// tf.math.in_top_k).
func TopKCorrect(logits *Tensor, labels []int32, k int) int {
	if logits.Rank() == 0 || logits.Dim(-1) == 0 {
		panic(&ShapeError{Op: "TopKCorrect", Msg: fmt.Sprintf("need logits with a class axis, got %v", logits.shape)})
	}
	nk := logits.Dim(-1)
	rows := len(logits.data) / nk
	checkLabels("TopKCorrect", labels, rows, nk)
	correct := 0
	for r := range rows {
		x := logits.data[r*nk : (r+1)*nk]
		ref := x[labels[r]]
		if math.IsNaN(float64(ref)) || math.IsInf(float64(ref), 0) {
			continue
		}
		above := 0
		for _, v := range x {
			if v > ref {
				above++
			}
		}
		if above < k {
			correct++
		}
	}
	return correct
}
