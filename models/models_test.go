package models

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// The registry has exactly one row per built-in architecture, in order.
func TestRegistryMatchesArchitectures(t *testing.T) {
	if got, want := IDs(), spinenet.List(); !slices.Equal(got, want) {
		t.Fatalf("registry ids %v, spinenet ids %v", got, want)
	}
	for _, v := range All() {
		if v.Arch().Name != v.ID {
			t.Errorf("%s: arch named %q", v.ID, v.Arch().Name)
		}
		got, err := Lookup("SpineNet-" + v.ID)
		if err != nil || got.ID != v.ID {
			t.Errorf("Lookup(SpineNet-%s) = %v, %v", v.ID, got.ID, err)
		}
	}
	if _, err := Lookup("50"); !errors.Is(err, spinenet.ErrUnknownModel) {
		t.Errorf("Lookup(50): %v", err)
	}
}

// The scaling-field rules (detection.HeadFor, detection.AnchorsFor, Derive)
// reproduce every row: an architecture that is not a row gets the head a
// row with the same scaling has.
func TestDeriveReproducesRows(t *testing.T) {
	for _, v := range All() {
		r, c := Derive(v.Arch())
		if r != v.RetinaNet || c != v.Classification {
			t.Errorf("%s: derived %+v %+v, row %+v %+v", v.ID, r, c, v.RetinaNet, v.Classification)
		}
	}
}

// Every count of spec §10.4, §10.5 and §8, to the unit, through Resolve
// and shape-only builds.
func TestPublishedCounts(t *testing.T) {
	type count struct {
		head    HeadKind
		size    int
		params  int
		withBN  int
		macs    int64
		classes int
	}
	cases := map[string][]count{
		"49S":         {{NoHead, 640, 9089215, 9146351, 0, 0}, {RetinaNetHead, 640, 11265942, 0, 30778541175, 91}},
		"49":          {{NoHead, 640, 21831488, 21920192, 0, 0}, {RetinaNetHead, 640, 28543383, 0, 85281555200, 91}, {Classification, 224, 22088745, 0, 0, 1001}},
		"96":          {{NoHead, 640, 36262976, 36385728, 0, 0}, {RetinaNetHead, 1024, 42974871, 0, 0, 91}, {Classification, 224, 36520233, 0, 0, 1001}},
		"143":         {{NoHead, 640, 60247616, 60413888, 0, 0}, {RetinaNetHead, 1280, 66959511, 0, 523337600000, 91}, {Classification, 224, 60504873, 0, 0, 1001}},
		"143L":        {{NoHead, 640, 100796257, 101011093, 0, 0}},
		"190":         {{NoHead, 640, 126587664, 126849216, 0, 0}, {RetinaNetHead, 1280, 163637351, 0, 0, 91}, {Classification, 224, 127101177, 0, 0, 1001}},
		"mobile-49XS": {{RetinaNetHead, 256, 872711, 0, 0, 91}},
		"mobile-49S":  {{RetinaNetHead, 384, 1030653, 0, 495890184, 91}},
		"mobile-49":   {{RetinaNetHead, 384, 2337579, 0, 980858928, 91}},
	}
	for id, counts := range cases {
		for _, c := range counts {
			d, err := Resolve(Request{ID: id})
			if err != nil {
				t.Fatal(err)
			}
			d.Options.ShapeOnly = true
			b, err := d.Build(c.head, c.classes)
			if err != nil {
				t.Fatal(err)
			}
			acc, err := b.Graph.Account(c.size, c.size)
			if err != nil {
				t.Fatal(err)
			}
			if acc.TrainableParams != c.params || (c.withBN != 0 && acc.ParamsWithBNStats != c.withBN) || (c.macs != 0 && acc.MACs != c.macs) {
				t.Errorf("%s %q at %d: %d params, %d with BN, %d MACs; want %d, %d, %d", id, c.head, c.size,
					acc.TrainableParams, acc.ParamsWithBNStats, acc.MACs, c.params, c.withBN, c.macs)
			}
		}
	}
}

