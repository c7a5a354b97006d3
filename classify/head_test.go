package classify

import (
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// Issue 5 / spec §10.5: parameters with a 1001-way ImageNet head.
func TestClassifierParamCounts(t *testing.T) {
	for id, want := range map[string]int{"49": 22088745, "96": 36520233, "143": 60504873, "190": 127101177} {
		if testing.Short() && id != "49" {
			continue
		}
		arch, _ := spinenet.Lookup(id)
		opt := spinenet.DefaultOptions()
		opt.SkipInit = true
		m, err := NewClassifier(arch, opt, HeadConfig{NumClasses: 1001})
		if err != nil {
			t.Fatal(err)
		}
		acc, err := m.Graph().Account(224, 224)
		if err != nil {
			t.Fatal(err)
		}
		if acc.TrainableParams != want {
			t.Errorf("%s: %d params, want %d", id, acc.TrainableParams, want)
		}
	}
}

// 224×224 works (spec §4, §11: L7 is 2×2 and L5 7×7, which TF2's integer
// upsampling cannot handle).
func TestClassifier224Forward(t *testing.T) {
	arch, _ := spinenet.Lookup("49S")
	arch.FilterSizeScale, arch.EndpointsNumFilters = 0.25, 32
	m, err := NewClassifier(arch, spinenet.DefaultOptions(), HeadConfig{NumClasses: 10})
	if err != nil {
		t.Fatal(err)
	}
	tp := autograd.NewInferenceTape()
	out := m.Graph().Forward(tp, tp.Constant(tensor.New(1, 224, 224, 3)))
	if got := out[len(out)-1].Shape(); !tensor.EqualShapes(got, []int{1, 10}) {
		t.Fatalf("logits %v", got)
	}
}
