package spinenet

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/nn"
)

func build(t testing.TB, id string, opt Options) *Backbone {
	t.Helper()
	a, err := Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := Build(a, opt)
	if err != nil {
		t.Fatal(err)
	}
	return bb
}

// Spec §10.4: trainable parameters of every backbone, counted from the
// built graph, and parameters with BN statistics.
func TestBackboneParamCounts(t *testing.T) {
	cases := []struct {
		id             string
		trainable, all int
		macs640        int64
	}{
		{"49S", 9089215, 9146351, 0},
		{"49", 21831488, 21920192, 28261990400},
		{"96", 36262976, 36385728, 0},
		{"143", 60247616, 60413888, 0},
		{"143L", 100796257, 101011093, 0},
		{"190", 126587664, 126849216, 0},
	}
	for _, c := range cases {
		opt := DefaultOptions()
		opt.SkipInit = true
		bb := build(t, c.id, opt)
		acc, err := bb.Graph.Account(640, 640)
		if err != nil {
			t.Fatal(err)
		}
		if acc.TrainableParams != c.trainable || acc.ParamsWithBNStats != c.all {
			t.Errorf("%s: trainable %d (want %d), with BN stats %d (want %d)", c.id, acc.TrainableParams, c.trainable, acc.ParamsWithBNStats, c.all)
		}
		if c.macs640 != 0 && acc.MACs != c.macs640 {
			t.Errorf("%s: MACs at 640 %d, want %d", c.id, acc.MACs, c.macs640)
		}
	}
}

// Spec §10.3: the per-block breakdown of SpineNet-49 (resample paths, block
// group, total), including the merge of list idx 11 into idx 14.
func TestSpineNet49PerBlock(t *testing.T) {
	want := map[int][4]int{ // list idx: resample 0, resample 1, block, total
		2: {16960, 16960, 70400, 104320}, 3: {26240, 26240, 1180672, 1233152},
		4: {34944, 99584, 280064, 414592}, 5: {52352, 137472, 1117184, 1307008},
		6: {214016, 312320, 1180672, 1707008}, 7: {166144, 264448, 1117184, 1547776},
		8: {66304, 312320, 1180672, 1559296}, 9: {214016, 214016, 1180672, 1608704},
		10: {166144, 166144, 1117184, 1449472}, 11: {166144, 264448, 1117184, 1547776},
		12: {264448, 264448, 1117184, 1646080}, 13: {66688, 197888, 280064, 544640},
		14: {412160, 412160, 1117184, 1941504}, 15: {412160, 412160, 1117184, 1941504},
		16: {412160, 412160, 1117184, 1941504},
	}
	bb := build(t, "49", DefaultOptions())
	acc, err := bb.Graph.Account(640, 640)
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]int{}
	for _, g := range acc.ByGroup() {
		groups[g.Group] = g.Params
	}
	for idx, w := range want {
		r0 := groups[fmt.Sprintf("block %d/resample 0", idx)]
		r1 := groups[fmt.Sprintf("block %d/resample 1", idx)]
		blk := groups[fmt.Sprintf("block %d", idx)]
		if got := [4]int{r0, r1, blk, r0 + r1 + blk}; got != w {
			t.Errorf("block %d: %v, want %v", idx, got, w)
		}
	}
	if groups["stem"] != 154944 || groups["endpoints"] != 1182208 {
		t.Errorf("stem %d (want 154944), endpoints %d (want 1182208)", groups["stem"], groups["endpoints"])
	}
	// The merge: idx 14's fusion sums three features.
	for _, n := range bb.Graph.Nodes {
		if n.Name == "blocks/14/fuse" && len(n.Inputs) != 3 {
			t.Errorf("blocks/14/fuse has %d inputs, want 3 (two parents + merged idx 11)", len(n.Inputs))
		}
		if n.Op == nn.OpAdd && n.Name != "blocks/14/fuse" && len(n.Inputs) > 2 {
			t.Errorf("unexpected merge into %s", n.Name)
		}
	}
}

// Options.StemFilters narrows the stem convolution (a proxy departure) and
// the L2 inputs that read it, and nothing else; 0 is the paper's 64, and
// Build refuses it for Mobile and out of range.
func TestStemFilters(t *testing.T) {
	stemParams := func(opt Options) (int, int64) {
		bb := build(t, "49", opt)
		acc, err := bb.Graph.Account(640, 640)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range acc.ByGroup() {
			if g.Group == "stem" {
				return g.Params, acc.MACs
			}
		}
		t.Fatal("no stem group")
		return 0, 0
	}
	opt := DefaultOptions()
	opt.SkipInit = true
	paper, paperMACs := stemParams(opt)
	opt.StemFilters = 64
	if p, m := stemParams(opt); p != paper || m != paperMACs {
		t.Errorf("StemFilters 64: stem %d params, %d MACs; want the default's %d, %d", p, m, paper, paperMACs)
	}
	// 16 instead of 64 channels: the 7×7×3 conv and its BN lose 48·(147+2)
	// parameters, group 0's first block reads 16 channels in its 1×1 conv
	// (to 64) and its 1×1 shortcut (to 256): 48·(64+256) fewer.
	opt.StemFilters = 16
	p, m := stemParams(opt)
	if want := paper - 48*(147+2) - 48*(64+256); p != want {
		t.Errorf("StemFilters 16: stem %d params, want %d", p, want)
	}
	// MACs at 640: the conv runs on 320×320 outputs, the two 1×1 convs on
	// the 160×160 grid after the max-pool.
	if want := paperMACs - 48*147*320*320 - 48*(64+256)*160*160; m != want {
		t.Errorf("StemFilters 16: %d MACs, want %d", m, want)
	}

	for _, c := range []struct {
		id      string
		filters int
	}{{"49", -1}, {"49", MaxStemFilters + 1}, {"mobile-49", 16}} {
		a, err := Lookup(c.id)
		if err != nil {
			t.Fatal(err)
		}
		o := DefaultOptions()
		o.StemFilters, o.ShapeOnly = c.filters, true
		if _, err := Build(a, o); err == nil || !strings.Contains(err.Error(), "StemFilters") {
			t.Errorf("%s, StemFilters %d: err %v, want one naming StemFilters", c.id, c.filters, err)
		}
	}
}
