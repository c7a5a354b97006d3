package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randTensor(rng *rand.Rand, lo, hi float64, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.data {
		t.data[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return t
}

// Moments over several channel blocks, with a large common offset that a
// one-pass E[x²] − E[x]² formula would lose in float32.
func TestBatchMomentsWideAndOffset(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []int{1, 3, 256, 300, 513} {
		x := randTensor(rng, 1000, 1001, 3, 1, 7, c)
		mean, variance := New(c), New(c)
		BatchMoments(mean, variance, x)
		m := x.Len() / c
		for j := range c {
			var s, ss float64
			for i := j; i < x.Len(); i += c {
				s += float64(x.data[i])
			}
			mu := s / float64(m)
			for i := j; i < x.Len(); i += c {
				d := float64(x.data[i]) - mu
				ss += d * d
			}
			if math.Abs(float64(mean.data[j])-mu) > 1e-4 || math.Abs(float64(variance.data[j])-ss/float64(m)) > 1e-6 {
				t.Fatalf("C=%d channel %d: mean %v var %v, want %v %v", c, j, mean.data[j], variance.data[j], mu, ss/float64(m))
			}
		}
	}
}

// The input gradient accumulates onto existing contents, and its training
// form matches the three-term formula evaluated in float64.
func TestBatchNormInputGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const c = 270
	x, dy := randTensor(rng, -2, 3, 2, 3, c), randTensor(rng, -1, 1, 2, 3, c)
	gamma := randTensor(rng, 0.5, 2, c)
	mean, variance, invStd := New(c), New(c), New(c)
	BatchMoments(mean, variance, x)
	InvStd(invStd, variance, 1e-3)
	s1, s2 := New(c), New(c)
	BatchNormGradSums(s1, s2, x, dy, mean, invStd)
	for _, batch := range []bool{false, true} {
		dx := New(x.Shape()...)
		dx.Fill(0.5)
		BatchNormInputGrad(dx, x, dy, mean, invStd, gamma, s1, s2, batch, true)
		m := float64(x.Len() / c)
		for i, g := range dy.data {
			j := i % c
			is := float64(invStd.data[j])
			want := float64(g)
			if batch {
				xhat := (float64(x.data[i]) - float64(mean.data[j])) * is
				want -= float64(s1.data[j])/m + xhat*float64(s2.data[j])/m
			}
			want = 0.5 + float64(gamma.data[j])*is*want
			if math.Abs(float64(dx.data[i])-want) > 1e-5 {
				t.Fatalf("batch %v: dx[%d] = %v, want %v", batch, i, dx.data[i], want)
			}
		}
	}
}

func TestMovingAverage(t *testing.T) {
	avg, _ := FromSlice([]float32{0, 1}, 2)
	b, _ := FromSlice([]float32{2, 3}, 2)
	MovingAverage(avg, b, 0.9, 2)
	if math.Abs(float64(avg.data[0])-0.4) > 1e-7 || math.Abs(float64(avg.data[1])-1.5) > 1e-7 {
		t.Fatalf("MovingAverage = %v, want [0.4 1.5]", avg)
	}
}

func TestBatchNormShapeChecks(t *testing.T) {
	x := New(2, 3, 4)
	for name, f := range map[string]func(){
		"moments":   func() { BatchMoments(New(3), New(4), x) },
		"empty":     func() { BatchMoments(New(0), New(0), New(2, 0)) },
		"forward":   func() { BatchNormForward(New(2, 3, 4), x, New(4), New(4), New(5), nil) },
		"inputGrad": func() { BatchNormInputGrad(New(2, 3, 4), x, New(2, 3, 4), New(4), New(4), nil, nil, nil, true, false) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
