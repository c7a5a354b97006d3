// Package gradcheck compares the gradients an autograd Tape computes with
// central finite differences, for the tests of every differentiable op.
//
// The function under test is reduced to a scalar with a fixed random
// projection, L = Σ r·f(x), accumulated in float64, so every output element
// is checked at once and one evaluation per perturbed input element suffices.
package gradcheck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/tensor"
)

// Options tune a check. Zero fields take the defaults in parentheses.
type Options struct {
	Eps       float64 // finite-difference step (1e-3)
	RelTol    float64 // relative tolerance (2e-2)
	AbsTol    float64 // absolute tolerance, scaled by the largest gradient magnitude (2e-3)
	MaxElems  int     // elements checked per input; a random subset beyond (all up to 400)
	Seed      uint64  // seed for the projection, subset and tape (1)
	Inference bool    // run the tape in inference mode (Training = false), still recording
}

func (o *Options) defaults() {
	if o.Eps == 0 {
		o.Eps = 1e-3
	}
	if o.RelTol == 0 {
		o.RelTol = 2e-2
	}
	if o.AbsTol == 0 {
		o.AbsTol = 2e-3
	}
	if o.MaxElems == 0 {
		o.MaxElems = 400
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// Func builds the function under test on a fresh tape from input Vars (one
// per tensor given to Check, in order). It is called many times and must be
// deterministic given the tape's seed.
type Func func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var

// Check fails t if the analytic gradient of f with respect to any of inputs
// differs from the finite-difference estimate. Inputs are perturbed in place
// and restored.
func Check(t testing.TB, f Func, inputs []*tensor.Tensor, opt Options) {
	t.Helper()
	if err := check(f, inputs, opt); err != nil {
		t.Fatal(err)
	}
}

func check(f Func, inputs []*tensor.Tensor, opt Options) error {
	opt.defaults()
	rng := rand.New(rand.NewPCG(opt.Seed, 99))

	// Analytic gradients.
	tp := newTape(opt)
	vars := make([]*autograd.Var, len(inputs))
	for i, x := range inputs {
		vars[i] = tp.Input(x)
	}
	y := f(tp, vars)
	proj := tensor.New(y.Shape()...)
	for i := range proj.Data() {
		proj.Data()[i] = float32(rng.NormFloat64())
	}
	if err := tp.BackwardWith(y, proj); err != nil {
		return err
	}
	analytic := make([]*tensor.Tensor, len(inputs))
	for i, v := range vars {
		if v.HasGrad() {
			analytic[i] = v.Grad.Clone()
		} else {
			analytic[i] = tensor.New(inputs[i].Shape()...) // no path: gradient is zero
		}
	}

	loss := func() float64 {
		tp := newTape(opt)
		in := make([]*autograd.Var, len(inputs))
		for i, x := range inputs {
			in[i] = tp.Constant(x)
		}
		return tensor.Dot(f(tp, in).Value, proj)
	}

	for i, x := range inputs {
		scale := 1.0
		for _, g := range analytic[i].Data() {
			scale = math.Max(scale, math.Abs(float64(g)))
		}
		idx := subset(rng, x.Len(), opt.MaxElems)
		for _, j := range idx {
			d := x.Data()
			orig := d[j]
			d[j] = orig + float32(opt.Eps)
			up := loss()
			d[j] = orig - float32(opt.Eps)
			down := loss()
			d[j] = orig
			// The step actually taken in float32 may differ from Eps.
			step := float64(orig+float32(opt.Eps)) - float64(orig-float32(opt.Eps))
			num := (up - down) / step
			an := float64(analytic[i].Data()[j])
			if math.Abs(an-num) > opt.AbsTol*scale+opt.RelTol*math.Max(math.Abs(an), math.Abs(num)) {
				return fmt.Errorf("gradcheck: input %d %v element %d: analytic %.6g, finite difference %.6g", i, x.Shape(), j, an, num)
			}
		}
	}
	return nil
}

func newTape(opt Options) *autograd.Tape {
	tp := autograd.NewTape(opt.Seed)
	tp.Training = !opt.Inference
	return tp
}

// subset returns all indices below n, or max of them chosen at random.
func subset(rng *rand.Rand, n, max int) []int {
	if n <= max {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	return rng.Perm(n)[:max]
}

// Rand returns a tensor of the given shape with values uniform in [lo, hi).
func Rand(rng *rand.Rand, lo, hi float64, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data() {
		t.Data()[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return t
}
