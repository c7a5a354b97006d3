package autograd_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/internal/gradcheck"
	"github.com/spinenet-go/spinenet/tensor"
)

// randStats returns moving statistics for c channels with non-trivial values.
func randStats(rng *rand.Rand, c int) *autograd.BatchNormStats {
	s := autograd.NewBatchNormStats(c)
	for i := range c {
		s.Mean.Data()[i] = float32(rng.Float64()*2 - 1)
		s.Var.Data()[i] = float32(0.3 + rng.Float64())
	}
	return s
}

func TestBatchNormGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := func(shape ...int) *tensor.Tensor { return gradcheck.Rand(rng, -2, 2, shape...) }
	// Offset and scaled inputs so the batch statistics are far from 0/1.
	shifted := func(shape ...int) *tensor.Tensor {
		x := r(shape...)
		for i, v := range x.Data() {
			x.Data()[i] = 3*v + 1.5
		}
		return x
	}
	bn := func(s *autograd.BatchNormStats) gradcheck.Func {
		return func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.BatchNorm(v[0], v[1], v[2], s) }
	}
	cases := []struct {
		name      string
		f         gradcheck.Func
		inputs    []*tensor.Tensor
		inference bool
	}{
		{"TrainNHWC", bn(randStats(rng, 3)), []*tensor.Tensor{shifted(2, 5, 3, 3), r(3), r(3)}, false},
		{"TrainOddBatch", bn(randStats(rng, 4)), []*tensor.Tensor{shifted(3, 3, 5, 4), r(4), r(4)}, false},
		{"Train2D", bn(randStats(rng, 5)), []*tensor.Tensor{shifted(7, 5), r(5), r(5)}, false},
		{"InferNHWC", bn(randStats(rng, 3)), []*tensor.Tensor{shifted(2, 5, 3, 3), r(3), r(3)}, true},
		{"Infer2D", bn(randStats(rng, 5)), []*tensor.Tensor{r(7, 5), r(5), r(5)}, true},
		{"TrainNoAffine", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.BatchNorm(v[0], nil, nil, autograd.NewBatchNormStats(3))
		}, []*tensor.Tensor{shifted(2, 3, 3, 3)}, false},
		// BN followed by a nonlinearity, so the projected loss is not
		// orthogonal to the directions BN's gradient removes.
		{"TrainThenSwish", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Swish(tp.BatchNorm(v[0], v[1], v[2], autograd.NewBatchNormStats(2)))
		}, []*tensor.Tensor{shifted(2, 3, 5, 2), r(2), r(2)}, false},
		{"TrainInputUsedTwice", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Mul(tp.BatchNorm(v[0], v[1], nil, autograd.NewBatchNormStats(3)), v[0])
		}, []*tensor.Tensor{shifted(3, 1, 3, 3), r(3)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gradcheck.Check(t, c.f, c.inputs, gradcheck.Options{Inference: c.inference})
		})
	}
}

// bnReference computes batch normalization of x [M, C] in float64 with the
// given statistics.
func bnReference(x []float32, c int, mean, variance []float64, eps float64, gamma, beta []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		j := i % c
		y[i] = (float64(v)-mean[j])/math.Sqrt(variance[j]+eps)*float64(gamma[j]) + float64(beta[j])
	}
	return y
}

func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestBatchNormInferenceFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const c = 3
	s := randStats(rng, c)
	gamma, beta := gradcheck.Rand(rng, 0.5, 2, c), gradcheck.Rand(rng, -1, 1, c)
	x := gradcheck.Rand(rng, -3, 3, 2, 3, 5, c)
	mean0, var0 := s.Mean.Clone(), s.Var.Clone()
	for _, tp := range []*autograd.Tape{autograd.NewInferenceTape(), func() *autograd.Tape {
		tp := autograd.NewTape(1)
		tp.Training = false
		return tp
	}()} {
		y := tp.BatchNorm(tp.Constant(x), autograd.NewParam("g", gamma), autograd.NewParam("b", beta), s)
		mu, vr := make([]float64, c), make([]float64, c)
		for j := range c {
			mu[j], vr[j] = float64(s.Mean.Data()[j]), float64(s.Var.Data()[j])
		}
		closeTo(t, "inference BN", y.Value.Data(), bnReference(x.Data(), c, mu, vr, 1e-3, gamma.Data(), beta.Data()), 1e-5)
	}
	for i := range c {
		if s.Mean.Data()[i] != mean0.Data()[i] || s.Var.Data()[i] != var0.Data()[i] {
			t.Fatal("inference BatchNorm changed the moving statistics")
		}
	}
}

func TestBatchNormTrainingValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const c = 4
	x := gradcheck.Rand(rng, -3, 5, 3, 5, 3, c)
	gamma, beta := gradcheck.Rand(rng, 0.5, 2, c), gradcheck.Rand(rng, -1, 1, c)
	m := x.Len() / c
	mu, vr := make([]float64, c), make([]float64, c)
	for i, v := range x.Data() {
		mu[i%c] += float64(v) / float64(m)
	}
	for i, v := range x.Data() {
		d := float64(v) - mu[i%c]
		vr[i%c] += d * d / float64(m)
	}
	tp := autograd.NewTape(1)
	y := tp.BatchNorm(tp.Constant(x), autograd.NewParam("g", gamma), autograd.NewParam("b", beta), autograd.NewBatchNormStats(c))
	closeTo(t, "training BN", y.Value.Data(), bnReference(x.Data(), c, mu, vr, 1e-3, gamma.Data(), beta.Data()), 1e-5)
}

// Moving statistics follow moving = m·moving + (1−m)·batch with the biased
// (Keras) or, optionally, unbiased (PyTorch) batch variance.
func TestBatchNormMovingStatistics(t *testing.T) {
	// x [2,1,2,2]: channel 0 holds 1,2,3,4 (mean 2.5, biased var 1.25,
	// unbiased 5/3); channel 1 holds 0,0,2,2 (mean 1, biased var 1,
	// unbiased 4/3).
	x, _ := tensor.FromSlice([]float32{1, 0, 2, 0, 3, 2, 4, 2}, 2, 1, 2, 2)
	cases := []struct {
		name     string
		unbiased bool
		mean     [2][2]float64 // after one and two updates, per channel
		variance [2][2]float64
	}{
		// momentum 0.9 from mean 0, var 1:
		// mean: 0.25, 0.475 and 0.1, 0.19
		// var: 0.9 + 0.125 = 1.025, 0.9225 + 0.125 = 1.0475; 1, 1
		{"biased", false, [2][2]float64{{0.25, 0.1}, {0.475, 0.19}}, [2][2]float64{{1.025, 1}, {1.0475, 1}}},
		// var: 0.9 + 1/6, 0.96 + 1/6; 0.9 + 0.4/3, 0.93 + 0.4/3
		{"unbiased", true, [2][2]float64{{0.25, 0.1}, {0.475, 0.19}}, [2][2]float64{{0.9 + 1.0/6, 0.9 + 0.4/3}, {0.96 + 1.0/6, 0.93 + 0.4/3}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := autograd.NewBatchNormStats(2)
			if s.Momentum != 0.99 || s.Epsilon != 1e-3 || s.Var.Data()[0] != 1 || s.Mean.Data()[0] != 0 {
				t.Fatalf("defaults: %+v", s)
			}
			s.Momentum, s.UnbiasedVar = 0.9, c.unbiased
			tp := autograd.NewTape(1)
			for step := range 2 {
				tp.BatchNorm(tp.Constant(x), nil, nil, s)
				tp.Reset()
				closeTo(t, "moving mean", s.Mean.Data(), c.mean[step][:], 1e-6)
				closeTo(t, "moving var", s.Var.Data(), c.variance[step][:], 1e-6)
			}
			// Frozen statistics are used as constants and not updated.
			s.Frozen = true
			before := s.Var.Clone()
			y := tp.BatchNorm(tp.Constant(x), nil, nil, s)
			if s.Var.Data()[0] != before.Data()[0] {
				t.Fatal("frozen BatchNorm updated the moving variance")
			}
			want := (1 - c.mean[1][0]) / math.Sqrt(c.variance[1][0]+1e-3)
			if math.Abs(float64(y.Value.Data()[0])-want) > 1e-5 {
				t.Fatalf("frozen BN y[0] = %v, want %v", y.Value.Data()[0], want)
			}
		})
	}
}

// Wide channel counts exercise the channel-block loop (blocks of 256).
func TestBatchNormWideChannels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const c = 300
	x := gradcheck.Rand(rng, -1, 3, 2, 2, 1, c)
	gamma, beta := gradcheck.Rand(rng, 0.5, 2, c), gradcheck.Rand(rng, -1, 1, c)
	gradcheck.Check(t, func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
		return tp.BatchNorm(v[0], v[1], v[2], autograd.NewBatchNormStats(c))
	}, []*tensor.Tensor{x, gamma, beta}, gradcheck.Options{MaxElems: 120})
}
