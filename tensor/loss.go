package tensor

import (
	"fmt"
	"math"

	"github.com/spinenet-go/spinenet/kernels"
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

// focalTerms returns, for logit x and target z, the focal loss
// a·(1−p_t)^γ·CE and its derivative with respect to x (both unweighted).
// It costs one exp and one log1p (plus a pow unless γ is 0, 1, 1.5 or 2).
func focalTerms(x, z, alpha, gamma float64) (loss, grad float64) {
	// e = exp(−|x|) gives, without cancellation, log(1+e^−|x|), σ(x) and
	// σ(−x) = 1 − σ(x).
	e := math.Exp(-math.Abs(x))
	r := 1 / (1 + e)
	l := log1pUnit(e)
	s, sn := r, e*r // σ(x), σ(−x)
	if x < 0 {
		s, sn = sn, s
	}
	// CE = sigmoid_cross_entropy_with_logits = max(x,0) − x·z + log(1+e^−|x|).
	ce := math.Max(x, 0) - x*z + l
	// (1−p_t)^γ, the TPU implementation's unified form
	// exp(−γ·z·x − γ·softplus(−x)): σ(x)^γ for z = 0, σ(−x)^γ for z = 1.
	var mod float64
	switch z {
	case 0:
		mod = powGamma(s, gamma)
	case 1:
		mod = powGamma(sn, gamma)
	default:
		mod = math.Exp(-gamma * (z*x + math.Max(-x, 0) + l))
	}
	a := 1 - alpha
	if z == 1 {
		a = alpha
	}
	// d mod/dx = mod·γ·(1 − σ − z); d CE/dx = σ − z.
	return a * mod * ce, a * mod * (gamma*(sn-z)*ce + (s - z))
}

// log1pUnit returns log(1+e) for e in [0, 1], to full float64 accuracy. It
// is the fdlibm logarithm (as in Go's pure-Go math.Log) with the range
// reduction specialised to [1, 2], and several times faster than math.Log1p
// or the amd64 assembly math.Log; the focal loss calls it per logit.
func log1pUnit(e float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01
		ln2Lo = 1.90821492927058770002e-10
		l1    = 6.666666666666735130e-01
		l2    = 3.999999999940941908e-01
		l3    = 2.857142874366239149e-01
		l4    = 2.222219843214978396e-01
		l5    = 1.818357216161805012e-01
		l6    = 1.531383769920937332e-01
		l7    = 1.479819860511658591e-01
	)
	// 1+e = 2^k·(1+f) with 1+f in [√2/2, √2).
	f, k := e, 0.0
	if e > math.Sqrt2-1 {
		f, k = (e-1)*0.5, 1
	}
	s := f / (2 + f)
	s2 := s * s
	s4 := s2 * s2
	t1 := s2 * (l1 + s4*(l3+s4*(l5+s4*l7)))
	t2 := s4 * (l2 + s4*(l4+s4*l6))
	hfsq := 0.5 * f * f
	return k*ln2Hi - ((hfsq - (s*(hfsq+t1+t2) + k*ln2Lo)) - f)
}

// powGamma returns q^γ for q in [0, 1], with the common focal exponents
// special-cased.
func powGamma(q, gamma float64) float64 {
	switch gamma {
	case 0:
		return 1
	case 1:
		return q
	case 1.5:
		return q * math.Sqrt(q)
	case 2:
		return q * q
	}
	return math.Pow(q, gamma)
}

// lossChunk is the number of elements per partial sum of the parallel loss
// reductions. The chunks are fixed by the input size alone and their sums
// are added in order, so a loss does not depend on the thread count or on
// which thread ran which chunk.
const lossChunk = 1 << 13

// focalTask holds the arguments of the parallel focal-loss loops: chunk i
// covers elements [i·lossChunk, (i+1)·lossChunk).
type focalTask struct {
	x, z, dx     []float32
	weights      *Tensor
	ws           int
	alpha, gamma float64
	scale        float64
	grad, accum  bool
	partial      []float64 // per-chunk sums (loss only)
}

var focalTasks kernels.ArgPool[focalTask]

// RunRange implements kernels.Ranger over chunk indices.
func (t *focalTask) RunRange(lo, hi int) {
	for ch := lo; ch < hi; ch++ {
		i0, i1 := ch*lossChunk, min((ch+1)*lossChunk, len(t.x))
		if !t.grad {
			var sum float64
			for i := i0; i < i1; i++ {
				if w := weightAt(t.weights, t.ws, i); w != 0 {
					l, _ := focalTerms(float64(t.x[i]), float64(t.z[i]), t.alpha, t.gamma)
					sum += w * l
				}
			}
			t.partial[ch] = sum
			continue
		}
		for i := i0; i < i1; i++ {
			var g float64
			if w := weightAt(t.weights, t.ws, i); w != 0 {
				_, g = focalTerms(float64(t.x[i]), float64(t.z[i]), t.alpha, t.gamma)
				g *= w * t.scale
			}
			if t.accum {
				t.dx[i] += float32(g)
			} else {
				t.dx[i] = float32(g)
			}
		}
	}
}

// focalCost is the approximate cost of one focal-loss element, in the
// element operations kernels.Parallel weighs.
const focalCost = 40

