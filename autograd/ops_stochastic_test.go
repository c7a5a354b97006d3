package autograd_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/internal/gradcheck"
	"github.com/spinenet-go/spinenet/tensor"
)

// The checker rebuilds its tapes with the same seed, so every evaluation
// draws the same masks.
func TestStochasticGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	r := func(shape ...int) *tensor.Tensor { return gradcheck.Rand(rng, -2, 2, shape...) }
	cases := []struct {
		name   string
		f      gradcheck.Func
		inputs []*tensor.Tensor
		seed   uint64
	}{
		{"StochasticDepth", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Add(v[1], tp.StochasticDepth(tp.Swish(v[0]), 0.4))
		}, []*tensor.Tensor{r(6, 3, 5, 2), r(6, 3, 5, 2)}, 3},
		{"StochasticDepthTwice", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.StochasticDepth(tp.StochasticDepth(v[0], 0.3), 0.5)
		}, []*tensor.Tensor{r(5, 3, 3, 1)}, 4},
		{"Dropout", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Dropout(tp.Mul(v[0], v[0]), 0.5)
		}, []*tensor.Tensor{r(4, 7)}, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gradcheck.Check(t, c.f, c.inputs, gradcheck.Options{Seed: c.seed})
		})
	}
}

// StochasticDepth drops whole examples with frequency rate and divides the
// kept ones by keep; Dropout does the same per element.
func TestStochasticDropFrequency(t *testing.T) {
	const n, rate = 20000, 0.3
	x := tensor.New(n, 1, 2, 2)
	for i := range x.Data() {
		x.Data()[i] = float32(i%7) + 1 // never zero
	}
	tp := autograd.NewTape(42)
	checkRate := func(what string, dropped, total int) {
		t.Helper()
		sd := math.Sqrt(float64(total) * rate * (1 - rate))
		if d := math.Abs(float64(dropped) - rate*float64(total)); d > 5*sd {
			t.Errorf("%s dropped %d of %d, want %.0f ± %.0f", what, dropped, total, rate*float64(total), 5*sd)
		}
	}

	y := tp.StochasticDepth(tp.Input(x), rate)
	per := x.Len() / n
	dropped := 0
	for e := range n {
		row, in := y.Value.Data()[e*per:(e+1)*per], x.Data()[e*per:(e+1)*per]
		zero := row[0] == 0
		if zero {
			dropped++
		}
		for i := range row {
			want := in[i] / float32(1-rate)
			if zero {
				want = 0
			}
			if math.Abs(float64(row[i]-want)) > 1e-6*float64(want) {
				t.Fatalf("example %d: %v, input %v (keep %v)", e, row, in, 1-rate)
			}
		}
	}
	checkRate("StochasticDepth", dropped, n)

	y = tp.Dropout(tp.Input(x), rate)
	dropped = 0
	for i, v := range y.Value.Data() {
		switch {
		case v == 0:
			dropped++
		case math.Abs(float64(v-x.Data()[i]/float32(1-rate))) > 1e-6*float64(v):
			t.Fatalf("Dropout kept %v as %v", x.Data()[i], v)
		}
	}
	checkRate("Dropout", dropped, x.Len())
}

// Identity on inference tapes and for rates outside (0, 1).
func TestStochasticIdentity(t *testing.T) {
	x := tensor.New(3, 2)
	x.Fill(2)
	inf := autograd.NewInferenceTape()
	v := inf.Constant(x)
	if inf.StochasticDepth(v, 0.5) != v || inf.Dropout(v, 0.5) != v {
		t.Fatal("inference tape applied a stochastic op")
	}
	tp := autograd.NewTape(1)
	w := tp.Input(x)
	for _, rate := range []float64{0, 1, -0.2, 1.5, math.NaN()} {
		if tp.StochasticDepth(w, rate) != w || tp.Dropout(w, rate) != w {
			t.Fatalf("rate %v was not the identity", rate)
		}
	}
}
