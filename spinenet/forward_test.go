package spinenet

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// Every built-in model, both families, runs forward and backward at a size
// that is not a multiple of 128, produces P3–P7 of ⌈size/2^L⌉, and every
// parameter gets a gradient.
func TestEveryModelTrains(t *testing.T) {
	for _, id := range List() {
		a, _ := Lookup(id)
		if testing.Short() && id != "49S" && id != "49" && id != "mobile-49S" {
			continue
		}
		t.Run(id, func(t *testing.T) {
			opt := DefaultOptions()
			opt.StochasticDepth = 0.2
			if a.Family == FamilyMobile {
				opt.Activation = tensor.ActHardSwish
			}
			bb, err := Build(a, opt)
			if err != nil {
				t.Fatal(err)
			}
			h, w := 100, 75
			x := tensor.New(2, h, w, 3)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range x.Data() {
				x.Data()[i] = float32(rng.NormFloat64())
			}
			tp := autograd.NewTape(1)
			outs := bb.Graph.Forward(tp, tp.Constant(x))
			var loss *autograd.Var
			for i, o := range outs {
				l := a.MinLevel + i
				want := []int{2, nn.LevelSize(h, l), nn.LevelSize(w, l), a.EndpointsNumFilters}
				if !tensor.EqualShapes(o.Shape(), want) {
					t.Errorf("P%d: %v, want %v", l, o.Shape(), want)
				}
				if !tensor.AllFinite(o.Value) {
					t.Errorf("P%d has non-finite values", l)
				}
				m := tp.Mean(tp.Mul(o, o))
				if loss == nil {
					loss = m
				} else {
					loss = tp.Add(loss, m)
				}
			}
			if err := tp.Backward(loss); err != nil {
				t.Fatal(err)
			}
			for _, p := range bb.Graph.Params() {
				if !p.HasGrad() {
					t.Errorf("%s got no gradient", p.Name)
				}
			}
		})
	}
}

// Pooling, padding and activation change numbers but never parameter counts
// or output sizes (StemFilters, a proxy option, does: TestStemFilters).
func TestOptionsKeepShapes(t *testing.T) {
	a, _ := Lookup("49S")
	a.FilterSizeScale = 0.25
	for _, opt := range []func(*Options){
		func(o *Options) {},
		func(o *Options) { o.Pooling = PoolTPU },
		func(o *Options) { o.Padding = PadSymmetric },
		func(o *Options) { o.Activation = tensor.ActReLU; o.EndpointActivation = false },
	} {
		o := DefaultOptions()
		opt(&o)
		bb, err := Build(a, o)
		if err != nil {
			t.Fatal(err)
		}
		acc, err := bb.Graph.Account(224, 224)
		if err != nil {
			t.Fatal(err)
		}
		tp := autograd.NewInferenceTape()
		outs := bb.Graph.Forward(tp, tp.Constant(tensor.New(1, 224, 224, 3)))
		got := fmt.Sprint(acc.TrainableParams)
		for _, o := range outs {
			got += fmt.Sprint(o.Shape())
		}
		want := "1464000[1 28 28 128][1 14 14 128][1 7 7 128][1 4 4 128][1 2 2 128]"
		if got != want {
			t.Errorf("%+v: %s, want %s", o, got, want)
		}
	}
}
