package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/internal/gradcheck"
	"github.com/spinenet-go/spinenet/tensor"
)

// deconvGraph is the end of a mask head: input → Deconv2x2 → BN → ReLU.
func deconvGraph(cin, out int, shapeOnly bool) (*Graph, int) {
	g := NewGraph()
	s := NewScope(g, 3)
	s.ShapeOnly = shapeOnly
	x := s.Input("roi", cin)
	d := s.Deconv2x2(x, "mask/deconv", out, nil, Normal{Std: 0.1})
	g.MarkOutput(s.Act(s.BatchNorm(d, "mask/deconv_bn"), tensor.ActReLU), "mask")
	return g, d
}

// Deconv2x2 has the parameters and multiply-adds of a real 2×2 stride-2
// transposed convolution (spec §11), names them name/kernel and name/bias,
// and doubles the spatial size.
func TestDeconv2x2Accounting(t *testing.T) {
	for _, c := range []struct{ cin, out, h, w int }{{5, 3, 7, 9}, {256, 256, 14, 14}} {
		g, d := deconvGraph(c.cin, c.out, true)
		a, err := g.Account(c.h, c.w)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Nodes[d].Shape; !tensor.EqualShapes(got, []int{1, 2 * c.h, 2 * c.w, c.out}) {
			t.Errorf("%v: deconv output %v", c, got)
		}
		var params int
		var macs int64
		for _, nc := range a.Nodes {
			if nc.Node.Name == "mask/deconv" {
				params += nc.Params
				macs += nc.MACs
			}
		}
		if want := 2*2*c.cin*c.out + c.out; params != want {
			t.Errorf("%v: %d parameters, want %d", c, params, want)
		}
		if want := int64(c.h*c.w) * int64(2*2*c.cin*c.out); macs != want {
			t.Errorf("%v: %d multiply-adds, want %d (4·Cin·out per input pixel)", c, macs, want)
		}
		k, kok := g.Param("mask/deconv/kernel")
		b, bok := g.Param("mask/deconv/bias")
		if !kok || !bok || !tensor.EqualShapes(k.Shape(), []int{1, 1, c.cin, 4 * c.out}) || !tensor.EqualShapes(b.Shape(), []int{c.out}) {
			t.Errorf("%v: parameters %v %v", c, k, b)
		}
		if lv := g.Nodes[d].Level; lv != -1 {
			t.Errorf("%v: deconv of a level-0 input at level %d, want -1", c, lv)
		}
	}
	if 2*2*256*256+256 != 262400 {
		t.Fatal("arithmetic")
	}
}

// A TF conv2d_transpose kernel converted by Deconv2x2KernelFromTF makes the
// graph compute the transposed convolution of a direct reference loop.
func TestDeconv2x2MatchesTransposedConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	const n, h, w, cin, out = 2, 3, 5, 4, 6
	g := NewGraph()
	s := NewScope(g, 1)
	g.MarkOutput(s.Deconv2x2(s.Input("x", cin), "up", out, nil, nil), "y")
	tfKernel := gradcheck.Rand(rng, -1, 1, 2, 2, out, cin)
	bias := gradcheck.Rand(rng, -1, 1, out)
	k, err := Deconv2x2KernelFromTF(tfKernel)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := g.Param("up/kernel")
	p.Value.CopyFrom(k)
	pb, _ := g.Param("up/bias")
	pb.Value.CopyFrom(bias)
	x := gradcheck.Rand(rng, -1, 1, n, h, w, cin)
	y := g.Forward(autograd.NewInferenceTape(), autograd.NewConstant(x))[0].Value
	if !tensor.EqualShapes(y.Shape(), []int{n, 2 * h, 2 * w, out}) {
		t.Fatalf("output %v", y.Shape())
	}
	// tf.nn.conv2d_transpose(x, W, strides 2, 'VALID'): every input pixel
	// scatters W[a, b, :, :]·x into output pixel (2i + a, 2j + b).
	want := make([]float64, y.Len())
	for b := range n {
		for i := range h {
			for j := range w {
				for ka := range 2 {
					for kb := range 2 {
						for o := range out {
							v := float64(bias.At(o))
							for c := range cin {
								v += float64(x.At(b, i, j, c)) * float64(tfKernel.At(ka, kb, o, c))
							}
							want[((b*2*h+2*i+ka)*2*w+2*j+kb)*out+o] += v
						}
					}
				}
			}
		}
	}
	for i, v := range y.Data() {
		if math.Abs(float64(v)-want[i]) > 1e-5 {
			t.Fatalf("element %d: %v, want %v", i, v, want[i])
		}
	}
	if _, err := Deconv2x2KernelFromTF(tensor.New(3, 2, 4, 4)); err == nil {
		t.Error("a 3×2 kernel converted")
	}
}

// Gradients through the nn graph (input → Deconv2x2 → BN → ReLU) with
// respect to the input, the kernel and the bias.
func TestDeconv2x2Gradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 7))
	g, d := deconvGraph(3, 2, false)
	conv, dts := g.Nodes[g.Nodes[d].Inputs[0]], g.Nodes[d]
	f := func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
		conv.Conv.Kernel, dts.Conv.Bias = v[1], v[2] // differentiate the graph's own parameters
		return g.Forward(tp, v[0])[0]
	}
	inputs := []*tensor.Tensor{gradcheck.Rand(rng, -1, 1, 2, 3, 4, 3), gradcheck.Rand(rng, -1, 1, 1, 1, 3, 8), gradcheck.Rand(rng, -1, 1, 2)}
	// On a training tape BN uses batch statistics, coupling every element
	// (and cancelling the bias); at inference the bias gradient is direct.
	gradcheck.Check(t, f, inputs, gradcheck.Options{})
	gradcheck.Check(t, f, inputs, gradcheck.Options{Inference: true})
}
