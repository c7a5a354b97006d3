package spinenet_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

var mobileIDs = []string{"mobile-49XS", "mobile-49S", "mobile-49"}

// mobileActivation is the TF2 config activation (spec §3.3): swish for
// 49XS, hard_swish for 49S and 49.
func mobileActivation(id string) tensor.Activation {
	if id == "mobile-49XS" {
		return tensor.ActSwish
	}
	return tensor.ActHardSwish
}

func buildMobileForTest(t testing.TB, id string, opt spinenet.Options) *spinenet.Backbone {
	t.Helper()
	a, err := spinenet.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := spinenet.Build(a, opt)
	if err != nil {
		t.Fatal(err)
	}
	return bb
}

// Spec §8: the simulator's params and MACs of the RetinaNet models with a
// 91-class separable head (TF2 rules) — 0.873 M / 0.166 B (49XS at 256),
// 1.031 M / 0.496 B (49S at 384), 2.338 M / 0.981 B (49 at 384). The exact
// values are pinned too, as are the backbone-only counts.
func TestMobileRetinaNetCounts(t *testing.T) {
	cases := []struct {
		id             string
		size           int
		specM, specB   float64 // spec §8, params in millions and MACs in billions
		params         int
		macs           int64
		bbParams       int
		bbParamsWithBN int
		bbMACs         int64
	}{
		{"mobile-49XS", 256, 0.873, 0.166, 872711, 165764892, 842456, 869400, 128544060},
		{"mobile-49S", 384, 1.031, 0.496, 1030653, 495890184, 975678, 1004872, 340598784},
		{"mobile-49", 384, 2.338, 0.981, 2337579, 980858928, 2268708, 2313892, 785081280},
	}
	for _, c := range cases {
		a, err := spinenet.Lookup(c.id)
		if err != nil {
			t.Fatal(err)
		}
		opt := spinenet.DefaultOptions()
		opt.SkipInit = true
		act := mobileActivation(c.id)
		opt.Activation = act
		m, err := detection.NewRetinaNet(a, opt, detection.HeadFor(a, 91, act))
		if err != nil {
			t.Fatal(err)
		}
		acc, err := m.Graph().Account(c.size, c.size)
		if err != nil {
			t.Fatal(err)
		}
		if got := math.Round(float64(acc.TrainableParams)/1e3) / 1e3; got != c.specM {
			t.Errorf("%s: %d params = %.3f M, spec §8 says %.3f M", c.id, acc.TrainableParams, got, c.specM)
		}
		if got := math.Round(float64(acc.MACs)/1e6) / 1e3; got != c.specB {
			t.Errorf("%s: %d MACs at %d = %.3f B, spec §8 says %.3f B", c.id, acc.MACs, c.size, got, c.specB)
		}
		if acc.TrainableParams != c.params || acc.MACs != c.macs {
			t.Errorf("%s: RetinaNet %d params, %d MACs; want %d, %d", c.id, acc.TrainableParams, acc.MACs, c.params, c.macs)
		}

		bb := buildMobileForTest(t, c.id, opt)
		bacc, err := bb.Graph.Account(c.size, c.size)
		if err != nil {
			t.Fatal(err)
		}
		if bacc.TrainableParams != c.bbParams || bacc.ParamsWithBNStats != c.bbParamsWithBN || bacc.MACs != c.bbMACs {
			t.Errorf("%s: backbone %d params (%d with BN stats), %d MACs; want %d (%d), %d", c.id,
				bacc.TrainableParams, bacc.ParamsWithBNStats, bacc.MACs, c.bbParams, c.bbParamsWithBN, c.bbMACs)
		}
	}
}

// The topology rules of spec §8: scaled, truncated widths (stem included),
// SE reduced from the block input width, residual adds exactly on the
// scale-permuted blocks, one merge (list entry 12 into the P5 block, entry
// 15), and depthwise downsampling once per level.
func TestMobileStructure(t *testing.T) {
	opt := spinenet.DefaultOptions()
	opt.SkipInit = true
	bb := buildMobileForTest(t, "mobile-49S", opt)
	g := bb.Graph
	shape := func(name string) []int {
		t.Helper()
		p, ok := g.Param(name)
		if !ok {
			t.Fatalf("no parameter %s", name)
		}
		return p.Shape()
	}
	// 0.65 × {8, 16, 24, 40, 80, 112} truncated = {5, 10, 15, 26, 52, 72}.
	checks := []struct {
		name string
		want []int
	}{
		{"stem/conv/kernel", []int{3, 3, 3, 5}},
		{"stem/group0/r0/expand/conv/kernel", []int{1, 1, 5, 30}},
		{"stem/group0/r0/se/reduce/kernel", []int{30, 1}},
		{"stem/group0/r0/project/conv/kernel", []int{1, 1, 30, 10}},
		{"stem/group1/r0/se/reduce/kernel", []int{60, 2}},
		{"stem/group1/r0/project/conv/kernel", []int{1, 1, 60, 15}},
		{"blocks/6/r0/se/reduce/kernel", []int{312, 10}},  // L4: 52 → int(10.4)
		{"blocks/6/r0/se/expand/bias", []int{312}},        // back to 6·52
		{"blocks/15/r0/se/reduce/kernel", []int{432, 14}}, // L5: 72 → int(14.4)
		// Entry 4 (L4) from entry 2 (L2): two depthwise steps, then 15 → 52.
		{"blocks/4/resample1/downsample0/conv/kernel", []int{3, 3, 15}},
		{"blocks/4/resample1/downsample1/conv/kernel", []int{3, 3, 15}},
		{"blocks/4/resample1/project/conv/kernel", []int{1, 1, 15, 52}},
		{"endpoints/P3/conv/kernel", []int{1, 1, 26, 40}},
	}
	for _, c := range checks {
		if got := shape(c.name); !tensor.EqualShapes(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if _, ok := g.Param("blocks/4/resample1/downsample2/conv/kernel"); ok {
		t.Error("L2→L4 resampling has a third downsample")
	}
	if _, ok := g.Param("blocks/4/resample1/squeeze/conv/kernel"); ok {
		t.Error("Mobile resampling has an α 1×1 conv")
	}
	adds, fuses := map[string]bool{}, map[string]int{}
	for _, n := range g.Nodes {
		if n.Op != nn.OpAdd {
			continue
		}
		switch {
		case strings.HasSuffix(n.Name, "/add"):
			adds[strings.TrimSuffix(n.Name, "/r0/add")] = true
		case strings.HasSuffix(n.Name, "/fuse"):
			fuses[strings.TrimSuffix(n.Name, "/fuse")] = len(n.Inputs)
		}
	}
	for idx := 2; idx < 18; idx++ {
		name := fmt.Sprintf("blocks/%d", idx)
		if !adds[name] {
			t.Errorf("%s has no residual add", name)
		}
		want := 2
		if idx == 15 {
			want = 3
		}
		if fuses[name] != want {
			t.Errorf("%s fuses %d features, want %d", name, fuses[name], want)
		}
	}
	if len(adds) != 16 {
		t.Errorf("%d residual adds, want 16 (none in the stem)", len(adds))
	}
}

// A filter-size scale too small for the narrowest level is an error, not a
// panic.
func TestMobileRejectsZeroWidth(t *testing.T) {
	a, _ := spinenet.Lookup("mobile-49XS")
	a.FilterSizeScale = 0.1 // int(8·0.1) = 0
	if _, err := spinenet.Build(a, spinenet.DefaultOptions()); err == nil || !strings.Contains(err.Error(), "level 0") {
		t.Errorf("Build = %v, want a zero-width error for level 0", err)
	}
}