// SigmoidFocalLoss returns Σ w·FL(x, z) over the elements of logits x and
// targets z (same shape, z in {0, 1}), with
//
//	FL = a·(1 − p_t)^γ · CE(x, z),   CE = −z·log σ(x) − (1−z)·log(1−σ(x)),
//
// p_t = σ(x) where z = 1 and 1 − σ(x) where z = 0, and a = alpha where z = 1,
// 1 − alpha elsewhere (Lin et al. 2017; the TPU/TF2 RetinaNet focal_loss).
// weights may be nil, per element, or per row of the last axis. It runs on
// d's threads; the result does not depend on how many.
func (d CPU) SigmoidFocalLoss(logits, targets, weights *Tensor, alpha, gamma float64) float64 {
	MustSameShape("SigmoidFocalLoss", logits, targets)
	n := len(logits.data)
	chunks := (n + lossChunk - 1) / lossChunk
	sc := getScratch()
	parts, _ := sc.grow(chunks, 0)
	t := focalTasks.Get()
	*t = focalTask{x: logits.data, z: targets.data[:n], weights: weights,
		ws: weightStride("SigmoidFocalLoss", logits, weights), alpha: alpha, gamma: gamma,
		partial: parts}
	d.Exec().Parallel(chunks, n*focalCost, t)
	focalTasks.Put(t)
	var sum float64
	for _, p := range parts {
		sum += p
	}
	scratches.Put(sc)
	return sum
}

// SigmoidFocalLoss is DefaultCPU().SigmoidFocalLoss.
func SigmoidFocalLoss(logits, targets, weights *Tensor, alpha, gamma float64) float64 {
	return DefaultCPU().SigmoidFocalLoss(logits, targets, weights, alpha, gamma)
}

// SigmoidFocalLossGrad sets dx (= or += when accumulate) to
// scale·∂SigmoidFocalLoss/∂logits. It runs on d's threads.
func (d CPU) SigmoidFocalLossGrad(dx, logits, targets, weights *Tensor, alpha, gamma, scale float64, accumulate bool) {
	MustSameShape("SigmoidFocalLossGrad", dx, logits)
	MustSameShape("SigmoidFocalLossGrad", logits, targets)
	n := len(logits.data)
	t := focalTasks.Get()
	*t = focalTask{x: logits.data, z: targets.data[:n], dx: dx.data[:n], weights: weights,
		ws: weightStride("SigmoidFocalLossGrad", logits, weights), alpha: alpha, gamma: gamma,
		scale: scale, grad: true, accum: accumulate}
	d.Exec().Parallel((n+lossChunk-1)/lossChunk, n*focalCost, t)
	focalTasks.Put(t)
}

// SigmoidFocalLossGrad is DefaultCPU().SigmoidFocalLossGrad.
func SigmoidFocalLossGrad(dx, logits, targets, weights *Tensor, alpha, gamma, scale float64, accumulate bool) {
	DefaultCPU().SigmoidFocalLossGrad(dx, logits, targets, weights, alpha, gamma, scale, accumulate)
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

// SigmoidBCE returns the weighted sigmoid binary cross-entropy of logits
// against same-shaped targets, which may be soft (any value in [0, 1], as
// Mask R-CNN's mask targets are):
//
//	Σ w·(max(x, 0) − x·t + log(1 + e^−|x|))
//
// (tf.nn.sigmoid_cross_entropy_with_logits, stable for any x). weights may
// be nil, per element, or per row of the last axis; a weight of 0 skips
// the element.
func SigmoidBCE(logits, targets, weights *Tensor) float64 {
	MustSameShape("SigmoidBCE", logits, targets)
	ws := weightStride("SigmoidBCE", logits, weights)
	t := targets.data[:len(logits.data)]
	var sum float64
	for i, v := range logits.data {
		w := weightAt(weights, ws, i)
		if w == 0 {
			continue
		}
		x := float64(v)
		sum += w * (math.Max(x, 0) - x*float64(t[i]) + log1pUnit(math.Exp(-math.Abs(x))))
	}
	return sum
}

// SigmoidBCEGrad sets dx (= or += when accumulate) to scale·∂SigmoidBCE/∂logits:
// scale·w·(σ(x) − t).
func SigmoidBCEGrad(dx, logits, targets, weights *Tensor, scale float64, accumulate bool) {
	MustSameShape("SigmoidBCEGrad", dx, logits)
	MustSameShape("SigmoidBCEGrad", logits, targets)
	ws := weightStride("SigmoidBCEGrad", logits, weights)
	t, d := targets.data[:len(logits.data)], dx.data[:len(logits.data)]
	for i, v := range logits.data {
		x := float64(v)
		e := math.Exp(-math.Abs(x))
		s := 1 / (1 + e) // σ(|x|)
		if x < 0 {
			s = e * s // σ(x) = e^x/(1+e^x) without overflow
		}
		g := float32(scale * weightAt(weights, ws, i) * (s - float64(t[i])))
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

// rowMaxSumExp returns the row maximum m and Σ exp(x − m), accumulated in
// float64: the stable pieces of a softmax and of log Σ exp(x) = m + log s.
func rowMaxSumExp(x []float32) (m, s float64) {
	m = math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	return m, s
}

// softmaxRow writes the softmax of x into p and returns log Σ exp(x).
func softmaxRow(p, x []float32) float64 {
	m, s := rowMaxSumExp(x)
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
