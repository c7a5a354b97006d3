package infer_test

import (
	"github.com/spinenet-go/spinenet/internal/racebuild"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/classify"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/infer"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// randomizeStats gives every batch norm non-trivial statistics and affine
// parameters, so folding errors show.
func randomizeStats(g *nn.Graph, rng *rand.Rand) {
	for _, s := range g.BatchNormStats() {
		for i := range s.Stats.Mean.Data() {
			s.Stats.Mean.Data()[i] = float32(rng.NormFloat64() * 0.1)
			s.Stats.Var.Data()[i] = float32(0.5 + rng.Float64())
		}
	}
	for _, p := range g.Params() {
		if n := p.Name; len(n) > 6 && (n[len(n)-5:] == "gamma" || n[len(n)-4:] == "beta") {
			for i := range p.Value.Data() {
				p.Value.Data()[i] += float32(rng.NormFloat64() * 0.1)
			}
		}
	}
}

func relErr(got, want *tensor.Tensor) float64 {
	var num, den float64
	for i, v := range want.Data() {
		d := float64(got.Data()[i] - v)
		num += d * d
		den += float64(v) * float64(v)
	}
	return math.Sqrt(num / math.Max(den, 1e-30))
}

// The compiled program computes what the graph computes on an inference
// tape, for every kind of model, at sizes that are not multiples of 128,
// and repeated runs (reusing the plan) give the same result.
func TestCompiledMatchesTape(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	small := func(id string) *spinenet.Arch {
		a, _ := spinenet.Lookup(id)
		if a.Family == spinenet.FamilyResNet {
			a.FilterSizeScale = 0.25
		}
		return a
	}
	opt := spinenet.DefaultOptions()
	models := map[string]*nn.Graph{}
	bb, _ := spinenet.Build(small("49S"), opt)
	models["backbone-49S"] = bb.Graph
	o2 := opt
	o2.Pooling, o2.Padding, o2.Activation, o2.EndpointActivation = spinenet.PoolTPU, spinenet.PadSymmetric, tensor.ActReLU, false
	bb2, _ := spinenet.Build(small("96"), o2)
	models["backbone-96-tpu"] = bb2.Graph
	hc := detection.HeadFor(small("49S"), 7, opt.Activation)
	hc.Filters = 32
	det, err := detection.NewRetinaNet(small("49S"), opt, hc)
	if err != nil {
		t.Fatal(err)
	}
	models["retinanet-49S"] = det.Graph()
	cls, err := classify.NewClassifier(small("49"), opt, classify.HeadConfig{NumClasses: 5})
	if err != nil {
		t.Fatal(err)
	}
	models["classifier-49"] = cls.Graph()
	mob, err := spinenet.Build(small("mobile-49S"), opt)
	if err != nil {
		t.Fatal(err)
	}
	models["mobile-49S"] = mob.Graph
	for name, g := range models {
		t.Run(name, func(t *testing.T) {
			randomizeStats(g, rng)
			x := tensor.New(2, 97, 75, 3)
			for i := range x.Data() {
				x.Data()[i] = float32(rng.NormFloat64())
			}
			want := g.Forward(autograd.NewInferenceTape(), autograd.NewConstant(x))
			m, err := infer.Compile(g, infer.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			a := m.NewArena()
			for run := range 2 {
				got, err := a.Run(x)
				if err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if !tensor.SameShape(got[i], want[i].Value) {
						t.Fatalf("output %s: shape %v, want %v", g.OutputNames[i], got[i].Shape(), want[i].Shape())
					}
					if e := relErr(got[i], want[i].Value); e > 1e-4 {
						t.Errorf("run %d output %s: relative error %.2e", run, g.OutputNames[i], e)
					}
				}
			}
		})
	}
}

// Folding and fusion leave one step per convolution plus the few ops that
// cannot fuse, and a steady-state Run allocates (almost) nothing.
func TestFusionAndAllocations(t *testing.T) {
	a, _ := spinenet.Lookup("49")
	a.FilterSizeScale = 0.25
	bb, err := spinenet.Build(a, spinenet.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	m, err := infer.Compile(bb.Graph, infer.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	convs := 0
	for _, n := range bb.Graph.Nodes {
		if n.Op == nn.OpConv {
			convs++
		}
	}
	steps := m.Steps()
	// Unfusable: the stem max-pool, downsampling pools, upsampling resizes
	// and the sums of parents that cannot be folded into a convolution.
	if steps > convs+45 {
		t.Errorf("%d steps for %d convolutions: fusion is not happening", steps, convs)
	}
	x := tensor.New(1, 128, 128, 3)
	ar := m.NewArena()
	if _, err := ar.Run(x); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := ar.Run(x); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%d convolutions, %d steps, %.0f allocations per run", convs, steps, allocs)
	if allocs > 200 && !racebuild.Enabled {
		t.Errorf("%.0f allocations per Run", allocs)
	}
}
