package autograd_test

import (
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/internal/gradcheck"
	"github.com/spinenet-go/spinenet/tensor"
)

func TestShapeOpGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	r := func(shape ...int) *tensor.Tensor { return gradcheck.Rand(rng, -2, 2, shape...) }
	type fn = gradcheck.Func
	cases := []struct {
		name   string
		f      fn
		inputs []*tensor.Tensor
	}{
		{"ConcatChannels", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.ConcatChannels(v[0], v[1], v[2]) },
			[]*tensor.Tensor{r(2, 3, 5, 2), r(2, 3, 5, 3), r(2, 3, 5, 1)}},
		{"ConcatAxis1", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Concat(1, v[0], v[1]) },
			[]*tensor.Tensor{r(3, 2, 5, 2), r(3, 5, 5, 2)}},
		{"ConcatAxis0", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Concat(0, v[0], v[1]) },
			[]*tensor.Tensor{r(1, 3, 3), r(2, 3, 3)}},
		{"ConcatSame", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Concat(-1, v[0], v[0]) },
			[]*tensor.Tensor{r(2, 3, 3, 2)}},
		{"ConcatOne", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Concat(-1, v[0]) },
			[]*tensor.Tensor{r(2, 3)}},
		{"SliceChannels", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.SliceChannels(v[0], 1, 4) },
			[]*tensor.Tensor{r(2, 3, 5, 5)}},
		{"SliceAxis2", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Slice(v[0], 2, 2, 5) },
			[]*tensor.Tensor{r(2, 3, 5, 3)}},
		{"SliceTwice", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Add(tp.SliceChannels(v[0], 0, 2), tp.SliceChannels(v[0], 3, 5))
		}, []*tensor.Tensor{r(3, 3, 1, 5)}},
		{"ConcatOfSlices", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.ConcatChannels(tp.SliceChannels(v[0], 2, 3), tp.Swish(v[1]), tp.SliceChannels(v[0], 0, 2))
		}, []*tensor.Tensor{r(2, 3, 3, 3), r(2, 3, 3, 4)}},
		{"Reshape", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Mul(tp.Reshape(v[0], 2, -1), v[1])
		}, []*tensor.Tensor{r(2, 3, 5, 1), r(2, 15)}},
		{"ReshapeThenSwish", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Add(tp.Swish(tp.Reshape(v[0], 5, 3, 2)), tp.Reshape(v[0], -1, 3, 2))
		}, []*tensor.Tensor{r(3, 10)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gradcheck.Check(t, c.f, c.inputs, gradcheck.Options{})
		})
	}
}

func TestConcatSliceValues(t *testing.T) {
	tp := autograd.NewTape(1)
	a, _ := tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 1, 1, 2) // [N=2, C=2]
	b, _ := tensor.FromSlice([]float32{5, 6}, 2, 1, 1, 1)
	y := tp.ConcatChannels(tp.Constant(a), tp.Constant(b))
	if want := []int{2, 1, 1, 3}; !tensor.EqualShapes(y.Shape(), want) {
		t.Fatalf("shape %v, want %v", y.Shape(), want)
	}
	want := []float32{1, 2, 5, 3, 4, 6}
	for i, v := range y.Value.Data() {
		if v != want[i] {
			t.Fatalf("Concat = %v, want %v", y.Value.Data(), want)
		}
	}
	s := tp.SliceChannels(y, 1, 3)
	want = []float32{2, 5, 4, 6}
	for i, v := range s.Value.Data() {
		if v != want[i] {
			t.Fatalf("Slice = %v, want %v", s.Value.Data(), want)
		}
	}
	z := tp.Reshape(s, -1)
	if z.Value.Len() != 4 || z.Value.Rank() != 1 || &z.Value.Data()[0] != &s.Value.Data()[0] {
		t.Fatalf("Reshape %v is not a view of %v", z.Shape(), s.Shape())
	}
}

func TestShapeOpsPanicOnBadShapes(t *testing.T) {
	tp := autograd.NewTape(1)
	x := tp.Constant(tensor.New(2, 3, 3, 4))
	for name, f := range map[string]func(){
		"ConcatMismatch": func() { tp.ConcatChannels(x, tp.Constant(tensor.New(2, 3, 2, 4))) },
		"ConcatRank":     func() { tp.ConcatChannels(x, tp.Constant(tensor.New(2, 4))) },
		"SliceRange":     func() { tp.SliceChannels(x, 2, 5) },
		"SliceAxis":      func() { tp.Slice(x, 4, 0, 1) },
		"Reshape":        func() { tp.Reshape(x, 5, -1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}
