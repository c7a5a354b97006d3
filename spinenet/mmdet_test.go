package spinenet

import (
	"fmt"
	"github.com/spinenet-go/spinenet/internal/sharedtest"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// goldenDir is the mmdetection port's golden directory in the shared
// checkout (18 MB of weights: too large for the repository).
func goldenDir(t *testing.T) string {
	t.Helper()
	return filepath.Dir(sharedtest.Path(t, "golden/spinenet49s-mmdet/weights.safetensors")) + "/"
}

// The mmdetection port's SpineNet-49S, given seeded weights, produced P3–P7
// for two inputs; importing its weights must reproduce them to 1e-4
// relative error per level (issue 3, golden README).
func TestMMDetGolden(t *testing.T) {
	dir := goldenDir(t)
	src, _, err := nn.ReadStateDict(dir + "weights.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	bb, err := ImportMMDet(src, "49S")
	if err != nil {
		t.Fatal(err)
	}
	for _, io := range []string{"io_seed1_256x256", "io_seed3_256x640"} {
		sd, _, err := nn.ReadStateDict(dir + io + ".safetensors")
		if err != nil {
			t.Fatal(err)
		}
		x := tensor.NCHWToNHWC(sd["input"])
		outs := bb.Graph.Forward(autograd.NewInferenceTape(), autograd.NewConstant(x))
		for i, o := range outs {
			name := fmt.Sprintf("P%d", i+3)
			want := tensor.NCHWToNHWC(sd[name])
			if !tensor.SameShape(o.Value, want) {
				t.Fatalf("%s %s: shape %v, want %v", io, name, o.Shape(), want.Shape())
			}
			var num, den float64
			for j, v := range o.Value.Data() {
				d := float64(v - want.Data()[j])
				num += d * d
				den += float64(want.Data()[j]) * float64(want.Data()[j])
			}
			rel := math.Sqrt(num / den)
			t.Logf("%s %s: relative error %.2e", io, name, rel)
			if rel > 1e-4 {
				t.Errorf("%s %s: relative error %.3e > 1e-4", io, name, rel)
			}
		}
	}
}

func TestMMDetImportErrors(t *testing.T) {
	dir := goldenDir(t)
	src, _, err := nn.ReadStateDict(dir + "weights.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	delete(src, "conv1.conv.weight")
	src["merge_ops.3.resample_ops.1.expand_conv.norm.bias"] = tensor.New(5)
	_, err = ImportMMDet(src, "49S")
	if err == nil {
		t.Fatal("import with a missing tensor succeeded")
	}
	for _, want := range []string{"conv1.conv.weight", "merge_ops.3.resample_ops.1.expand_conv.norm.bias"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
