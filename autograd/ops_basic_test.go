package autograd_test

import (
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/internal/gradcheck"
	"github.com/spinenet-go/spinenet/tensor"
)

func TestBasicOpGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := func(shape ...int) *tensor.Tensor { return gradcheck.Rand(rng, -2, 2, shape...) }
	cases := []struct {
		name   string
		f      gradcheck.Func
		inputs []*tensor.Tensor
	}{
		{"Add", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Add(v[0], v[1]) }, []*tensor.Tensor{r(2, 3, 5), r(2, 3, 5)}},
		{"AddSelf", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Add(v[0], v[0]) }, []*tensor.Tensor{r(7)}},
		{"AddN", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.AddN(v[0], v[1], v[2]) }, []*tensor.Tensor{r(3, 4), r(3, 4), r(3, 4)}},
		{"Mul", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Mul(v[0], v[1]) }, []*tensor.Tensor{r(4, 5), r(4, 5)}},
		{"MulSelf", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Mul(v[0], v[0]) }, []*tensor.Tensor{r(9)}},
		{"Scale", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Scale(v[0], -1.5) }, []*tensor.Tensor{r(3, 3)}},
		{"ReLU", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.ReLU(v[0]) }, []*tensor.Tensor{r(2, 5, 5, 3)}},
		{"Swish", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Swish(v[0]) }, []*tensor.Tensor{r(2, 5, 5, 3)}},
		{"HardSwish", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.HardSwish(tp.Scale(v[0], 3)) }, []*tensor.Tensor{r(2, 5, 5, 3)}},
		{"Sigmoid", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Sigmoid(v[0]) }, []*tensor.Tensor{r(30)}},
		{"Sum", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Sum(tp.Mul(v[0], v[0])) }, []*tensor.Tensor{r(3, 7)}},
		{"Mean", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Mean(tp.Swish(v[0])) }, []*tensor.Tensor{r(3, 7)}},
		{"Dense", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Dense(v[0], v[1], v[2]) }, []*tensor.Tensor{r(5, 7), r(7, 3), r(3)}},
		{"DenseNoBias4D", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Dense(v[0], v[1], nil) }, []*tensor.Tensor{r(2, 3, 3, 4), r(4, 5)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gradcheck.Check(t, c.f, c.inputs, gradcheck.Options{})
		})
	}
}

// A gradient that reaches a Param through two backward passes accumulates
// until ZeroGrad.
func TestParamGradientAccumulates(t *testing.T) {
	w := autograd.NewParam("w", tensor.New(3))
	w.Value.Fill(2)
	tp := autograd.NewTape(1)
	for range 2 {
		x := tp.Constant(tensor.New(3))
		x.Value.Fill(1.5)
		if err := tp.Backward(tp.Sum(tp.Mul(w, x))); err != nil {
			t.Fatal(err)
		}
		tp.Reset()
	}
	for _, g := range w.Grad.Data() {
		if g != 3 {
			t.Fatalf("accumulated grad %v, want 3", w.Grad)
		}
	}
	w.ZeroGrad()
	if w.HasGrad() {
		t.Fatal("HasGrad after ZeroGrad")
	}
	x := tp.Constant(tensor.New(3))
	x.Value.Fill(1)
	if err := tp.Backward(tp.Sum(tp.Mul(w, x))); err != nil {
		t.Fatal(err)
	}
	if w.Grad.Data()[0] != 1 {
		t.Fatalf("grad after ZeroGrad %v, want 1", w.Grad)
	}
}

func TestBackwardNeedsScalar(t *testing.T) {
	tp := autograd.NewTape(1)
	x := tp.Input(tensor.New(2))
	if err := tp.Backward(tp.ReLU(x)); err == nil {
		t.Fatal("Backward of a 2-element loss succeeded")
	}
}

func TestInferenceTapeRecordsNothing(t *testing.T) {
	tp := autograd.NewInferenceTape()
	w := autograd.NewParam("w", tensor.New(2))
	y := tp.Sum(tp.Mul(w, tp.Constant(tensor.New(2))))
	if y.RequiresGrad() {
		t.Fatal("inference tape produced a Var that requires a gradient")
	}
}
