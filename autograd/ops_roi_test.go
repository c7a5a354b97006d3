package autograd_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/internal/gradcheck"
	"github.com/spinenet-go/spinenet/tensor"
)

// roiRegions are regions on two ragged levels (13×9 at stride 8, 7×5 at
// stride 16) of a batch of two: inside, partly outside on every side, tiny
// (under one level pixel) and degenerate.
var roiRegions = []tensor.RoI{
	{Batch: 0, Level: 0, Box: box.Box{X1: 3, Y1: 5, X2: 60, Y2: 90}},
	{Batch: 1, Level: 1, Box: box.Box{X1: -30, Y1: -20, X2: 50, Y2: 70}},
	{Batch: 1, Level: 0, Box: box.Box{X1: 40, Y1: 80, X2: 95, Y2: 130}},
	{Batch: 0, Level: 1, Box: box.Box{X1: 20, Y1: 30, X2: 23, Y2: 31.5}},
	{Batch: 1, Level: 0, Box: box.Box{X1: 10, Y1: 10, X2: 10.5, Y2: 10}},
	{Batch: 0, Level: 0, Box: box.Box{X1: 17, Y1: 33, X2: 52, Y2: 41}},
}

func TestRoIOpGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	r := func(shape ...int) *tensor.Tensor { return gradcheck.Rand(rng, -1, 1, shape...) }
	strides := []float64{8, 16}
	roi := func(size int, opt tensor.RoIAlignOptions) gradcheck.Func {
		return func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.RoIAlign(v, strides, roiRegions, size, opt)
		}
	}
	classes := []int32{3, 0, 1, 3, 2, 0}
	// RoIAlign and DepthToSpace are linear: a large step costs no accuracy
	// and keeps float32 rounding out of the difference quotient.
	cases := []struct {
		name   string
		f      gradcheck.Func
		inputs []*tensor.Tensor
		eps    float64
	}{
		{"RoIAlignTF7", roi(7, tensor.RoIAlignOptions{Mode: tensor.RoIAlignTF}), []*tensor.Tensor{r(2, 13, 9, 3), r(2, 7, 5, 3)}, 1e-2},
		{"RoIAlignTF14", roi(14, tensor.RoIAlignOptions{Mode: tensor.RoIAlignTF}), []*tensor.Tensor{r(2, 13, 9, 2), r(2, 7, 5, 2)}, 1e-2},
		{"RoIAlignTorchvision7", roi(7, tensor.RoIAlignOptions{Mode: tensor.RoIAlignTorchvision}), []*tensor.Tensor{r(2, 13, 9, 3), r(2, 7, 5, 3)}, 1e-2},
		{"RoIAlignTorchvision5Ratio3", roi(5, tensor.RoIAlignOptions{Mode: tensor.RoIAlignTorchvision, SamplingRatio: 3}), []*tensor.Tensor{r(2, 13, 9, 2), r(2, 7, 5, 2)}, 1e-2},
		{"RoIAlignThroughSwish", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Swish(tp.RoIAlign([]*autograd.Var{tp.Swish(v[0]), v[1]}, strides, roiRegions, 7, tensor.RoIAlignOptions{}))
		}, []*tensor.Tensor{r(2, 13, 9, 3), r(2, 7, 5, 3)}, 1e-3},
		{"DepthToSpace2", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.DepthToSpace(v[0], 2) }, []*tensor.Tensor{r(2, 3, 4, 12)}, 1e-2},
		{"DepthToSpace3AfterConv", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.DepthToSpace(tp.Conv2D(v[0], v[1], 1, tensor.PadSame), 3)
		}, []*tensor.Tensor{r(1, 3, 2, 4), r(1, 1, 4, 18)}, 1e-2},
		{"GatherClassBoxDeltas", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.GatherClass(tp.Reshape(v[0], 6, 4, 4), 1, classes) // [R, 4·K] → [R, K, 4] → [R, 4]
		}, []*tensor.Tensor{r(6, 16)}, 1e-2},
		{"GatherClassMaskLogits", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.GatherClass(v[0], -1, classes) // [R, 5, 5, K] → [R, 5, 5]
		}, []*tensor.Tensor{r(6, 5, 5, 4)}, 1e-2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gradcheck.Check(t, c.f, c.inputs, gradcheck.Options{Eps: c.eps})
		})
	}
}

// A level that needs no gradient gets none, and the other level still gets
// its share.
func TestRoIAlignConstantLevel(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	tp := autograd.NewTape(1)
	l0 := tp.Constant(gradcheck.Rand(rng, -1, 1, 2, 13, 9, 3))
	l1 := tp.Input(gradcheck.Rand(rng, -1, 1, 2, 7, 5, 3))
	y := tp.RoIAlign([]*autograd.Var{l0, l1}, []float64{8, 16}, roiRegions, 7, tensor.RoIAlignOptions{})
	if err := tp.Backward(tp.Sum(y)); err != nil {
		t.Fatal(err)
	}
	if l0.HasGrad() || !l1.HasGrad() {
		t.Fatalf("gradients: constant level %v, input level %v", l0.HasGrad(), l1.HasGrad())
	}
	// Σ over every output of a level-1 region's bins: each bin's weights
	// sum to one (TF clamps, never drops a sample), so the gradient sums
	// to the number of level-1 bins times the channels.
	var sum float64
	for _, g := range l1.Grad.Data() {
		sum += float64(g)
	}
	if want := 2.0 * 49 * 3; math.Abs(sum-want) > 1e-3 {
		t.Errorf("level-1 gradient sums to %v, want %v", sum, want)
	}
}

