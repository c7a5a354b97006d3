package optim_test

import (
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/tensor"
)

// End to end: least-squares linear regression y = x·w + b trained with a
// Tape, the default SGD (momentum 0.9, decay 4e-5 on the kernel, clipping at
// 10) and a warm-up + cosine schedule from a config. The mean squared error
// must fall by at least 1000× in 150 steps.
func TestTrainLinearRegression(t *testing.T) {
	const n, in, out, steps = 64, 4, 2, 150
	rng := rand.New(rand.NewPCG(3, 4))
	uniform := func(shape ...int) *tensor.Tensor {
		x := tensor.New(shape...)
		for i := range x.Data() {
			x.Data()[i] = rng.Float32()*2 - 1
		}
		return x
	}
	x := uniform(n, in)                            // [N, in]
	wTrue, bTrue := uniform(in, out), uniform(out) // [in, out], [out]
	negY := tensor.New(n, out)                     // −(x·wTrue + bTrue), [N, out]
	tensor.MatMul(negY, x, wTrue, false, false, false)
	tensor.AddRowVector(negY, bTrue)
	tensor.Scale(negY, -1, negY)

	w := autograd.NewParam("linear/kernel", tensor.New(in, out))
	b := autograd.NewParam("linear/bias", tensor.New(out))
	opt, err := optim.NewSGD([]*autograd.Var{w, b}, optim.DefaultSGDConfig())
	if err != nil {
		t.Fatal(err)
	}
	sched, err := optim.NewSchedule(optim.ScheduleConfig{Type: "cosine", BaseLR: 0.2, WarmupSteps: 10, WarmupInitLR: 0.02, TotalSteps: steps})
	if err != nil {
		t.Fatal(err)
	}

	tp := autograd.NewTape(1)
	loss := func() float64 {
		d := tp.Add(tp.Dense(tp.Constant(x), w, b), tp.Constant(negY))
		l := tp.Mean(tp.Mul(d, d))
		if err := tp.Backward(l); err != nil {
			t.Fatal(err)
		}
		return float64(l.Value.Data()[0])
	}
	var first float64
	for step := range steps {
		if l := loss(); step == 0 {
			first = l
		}
		if _, err := opt.Step(sched.LR(step)); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		tp.Reset()
	}
	last := loss()
	tp.Reset()
	t.Logf("MSE %.4g -> %.4g after %d steps (×%.3g)", first, last, steps, first/last)
	if !(last < first/1000) {
		t.Errorf("MSE fell from %.4g to %.4g, want below %.4g", first, last, first/1000)
	}
}
