package autograd_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/internal/gradcheck"
	"github.com/spinenet-go/spinenet/tensor"
)

// Inference fusion: conv → BN (moving statistics) → ReLU (+ residual) equals
// one convolution with folded weights and the bias, residual and activation
// in the GEMM epilogue.
func TestFoldedBatchNormMatchesInferenceBN(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		k, stride, c, oc int
		residual         bool
	}{{1, 1, 8, 16, true}, {3, 1, 5, 7, false}, {3, 2, 6, 4, false}, {7, 2, 3, 5, false}} {
		x := gradcheck.Rand(rng, -1, 1, 2, 9, 11, tc.c)
		w := gradcheck.Rand(rng, -0.5, 0.5, tc.k, tc.k, tc.c, tc.oc)
		gamma, beta := gradcheck.Rand(rng, 0.5, 1.5, tc.oc), gradcheck.Rand(rng, -1, 1, tc.oc)
		stats := autograd.NewBatchNormStats(tc.oc)
		stats.Mean = gradcheck.Rand(rng, -1, 1, tc.oc)
		stats.Var = gradcheck.Rand(rng, 0.2, 2, tc.oc)

		tp := autograd.NewInferenceTape()
		y := tp.BatchNorm(tp.Conv2D(tp.Constant(x), tp.Constant(w), tc.stride, tensor.PadSame), tp.Constant(gamma), tp.Constant(beta), stats)
		var res *tensor.Tensor
		if tc.residual {
			res = gradcheck.Rand(rng, -1, 1, y.Shape()...)
			y = tp.Add(y, tp.Constant(res))
		}
		want := tp.ReLU(y).Value

		wf, bias := tensor.New(w.Shape()...), tensor.New(tc.oc)
		tensor.FoldBatchNorm(wf, bias, w, gamma, beta, stats.Mean, stats.Var, stats.Epsilon)
		p, err := tensor.Conv2DParams(x.Shape(), w.Shape(), tc.stride, tensor.PadSame)
		if err != nil {
			t.Fatal(err)
		}
		got := tensor.New(want.Shape()...)
		tensor.Conv2D(got, x, wf, p, &tensor.Epilogue{Bias: bias, Residual: res, Act: tensor.ActReLU})
		for i, v := range got.Data() {
			if d := math.Abs(float64(v - want.Data()[i])); d > 1e-4*(1+math.Abs(float64(want.Data()[i]))) {
				t.Fatalf("%+v: element %d: fused %g, unfused %g", tc, i, v, want.Data()[i])
			}
		}
	}
}
