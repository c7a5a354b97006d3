package spinenet

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/safetensors"
	"github.com/spinenet-go/spinenet/tensor"
)

func smallArch(t *testing.T) *Arch {
	a, err := Lookup("49S")
	if err != nil {
		t.Fatal(err)
	}
	a.FilterSizeScale, a.EndpointsNumFilters = 0.2, 16
	return a
}

// Save and load round trip: the loaded model gives bit-identical outputs,
// including trained batch-norm statistics.
func TestWeightsRoundTrip(t *testing.T) {
	opt := DefaultOptions()
	opt.Activation, opt.Pooling, opt.Padding, opt.StemFilters = tensor.ActReLU, PoolTPU, PadSymmetric, 12
	bb, err := Build(smallArch(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	x := tensor.New(2, 40, 56, 3)
	for i := range x.Data() {
		x.Data()[i] = float32(rng.NormFloat64())
	}
	tp := autograd.NewTape(1) // one training step moves the BN statistics
	bb.Graph.Forward(tp, tp.Constant(x))
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := bb.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadBackbone(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Options.Pooling != PoolTPU || got.Options.Padding != PadSymmetric || got.Options.Activation != tensor.ActReLU ||
		got.Options.StemFilters != 12 {
		t.Errorf("options not restored: %+v", got.Options)
	}
	want := bb.Graph.Forward(autograd.NewInferenceTape(), autograd.NewConstant(x))
	have := got.Graph.Forward(autograd.NewInferenceTape(), autograd.NewConstant(x))
	for i := range want {
		for j, v := range want[i].Value.Data() {
			if have[i].Value.Data()[j] != v {
				t.Fatalf("output %d differs at %d after reload", i, j)
			}
		}
	}
}

// A missing, extra or mis-shaped tensor is an error naming it, and nothing
// is loaded.
func TestWeightsErrorsNameTensors(t *testing.T) {
	bb, err := Build(smallArch(t), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	sd := map[string]*tensor.Tensor{}
	for k, v := range bb.Graph.StateDict() {
		sd[k] = v.Clone()
	}
	delete(sd, "stem/conv/kernel")
	sd["blocks/5/r0/bn2/moving_mean"] = tensor.New(3)
	sd["extra/kernel"] = tensor.New(1)
	before := bb.Graph.StateDict()["endpoints/P3/conv/kernel"].Clone()
	sd["endpoints/P3/conv/kernel"].Fill(7)
	err = bb.Graph.LoadStateDict(sd, "test")
	var we *nn.WeightsError
	if !errors.As(err, &we) {
		t.Fatalf("got %v", err)
	}
	if len(we.Missing) != 1 || we.Missing[0] != "stem/conv/kernel" || len(we.Unexpected) != 1 || we.Unexpected[0] != "extra/kernel" ||
		len(we.Mismatched) != 1 {
		t.Errorf("error %+v", we)
	}
	if bb.Graph.StateDict()["endpoints/P3/conv/kernel"].Data()[0] != before.Data()[0] {
		t.Error("a failed load changed the weights")
	}
	// A file without spinenet metadata says so.
	path := filepath.Join(t.TempDir(), "plain.safetensors")
	if err := safetensors.WriteFile(path, &safetensors.File{}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBackbone(path); err == nil {
		t.Error("loading a file without metadata succeeded")
	}
}
