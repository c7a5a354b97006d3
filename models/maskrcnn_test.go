package models

import (
	"math"
	"testing"

	"github.com/spinenet-go/spinenet/maskrcnn"
)

// Mask R-CNN from the registry rows has the trainable parameters of spec
// maskrcnn.md §11 to the unit, per head and in total, and multiply-adds
// within 1 % of the published FLOPs (spec §5.6), from a shape-only build.
func TestMaskRCNNAccounting(t *testing.T) {
	for _, tc := range []struct {
		id              string
		size            int
		rpn, box, mask  int
		total           int
		publishedGFLOPs float64
	}{
		{"49S", 640, 150_799, 4_037_575, 669_019, 13_946_608, 60.2},
		{"49", 640, 596_495, 15_676_871, 2_648_667, 40_753_521, 215.7},
		{"96", 1024, 596_495, 15_676_871, 2_648_667, 55_185_009, 314.6},
		{"143", 1280, 596_495, 15_676_871, 2_648_667, 79_169_649, 498.4},
		{"190", 1536, 1_779_471, 29_477_191, 10_366_171, 168_210_497, 1685.7},
	} {
		d, err := Resolve(Request{ID: tc.id})
		if err != nil {
			t.Fatal(err)
		}
		d.Options.ShapeOnly = true
		b, err := d.Build(MaskRCNNHead, 0)
		if err != nil {
			t.Fatal(err)
		}
		a, err := b.Account(tc.size, tc.size)
		if err != nil {
			t.Fatal(err)
		}
		groups := map[string]int{}
		for _, g := range a.ByGroup() {
			groups[g.Group] += g.Params
		}
		if groups[maskrcnn.GroupRPN] != tc.rpn || groups[maskrcnn.GroupBoxHead] != tc.box || groups[maskrcnn.GroupMaskHead] != tc.mask {
			t.Errorf("%s: RPN %d, box head %d, mask head %d; want %d, %d, %d", tc.id,
				groups[maskrcnn.GroupRPN], groups[maskrcnn.GroupBoxHead], groups[maskrcnn.GroupMaskHead], tc.rpn, tc.box, tc.mask)
		}
		if a.TrainableParams != tc.total {
			t.Errorf("%s: %d trainable parameters, want %d", tc.id, a.TrainableParams, tc.total)
		}
		g := float64(a.MACs) / 1e9
		if math.Abs(g/tc.publishedGFLOPs-1) > 0.01 {
			t.Errorf("%s@%d: %.2f B multiply-adds, published %.1f B (more than 1 %% apart)", tc.id, tc.size, g, tc.publishedGFLOPs)
		}
		t.Logf("%s@%d: %d parameters, %.2f B multiply-adds (published %.1f B)", tc.id, tc.size, a.TrainableParams, g, tc.publishedGFLOPs)
	}
}

// DeriveMaskRCNN reproduces every row but SpineNet-190's hand-sized heads;
// the published configs' activations are facts of the rows.
func TestDeriveMaskRCNNReproducesRows(t *testing.T) {
	for _, v := range All() {
		got, want := DeriveMaskRCNN(v.Arch()), v.MaskRCNN
		want.Activation = 0
		if v.ID == "190" {
			if got == want {
				t.Errorf("190: derived %+v equals the row; the departure note is stale", got)
			}
			continue
		}
		if got != want {
			t.Errorf("%s: derived %+v, row %+v", v.ID, got, want)
		}
	}
}