// sigmoidBCEReference is the loss in float64 from its definition.
func sigmoidBCEReference(x, z, w []float32, rowLen int, norm float64) float64 {
	var s float64
	for i, v := range x {
		xv, zv := float64(v), float64(z[i])
		wv := 1.0
		if w != nil {
			wv = float64(w[i/rowLen])
		}
		p := 1 / (1 + math.Exp(-xv))
		s += wv * -(zv*math.Log(p) + (1-zv)*math.Log(1-p))
	}
	return s / norm
}

func TestSigmoidBCE(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	x := gradcheck.Rand(rng, -6, 6, 4, 9)
	z := gradcheck.Rand(rng, 0, 1, 4, 9) // soft targets
	w, _ := tensor.FromSlice([]float32{1, 0, 0.5, 2}, 4)
	tp := autograd.NewInferenceTape()
	got := float64(tp.SigmoidBCE(tp.Constant(x), z, w, 7).Value.Data()[0])
	if want := sigmoidBCEReference(x.Data(), z.Data(), w.Data(), 9, 7); math.Abs(got-want) > 1e-6*want {
		t.Errorf("SigmoidBCE = %v, want %v", got, want)
	}

	// Gradients, alone and in the Mask R-CNN mask and box losses: the GT
	// class's 5×5 logits of every RoI against soft targets, fg RoIs only
	// (weight per RoI), normalised by #fg·25; the GT class's 4 deltas with
	// Huber δ = 1, normalised by 4·#fg.
	classes := []int32{2, 0, 1}
	fg, _ := tensor.FromSlice([]float32{1, 0, 1}, 3)
	maskT := gradcheck.Rand(rng, 0, 1, 3, 25)
	boxT := gradcheck.Rand(rng, -1, 1, 3, 4)
	cases := []struct {
		name   string
		f      gradcheck.Func
		inputs []*tensor.Tensor
	}{
		{"SigmoidBCERowWeights", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.SigmoidBCE(v[0], z, w, 3)
		}, []*tensor.Tensor{x}},
		{"SigmoidBCENoWeights", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.SigmoidBCE(v[0], z, nil, 36)
		}, []*tensor.Tensor{gradcheck.Rand(rng, -4, 4, 4, 9)}},
		{"MaskLoss", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			m := tp.Reshape(tp.GatherClass(v[0], 3, classes), 3, 25)
			return tp.SigmoidBCE(m, maskT, fg, 2*25)
		}, []*tensor.Tensor{gradcheck.Rand(rng, -3, 3, 3, 5, 5, 3)}},
		{"BoxLoss", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			d := tp.GatherClass(tp.Reshape(v[0], 3, 3, 4), 1, classes)
			return tp.HuberLoss(d, boxT, fg, 1, 4*2)
		}, []*tensor.Tensor{gradcheck.Rand(rng, -1.9, 1.9, 3, 12)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gradcheck.Check(t, c.f, c.inputs, gradcheck.Options{Eps: 5e-3})
		})
	}
}

// A Mask R-CNN head step — RoIAlign from two levels, a 1×1 convolution and
// DepthToSpace (the mask deconvolution), the GT class's logits and box
// deltas, the mask and box losses — allocates nothing in steady state.
func TestRoIStepAllocatesNothing(t *testing.T) {
	if raceBuild() {
		t.Skip("allocation counts differ under the race detector")
	}
	rng := rand.New(rand.NewPCG(37, 38))
	tp := autograd.NewTape(1)
	l0, l1 := gradcheck.Rand(rng, -1, 1, 2, 13, 9, 4), gradcheck.Rand(rng, -1, 1, 2, 7, 5, 4)
	w := autograd.NewParam("deconv/kernel", gradcheck.Rand(rng, -0.5, 0.5, 1, 1, 4, 4*3))
	fc := autograd.NewParam("fc/kernel", gradcheck.Rand(rng, -0.5, 0.5, 4, 3*4))
	classes := []int32{2, 0, 1, 2, 1, 0}
	maskT := gradcheck.Rand(rng, 0, 1, 6, 14*14)
	boxT := gradcheck.Rand(rng, -1, 1, 6, 4)
	fg := gradcheck.Rand(rng, 0, 1, 6)
	strides := []float64{8, 16}
	step := func() {
		levels := []*autograd.Var{tp.Input(l0), tp.Input(l1)}
		crops := tp.RoIAlign(levels, strides, roiRegions, 7, tensor.RoIAlignOptions{})
		logits := tp.DepthToSpace(tp.Conv2D(crops, w, 1, tensor.PadSame), 2) // [R, 14, 14, 3]
		m := tp.Reshape(tp.GatherClass(logits, 3, classes), 6, 14*14)
		box := tp.GatherClass(tp.Reshape(tp.Dense(tp.GlobalAvgPool(crops), fc, nil), 6, 3, 4), 1, classes)
		loss := tp.Add(tp.SigmoidBCE(m, maskT, fg, 6*196), tp.HuberLoss(box, boxT, fg, 1, 24))
		if err := tp.Backward(loss); err != nil {
			panic(err)
		}
		tp.Reset()
		w.ZeroGrad()
		fc.ZeroGrad()
	}
	for range 3 {
		step()
	}
	if a := testing.AllocsPerRun(20, step); a != 0 {
		t.Fatalf("steady-state step allocates %v times", a)
	}
}
