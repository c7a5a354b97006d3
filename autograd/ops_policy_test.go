package autograd_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/internal/gradcheck"
	"github.com/spinenet-go/spinenet/tensor"
)

// maskBias is 0 on allowed choices and −1e9 on masked ones.
func maskBias(rows, k int, allowed func(r, j int) bool) *tensor.Tensor {
	m := tensor.New(rows, k)
	for r := range rows {
		for j := range k {
			if !allowed(r, j) {
				m.Set(-1e9, r, j)
			}
		}
	}
	return m
}

func TestPolicyOpGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := func(shape ...int) *tensor.Tensor { return gradcheck.Rand(rng, -2, 2, shape...) }
	idx := []int32{4, 0, 2, 1}
	mask := maskBias(4, 5, func(r, j int) bool { return j >= r/2 || j == int(idx[r]) })
	cases := []struct {
		name   string
		f      gradcheck.Func
		inputs []*tensor.Tensor
	}{
		{"Tanh", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Tanh(v[0]) }, []*tensor.Tensor{r(3, 7)}},
		{"Exp", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Exp(v[0]) }, []*tensor.Tensor{r(2, 9)}},
		{"LogSoftmax", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.LogSoftmax(v[0]) }, []*tensor.Tensor{r(2, 3, 5)}},
		{"Pick", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Pick(v[0], idx) }, []*tensor.Tensor{r(4, 5)}},
		{"PickTwice", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Add(tp.Pick(v[0], idx), tp.Pick(v[0], []int32{4, 4, 4, 4}))
		}, []*tensor.Tensor{r(4, 5)}},
		{"SumLast", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.SumLast(tp.Mul(v[0], v[0])) }, []*tensor.Tensor{r(2, 2, 6)}},
		// A masked softmax head: the chosen action's log-probability and
		// the entropy, as the search controller computes them.
		{"MaskedLogProbAndEntropy", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			ls := tp.LogSoftmax(tp.Add(v[0], tp.Constant(mask)))
			negEnt := tp.SumLast(tp.Mul(tp.Exp(ls), ls))
			return tp.Concat(0, tp.Pick(ls, idx), negEnt)
		}, []*tensor.Tensor{r(4, 5)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gradcheck.Check(t, c.f, c.inputs, gradcheck.Options{})
		})
	}
}

// Masked choices get probability exactly 0 and no gradient, and the
// entropy of a masked head is that of the allowed choices alone.
func TestMaskedSoftmaxIgnoresMasked(t *testing.T) {
	tp := autograd.NewTape(1)
	logits := tp.Input(tensor.New(1, 4))
	copy(logits.Value.Data(), []float32{0.3, 5, -0.2, 0.1})
	mask := maskBias(1, 4, func(_, j int) bool { return j != 1 })
	ls := tp.LogSoftmax(tp.Add(logits, tp.Constant(mask)))
	ent := tp.Scale(tp.SumLast(tp.Mul(tp.Exp(ls), ls)), -1)
	var want float64
	var z float64
	for _, j := range []int{0, 2, 3} {
		z += math.Exp(float64(logits.Value.Data()[j]))
	}
	for _, j := range []int{0, 2, 3} {
		p := math.Exp(float64(logits.Value.Data()[j])) / z
		want -= p * math.Log(p)
	}
	if got := float64(ent.Value.Data()[0]); math.Abs(got-want) > 1e-6 {
		t.Errorf("entropy %v, want %v (the three allowed choices)", got, want)
	}
	if p := math.Exp(float64(ls.Value.Data()[1])); p != 0 {
		t.Errorf("masked probability %v, want 0", p)
	}
	if err := tp.Backward(tp.Sum(ent)); err != nil {
		t.Fatal(err)
	}
	for j, g := range logits.Grad.Data() {
		if math.IsNaN(float64(g)) || (j == 1 && g != 0) {
			t.Errorf("gradient %v at %d (masked: 1)", g, j)
		}
	}
}
