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

// Every batch-norm pass over many row blocks matches a serial float64
// reference and gives bit-identical results on one and on two threads.
func TestBatchNormParallelBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, c := range []int{5, 64, 300} {
		m := 3*bnBlockElems/c + 17 // several blocks and a ragged last one
		x := randTensor(rng, -2, 3, m, c)
		dy := randTensor(rng, -1, 1, m, c)
		gamma, beta := randTensor(rng, 0.5, 1.5, c), randTensor(rng, -1, 1, c)
		type result struct{ mean, vari, invStd, y, s1, s2, dx []float32 }
		run := func(threads int) result {
			d := NewCPU(threads)
			defer d.Close()
			mean, vari, invStd := New(c), New(c), New(c)
			d.BatchMoments(mean, vari, x)
			InvStd(invStd, vari, 1e-3)
			y := New(m, c)
			d.BatchNormForward(y, x, mean, invStd, gamma, beta)
			s1, s2 := New(c), New(c)
			d.BatchNormGradSums(s1, s2, x, dy, mean, invStd)
			dx := New(m, c)
			d.BatchNormInputGrad(dx, x, dy, mean, invStd, gamma, s1, s2, true, false)
			return result{mean.data, vari.data, invStd.data, y.data, s1.data, s2.data, dx.data}
		}
		one, two := run(1), run(2)
		for name, pair := range map[string][2][]float32{
			"mean": {one.mean, two.mean}, "variance": {one.vari, two.vari}, "y": {one.y, two.y},
			"sumDy": {one.s1, two.s1}, "sumDyXhat": {one.s2, two.s2}, "dx": {one.dx, two.dx},
		} {
			for i := range pair[0] {
				if pair[0][i] != pair[1][i] {
					t.Fatalf("c=%d %s[%d]: %v on one thread, %v on two", c, name, i, pair[0][i], pair[1][i])
				}
			}
		}
		// Serial float64 reference.
		for j := range c {
			var s, s1, s2 float64
			for i := j; i < m*c; i += c {
				s += float64(x.data[i])
				s1 += float64(dy.data[i])
			}
			mu := s / float64(m)
			var ss float64
			for i := j; i < m*c; i += c {
				d := float64(x.data[i]) - mu
				ss += d * d
				s2 += float64(dy.data[i]) * d
			}
			is := 1 / math.Sqrt(ss/float64(m)+1e-3)
			if math.Abs(float64(one.mean[j])-mu) > 1e-6 || math.Abs(float64(one.vari[j])-ss/float64(m)) > 1e-5 {
				t.Fatalf("c=%d channel %d: moments %v %v, want %v %v", c, j, one.mean[j], one.vari[j], mu, ss/float64(m))
			}
			if math.Abs(float64(one.s1[j])-s1) > 1e-3 || math.Abs(float64(one.s2[j])-s2*is) > 1e-3 {
				t.Fatalf("c=%d channel %d: grad sums %v %v, want %v %v", c, j, one.s1[j], one.s2[j], s1, s2*is)
			}
			for _, i := range []int{j, (m-1)*c + j} {
				xh := (float64(x.data[i]) - mu) * is
				wantY := xh*float64(gamma.data[j]) + float64(beta.data[j])
				wantDx := float64(gamma.data[j]) * is * (float64(dy.data[i]) - s1/float64(m) - xh*s2*is/float64(m))
				if math.Abs(float64(one.y[i])-wantY) > 1e-4 || math.Abs(float64(one.dx[i])-wantDx) > 1e-4 {
					t.Fatalf("c=%d element %d: y %v dx %v, want %v %v", c, i, one.y[i], one.dx[i], wantY, wantDx)
				}
			}
		}
	}
}
