package autograd_test

import (
	"math"
	"math/rand/v2"
	"runtime/debug"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/internal/gradcheck"
	"github.com/spinenet-go/spinenet/tensor"
)

// detectionTargets returns one-hot class targets [anchors..., k] where each
// anchor is background (all zero) or one class, and per-anchor weights with
// some anchors ignored (0).
func detectionTargets(rng *rand.Rand, k int, anchors ...int) (targets, weights *tensor.Tensor) {
	shape := append(append([]int(nil), anchors...), k)
	targets = tensor.New(shape...)
	weights = tensor.New(anchors...)
	for a := range weights.Len() {
		if c := rng.IntN(k + 2); c < k {
			targets.Data()[a*k+c] = 1
		}
		if rng.IntN(5) > 0 {
			weights.Data()[a] = 1
		}
	}
	return targets, weights
}

// focalReference is the focal loss written directly from its definition in
// float64.
func focalReference(x, z, w []float32, k int, alpha, gamma, norm float64) float64 {
	var s float64
	for i := range x {
		p := 1 / (1 + math.Exp(-float64(x[i])))
		pt, a := 1-p, 1-alpha
		if z[i] == 1 {
			pt, a = p, alpha
		}
		wi := 1.0
		if w != nil {
			wi = float64(w[i/k])
		}
		s += wi * a * math.Pow(1-pt, gamma) * -math.Log(pt)
	}
	return s / norm
}

func TestSigmoidFocalLossValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const k = 5
	x := gradcheck.Rand(rng, -6, 6, 2, 3, 3, k)
	// Large logits: the direct reference loses accuracy beyond about ±15
	// (1 − σ(x) cancels); the tensor tests cover saturated logits.
	x.Data()[0], x.Data()[1], x.Data()[2] = 14, -14, 0
	z, w := detectionTargets(rng, k, 2, 3, 3)
	for _, c := range []struct {
		alpha, gamma, norm float64
		weights            *tensor.Tensor
	}{
		{0.25, 1.5, 7, w}, {0.25, 2, 1, nil}, {0.5, 0, 3, w}, {0.25, 1.5, 1, nil},
	} {
		tp := autograd.NewTape(1)
		got := tp.SigmoidFocalLoss(tp.Input(x), z, c.weights, c.alpha, c.gamma, c.norm)
		var wd []float32
		if c.weights != nil {
			wd = c.weights.Data()
		}
		want := focalReference(x.Data(), z.Data(), wd, k, c.alpha, c.gamma, c.norm)
		if v := float64(got.Value.Data()[0]); math.Abs(v-want) > 1e-6*math.Abs(want) || got.Value.Len() != 1 {
			t.Errorf("alpha %v gamma %v: focal loss %v, want %v", c.alpha, c.gamma, v, want)
		}
	}
}

// huberReference is the Huber loss from its definition in float64.
func huberReference(p, y, w []float32, k int, delta, norm float64) float64 {
	var s float64
	for i := range p {
		r := math.Abs(float64(p[i]) - float64(y[i]))
		h := delta * (r - delta/2)
		if r <= delta {
			h = r * r / 2
		}
		wi := 1.0
		if w != nil {
			wi = float64(w[i/k])
		}
		s += wi * h
	}
	return s / norm
}

// boxData returns predictions and targets whose differences stay clear of the
// Huber kink at ±delta (so finite differences do not straddle it).
func boxData(rng *rand.Rand, delta float64, shape ...int) (pred, target *tensor.Tensor) {
	pred, target = gradcheck.Rand(rng, -1, 1, shape...), tensor.New(shape...)
	for i, p := range pred.Data() {
		r := rng.Float64()*0.4 - 0.2
		if math.Abs(math.Abs(r)-delta) < 0.01 {
			r *= 2
		}
		target.Data()[i] = p - float32(r)
	}
	return pred, target
}

func TestHuberLossValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	p, y := boxData(rng, 0.1, 3, 5, 4)
	w := tensor.New(3, 5)
	for i := range w.Data() {
		w.Data()[i] = float32(i % 2)
	}
	for _, c := range []struct {
		weights     *tensor.Tensor
		delta, norm float64
	}{{w, 0.1, 4 * 8}, {nil, 0.1, 1}, {nil, 1, 2}} {
		tp := autograd.NewTape(1)
		got := float64(tp.HuberLoss(tp.Input(p), y, c.weights, c.delta, c.norm).Value.Data()[0])
		var wd []float32
		if c.weights != nil {
			wd = c.weights.Data()
		}
		if want := huberReference(p.Data(), y.Data(), wd, 4, c.delta, c.norm); math.Abs(got-want) > 1e-6*want {
			t.Errorf("delta %v: Huber %v, want %v", c.delta, got, want)
		}
	}
}