// Overrides apply on top of the row; a Resolve never changes its input.
func TestResolveOverrides(t *testing.T) {
	d, err := Resolve(Request{ID: "49S", FilterSizeScale: 0.5, EndpointsNumFilters: 64, HeadFilters: 64, HeadConvs: 3, AnchorSize: 4,
		Activation: "relu", Pooling: "tpu", Padding: "symmetric", BNMomentum: 0.9, BNEpsilon: 1e-5, InputChannels: 1, StemFilters: 16, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if d.Arch.FilterSizeScale != 0.5 || d.Arch.EndpointsNumFilters != 64 || d.Arch.Name != "49S" {
		t.Errorf("arch %+v", d.Arch)
	}
	o := d.Options
	if o.Activation != tensor.ActReLU || o.Pooling != spinenet.PoolTPU || o.Padding != spinenet.PadSymmetric ||
		o.BN != (nn.BNConfig{Momentum: 0.9, Epsilon: 1e-5}) || o.InputChannels != 1 || o.StemFilters != 16 || o.Seed != 7 {
		t.Errorf("options %+v", o)
	}
	h := d.Head(3)
	if h.Filters != 64 || h.Convs != 3 || h.NumClasses != 3 || h.Activation != tensor.ActReLU || h.Separable {
		t.Errorf("head %+v", h)
	}
	if a := d.Anchors(); a.AnchorSize != 4 || a.MinLevel != 3 || a.MaxLevel != 7 {
		t.Errorf("anchors %+v", a)
	}
	if d, _ := Resolve(Request{ID: "mobile-49"}); d.Options.Activation != tensor.ActHardSwish || !d.Head(1).Separable {
		t.Errorf("mobile-49: %v, %+v", d.Options.Activation, d.Head(1))
	}

	in, _ := spinenet.Lookup("49")
	in.Name = "candidate-17"
	d, err = Resolve(Request{Arch: in, BlockRepeats: 2})
	if err != nil {
		t.Fatal(err)
	}
	d.Arch.Blocks[0].Level = 6
	if in.BlockRepeats != 1 || in.Blocks[0].Level != 2 {
		t.Errorf("Resolve changed its input: %+v", in)
	}
	if d.Variant != nil || d.Name() != "candidate-17" || d.RetinaNet.Filters != 256 || d.RetinaNet.InputSize != 1024 {
		t.Errorf("candidate: variant %v, name %q, %+v (block repeats 2 is 96's scaling: input 1024)", d.Variant, d.Name(), d.RetinaNet)
	}
}

// Bad requests name the field.
func TestResolveErrors(t *testing.T) {
	for _, c := range []struct {
		r     Request
		field string
	}{
		{Request{}, "id"},
		{Request{ID: "49", ArchFile: "x.yaml"}, "id"},
		{Request{ID: "49", Activation: "gelu"}, "activation"},
		{Request{ID: "49", Activation: "sigmoid"}, "activation"},
		{Request{ID: "49", Activation: "none"}, "activation"},
		{Request{ID: "49", Pooling: "avg"}, "pooling"},
		{Request{ID: "49", Padding: "valid"}, "padding"},
		{Request{ID: "49", StochasticDepth: 1}, "stochastic_depth"},
		{Request{ID: "49", BNMomentum: 1.5}, "bn_momentum"},
		{Request{ID: "49", InputChannels: 4}, "input_channels"},
		{Request{ID: "49", HeadFilters: -1}, "head_filters"},
		{Request{ID: "49", FilterSizeScale: -1}, "scaling"},
		{Request{ID: "49", FilterSizeScale: math.NaN()}, "scaling"},
		{Request{ID: "49", StochasticDepth: math.NaN()}, "stochastic_depth"},
		{Request{ID: "49", BNEpsilon: float32(math.Inf(1))}, "bn_epsilon"},
		{Request{ID: "49", AnchorSize: math.NaN()}, "anchor_size"},
		{Request{ID: "49", HeadFilters: 1 << 20}, "head_filters"},
		{Request{ID: "49", StemFilters: -1}, "stem_filters"},
		{Request{ID: "49", StemFilters: spinenet.MaxStemFilters + 1}, "stem_filters"},
		{Request{ID: "mobile-49", StemFilters: 16}, "stem_filters"},
	} {
		_, err := Resolve(c.r)
		var re *RequestError
		if !errors.As(err, &re) || re.Field != c.field {
			t.Errorf("%+v: %v, want a RequestError on %s", c.r, err, c.field)
		}
	}
	if _, err := Resolve(Request{ID: "50"}); !errors.Is(err, spinenet.ErrUnknownModel) {
		t.Errorf("unknown id: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nfamily: spinenet\nblocks: []\n"), 0o644)
	_, err := Resolve(Request{ArchFile: bad})
	var ae *spinenet.ArchError
	if !errors.As(err, &ae) {
		t.Errorf("invalid arch file: %v", err)
	}
	if _, err := (&Description{}).Build("fpn", 0); !errors.Is(err, ErrUnknownHead) {
		t.Errorf("unknown head: %v", err)
	}
}

// A shape-only build allocates no weights: SpineNet-190's RetinaNet
// (163.6 M parameters, 655 MB of float32) builds in a few MB, and the graph
// refuses to run, save or load.
func TestShapeOnlyAllocatesNoWeights(t *testing.T) {
	d, err := Resolve(Request{ID: "190"})
	if err != nil {
		t.Fatal(err)
	}
	d.Options.ShapeOnly = true
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := d.NewRetinaNet(91)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Errorf("shape-only 190 RetinaNet allocated %d MB", grew>>20)
	}
	g := m.Graph()
	if !g.ShapeOnly() {
		t.Fatal("graph not marked shape-only")
	}
	if err := g.SaveWeights(filepath.Join(t.TempDir(), "w.safetensors"), nil); !errors.Is(err, nn.ErrShapeOnly) {
		t.Errorf("SaveWeights: %v", err)
	}
	if err := g.LoadStateDict(nil, "nothing"); !errors.Is(err, nn.ErrShapeOnly) {
		t.Errorf("LoadStateDict: %v", err)
	}
	defer func() {
		if r := recover(); r != nn.ErrShapeOnly {
			t.Errorf("Forward: recovered %v, want ErrShapeOnly", r)
		}
	}()
	tp := autograd.NewInferenceTape()
	g.Forward(tp, tp.Constant(tensor.New(1, 64, 64, 3)))
}

// BenchmarkPriceCandidate measures what an architecture search pays to
// price one candidate: resolve, shape-only build of the RetinaNet, and
// accounting at 640.
func BenchmarkPriceCandidate(b *testing.B) {
	arch, _ := spinenet.Lookup("49")
	for b.Loop() {
		d, err := Resolve(Request{Arch: arch})
		if err != nil {
			b.Fatal(err)
		}
		d.Options.ShapeOnly = true
		m, err := d.NewRetinaNet(91)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Graph().Account(640, 640); err != nil {
			b.Fatal(err)
		}
	}
}
