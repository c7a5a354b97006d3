package infer_test

import (
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/infer"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// A mask head's tail — 3×3 conv + BN + ReLU, Deconv2x2 + BN + ReLU, 1×1
// conv to the class logits — compiles to four steps (the batch norm after
// the deconvolution folded into its depth-to-space step with the bias) and
// computes what the inference tape computes; so do a bare Deconv2x2 (bias
// only) as the output and a Deconv2x2 followed by an activation.
func TestCompiledDeconvMatchesTape(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	build := map[string]func(s *nn.Scope, x int) int{
		"mask head": func(s *nn.Scope, x int) int {
			h := s.ConvBN(x, "conv1", nn.ConvSpec{K: 3, Out: 6, Stride: 1, Pad: tensor.PadSame, Bias: true}, tensor.ActReLU)
			h = s.Act(s.BatchNorm(s.Deconv2x2(h, "deconv", 5, nil, nn.Normal{Std: 0.3}), "deconv_bn"), tensor.ActReLU)
			return s.Conv(h, "logits", nn.ConvSpec{K: 1, Out: 7, Stride: 1, Bias: true, BiasInit: nn.Normal{Std: 0.3}})
		},
		"bare": func(s *nn.Scope, x int) int { return s.Deconv2x2(x, "deconv", 3, nil, nn.Normal{Std: 0.3}) },
		"swish": func(s *nn.Scope, x int) int {
			return s.Act(s.Deconv2x2(x, "deconv", 3, nil, nn.Normal{Std: 0.3}), tensor.ActSwish)
		},
	}
	steps := map[string]int{"mask head": 4, "bare": 2, "swish": 2}
	for name, f := range build {
		t.Run(name, func(t *testing.T) {
			g := nn.NewGraph()
			s := nn.NewScope(g, 2)
			g.MarkOutput(f(s, s.Input("roi", 4)), "out")
			randomizeStats(g, rng)
			x := tensor.New(3, 7, 5, 4)
			for i := range x.Data() {
				x.Data()[i] = float32(rng.NormFloat64())
			}
			want := g.Forward(autograd.NewInferenceTape(), autograd.NewConstant(x))[0].Value
			m, err := infer.Compile(g, infer.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if m.Steps() != steps[name] {
				t.Errorf("%d steps, want %d", m.Steps(), steps[name])
			}
			got, err := m.NewArena().Run(x)
			if err != nil {
				t.Fatal(err)
			}
			if !tensor.SameShape(got[0], want) {
				t.Fatalf("shape %v, want %v", got[0].Shape(), want.Shape())
			}
			if e := relErr(got[0], want); e > 1e-5 {
				t.Errorf("relative error %.2e", e)
			}
		})
	}
}