// ceReference is label-smoothed softmax cross-entropy from its definition in
// float64, averaged over rows.
func ceReference(x []float32, labels []int32, k int, eps float64) float64 {
	var s float64
	rows := len(x) / k
	for r := range rows {
		row := x[r*k : (r+1)*k]
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v))
		}
		for j, v := range row {
			q := eps / float64(k)
			if int32(j) == labels[r] {
				q += 1 - eps
			}
			s -= q * math.Log(math.Exp(float64(v))/z)
		}
	}
	return s / float64(rows)
}

func TestSoftmaxCrossEntropyValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	const n, k = 5, 7
	x := gradcheck.Rand(rng, -4, 4, n, k)
	labels := []int32{0, 6, 3, 3, 1}
	onehot := tensor.New(n, k)
	for r, y := range labels {
		onehot.Set(1, r, int(y))
	}
	for _, eps := range []float64{0, 0.1} {
		tp := autograd.NewTape(1)
		want := ceReference(x.Data(), labels, k, eps)
		a := float64(tp.SoftmaxCrossEntropy(tp.Input(x), labels, eps).Value.Data()[0])
		b := float64(tp.SoftmaxCrossEntropyDense(tp.Input(x), onehot, eps).Value.Data()[0])
		if math.Abs(a-want) > 1e-6*want || math.Abs(b-want) > 1e-6*want {
			t.Errorf("smoothing %v: labels %v, one-hot %v, want %v", eps, a, b, want)
		}
	}
	// Huge logits do not overflow.
	big, _ := tensor.FromSlice([]float32{1000, -1000, 0, 999}, 2, 2)
	tp := autograd.NewTape(1)
	v := tp.SoftmaxCrossEntropy(tp.Input(big), []int32{0, 0}, 0.1).Value.Data()[0]
	// Row 0: q = (0.95, 0.05), log p = (0, −2000) → 100. Row 1: log p0 = −999,
	// log p1 = 0 → 0.95·999 = 949.05. Mean 524.525.
	if math.Abs(float64(v)-524.525) > 1e-3 {
		t.Errorf("large-logit cross-entropy %v, want 524.525", v)
	}
}

func TestLossGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const k = 4
	z, wAnchor := detectionTargets(rng, k, 2, 3, 5)
	wElem := gradcheck.Rand(rng, 0, 1, 2, 3, 5, k)
	boxP, boxY := boxData(rng, 0.1, 2, 3, 5, 4)
	labels := []int32{2, 0, 4, 4, 1}
	dense := gradcheck.Rand(rng, 0, 1, 5, 5) // soft targets, rows not normalised
	// The losses sum many elements into one float32 value, so a larger
	// finite-difference step keeps rounding noise below the tolerance; the
	// focal loss is smooth and the Huber data stay 0.01 clear of the kink.
	cases := []struct {
		name   string
		f      gradcheck.Func
		inputs []*tensor.Tensor
	}{
		{"FocalAnchorWeights", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.SigmoidFocalLoss(v[0], z, wAnchor, 0.25, 1.5, 0.7)
		}, []*tensor.Tensor{gradcheck.Rand(rng, -4, 4, 2, 3, 5, k)}},
		{"FocalElementWeightsGamma2", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.SigmoidFocalLoss(v[0], z, wElem, 0.25, 2, 0.5)
		}, []*tensor.Tensor{gradcheck.Rand(rng, -4, 4, 2, 3, 5, k)}},
		{"FocalGamma0NoWeights", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.SigmoidFocalLoss(v[0], z, nil, 0.4, 0, 3)
		}, []*tensor.Tensor{gradcheck.Rand(rng, -4, 4, 2, 3, 5, k)}},
		{"FocalThroughSwish", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.SigmoidFocalLoss(tp.Swish(v[0]), z, wAnchor, 0.25, 1.5, 1)
		}, []*tensor.Tensor{gradcheck.Rand(rng, -3, 3, 2, 3, 5, k)}},
		{"HuberAnchorWeights", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.HuberLoss(v[0], boxY, wAnchor, 0.1, 0.3)
		}, []*tensor.Tensor{boxP}},
		{"HuberNoWeightsScaled", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Scale(tp.HuberLoss(v[0], boxY, nil, 0.1, 0.5), 50)
		}, []*tensor.Tensor{boxP}},
		{"SoftmaxCE", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.SoftmaxCrossEntropy(v[0], labels, 0)
		}, []*tensor.Tensor{gradcheck.Rand(rng, -3, 3, 5, 5)}},
		{"SoftmaxCESmoothed", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.SoftmaxCrossEntropy(tp.Dense(v[0], v[1], nil), labels, 0.1)
		}, []*tensor.Tensor{gradcheck.Rand(rng, -1, 1, 5, 3), gradcheck.Rand(rng, -1, 1, 3, 5)}},
		{"SoftmaxCEDenseSoft", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.SoftmaxCrossEntropyDense(v[0], dense, 0.2)
		}, []*tensor.Tensor{gradcheck.Rand(rng, -3, 3, 5, 5)}},
		{"SumOfLosses", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			cls := tp.SigmoidFocalLoss(v[0], z, wAnchor, 0.25, 1.5, 2)
			box := tp.HuberLoss(v[1], boxY, wAnchor, 0.1, 8)
			return tp.Add(cls, tp.Scale(box, 50))
		}, []*tensor.Tensor{gradcheck.Rand(rng, -4, 4, 2, 3, 5, k), boxP}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gradcheck.Check(t, c.f, c.inputs, gradcheck.Options{Eps: 5e-3})
		})
	}
}

func TestTopKAccuracy(t *testing.T) {
	logits, _ := tensor.FromSlice([]float32{
		0.1, 0.5, 0.2, 0.9, // label 3: top-1
		0.8, 0.5, 0.2, 0.1, // label 1: top-2
		0.1, 0.2, 0.3, 0.4, // label 0: top-4 only
		0.5, 0.5, 0.1, 0.1, // label 1: tie with the max counts as top-1
	}, 4, 4)
	labels := []int32{3, 1, 0, 1}
	for k, want := range map[int]float64{1: 0.5, 2: 0.75, 3: 0.75, 4: 1, 10: 1} {
		if got := autograd.TopKAccuracy(logits, labels, k); got != want {
			t.Errorf("top-%d accuracy %v, want %v", k, got, want)
		}
	}
}

// lossStep is one training step through BatchNorm, shape ops, stochastic
// depth and every loss, as the zero-allocation test and benchmark run it.
type lossStep struct {
	tp                  *autograd.Tape
	x, boxY, z, w, feat *tensor.Tensor
	gamma, beta, dense  *autograd.Var
	stats               *autograd.BatchNormStats
	labels              []int32
}

func newLossStep() *lossStep {
	rng := rand.New(rand.NewPCG(23, 24))
	const c = 16
	s := &lossStep{
		tp:     autograd.NewTape(1),
		x:      gradcheck.Rand(rng, -2, 2, 2, 9, 9, c),
		gamma:  autograd.NewParam("bn/gamma", gradcheck.Rand(rng, 0.5, 1.5, c)),
		beta:   autograd.NewParam("bn/beta", gradcheck.Rand(rng, -0.5, 0.5, c)),
		dense:  autograd.NewParam("dense/kernel", gradcheck.Rand(rng, -0.1, 0.1, 4, 5)),
		stats:  autograd.NewBatchNormStats(c),
		labels: []int32{1, 4},
		feat:   gradcheck.Rand(rng, -1, 1, 2, 4),
	}
	s.z, s.w = detectionTargets(rng, 12, 2, 9, 9)
	_, s.boxY = boxData(rng, 0.1, 2, 9, 9, 4)
	return s
}

func (s *lossStep) run() {
	tp := s.tp
	x := tp.Input(s.x)
	y := tp.ReLU(tp.BatchNorm(x, s.gamma, s.beta, s.stats))
	y = tp.Add(x, tp.StochasticDepth(y, 0.2))
	cls := tp.Reshape(tp.SliceChannels(y, 0, 12), 2, 9, 9, 12)
	box := tp.SliceChannels(tp.Concat(-1, y, x), 12, 16)
	loss := tp.Add(tp.SigmoidFocalLoss(cls, s.z, s.w, 0.25, 1.5, 10), tp.Scale(tp.HuberLoss(box, s.boxY, s.w, 0.1, 40), 50))
	logits := tp.Dense(tp.Dropout(tp.Constant(s.feat), 0.1), s.dense, nil)
	loss = tp.Add(loss, tp.SoftmaxCrossEntropy(logits, s.labels, 0.1))
	if err := tp.Backward(loss); err != nil {
		panic(err)
	}
	tp.Reset()
	s.gamma.ZeroGrad()
	s.beta.ZeroGrad()
	s.dense.ZeroGrad()
}

// raceBuild reports whether the test binary was built with -race, whose
// instrumentation changes escape analysis and so allocation counts.
func raceBuild() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return true
			}
		}
	}
	return false
}

func TestLossStepAllocatesNothing(t *testing.T) {
	if raceBuild() {
		t.Skip("allocation counts differ under the race detector")
	}
	s := newLossStep()
	for range 3 {
		s.run() // warm up the pool and the node slices
	}
	if a := testing.AllocsPerRun(20, s.run); a != 0 {
		t.Fatalf("steady-state step allocates %v times", a)
	}
}

func BenchmarkBatchNormLossStep(b *testing.B) {
	s := newLossStep()
	for range 3 {
		s.run()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.run()
	}
}
