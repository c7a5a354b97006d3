package spinenet

import (
	"fmt"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// PoolingRule selects how a cross-scale connection downsamples by more than
// 2× after its stride-2 convolution (spec §3.1). Pools have no parameters,
// so the rule changes numbers, not sizes.
type PoolingRule string

const (
	// PoolTF2 repeats a 3×3 stride-2 max-pool once per remaining factor of
	// two (TF2 and TF2-beta). The default.
	PoolTF2 PoolingRule = "tf2"
	// PoolTPU uses one max-pool for the remaining ratio r = 2^(ΔL−1):
	// kernel 3 when r is 2, else 5, stride r (TPU HEAD since d231558, and the
	// mmdetection port). The stride comes from the level difference, so the
	// output is exactly the target level's ⌈H/2^L⌉ for every input size and
	// the TPU's resize fallback for non-divisible sizes is never needed.
	PoolTPU PoolingRule = "tpu"
)

// PaddingRule selects the padding of strided convolutions and pools.
type PaddingRule string

const (
	// PadSame is TensorFlow's 'same' padding (TF2; asymmetric — one more row
	// and column after — for stride 2 on even inputs). The default.
	PadSame PaddingRule = "same"
	// PadSymmetric pads k/2 on every side (TPU's fixed padding for strided
	// convolutions, PyTorch ports). Output sizes are the same as PadSame for
	// the odd kernels SpineNet uses.
	PadSymmetric PaddingRule = "symmetric"
)

// Options are the construction choices that are not part of the
// architecture. DefaultOptions gives the official TF2 protocol-C setting.
type Options struct {
	// Activation is used everywhere (stem, resampling, fusion, blocks,
	// endpoints). Protocol C and every official yaml use swish; the TF2 code
	// default and protocols A/B use ReLU (spec §3.3).
	Activation tensor.Activation
	// EndpointActivation applies Activation after the endpoint batch norms,
	// as the official code does; the mmdetection port leaves it out.
	EndpointActivation bool
	// BN is the batch-norm momentum and epsilon (spec §3.4).
	BN nn.BNConfig
	// StochasticDepth is the drop rate of the last block row (TF's
	// init_stochastic_depth_rate); row k of n, counted from 1, gets
	// rate·k/n (spec §3.5: k/15 for the 15-row lists). 0 disables it.
	StochasticDepth float64
	// Pooling is the downsampling rule of cross-scale connections,
	// PoolTF2 (default) or PoolTPU; Build refuses any other value.
	Pooling PoolingRule
	// Padding is the padding of strided convolutions and pools, PadSame
	// (default) or PadSymmetric; Build refuses any other value.
	Padding PaddingRule
	// InputChannels is the image channel count (3).
	InputChannels int
	// StemFilters is the output width of the stem's 7×7/2 convolution; 0
	// keeps the paper's and the official code's 64, which filter_size_scale
	// does not scale. A proxy departure, not SpineNet: at filter scale 1/16
	// the unscaled stem is most of a small model's multiply-adds (75 % of
	// the fast search proxy's), the same for every candidate, so a proxy
	// task narrows it to spend its time on the searched blocks. Only the
	// ResNet-block family has this stem; Build refuses it for Mobile, whose
	// stem scales with filter_size_scale already.
	StemFilters int
	// Seed drives the weight initializers.
	Seed uint64
	// SkipInit leaves the weights zero instead of drawing them (γ stays 1):
	// much faster when the weights are loaded next.
	SkipInit bool
	// ShapeOnly builds the graph without allocating weights (nn.Scope
	// ShapeOnly): it can be accounted — parameters, multiply-adds, shapes —
	// but not run. An architecture search prices candidates this way.
	ShapeOnly bool
}

// DefaultOptions returns swish, endpoint activation, TF2 batch norm
// (0.99, 1e-3), no stochastic depth, TF2 pooling and 'same' padding.
func DefaultOptions() Options {
	return Options{Activation: tensor.ActSwish, EndpointActivation: true, BN: nn.DefaultBN,
		Pooling: PoolTF2, Padding: PadSame, InputChannels: 3, Seed: 1}
}

// paperStemFilters is the stem convolution's width in the paper and the
// official code (spec §1.1), the default of Options.StemFilters.
const paperStemFilters = 64

// MaxStemFilters bounds Options.StemFilters.
const MaxStemFilters = 4096

// filterSizeMap is FILTER_SIZE_MAP (spec §2.1): base width per level.
var filterSizeMap = map[int]int{1: 32, 2: 64, 3: 128, 4: 256, 5: 256, 6: 256, 7: 256}

// baseFilters returns the base width of a level; levels past 7 use 256.
func baseFilters(level int) int {
	if f, ok := filterSizeMap[level]; ok {
		return f
	}
	return 256
}

// Backbone is a built SpineNet: the graph (input "image", outputs "P3"…
// "P7") and what it was built from.
type Backbone struct {
	// Graph is the whole model graph; heads are added to it.
	Graph *nn.Graph
	// Arch is the architecture given to Build (the same pointer, not a
	// copy).
	Arch *Arch
	// Options are the construction options Build was given.
	Options Options
	// Endpoints maps each output level to its graph output node.
	Endpoints map[int]int
}

// feature is an entry of the growing feature list.
type feature struct {
	node     int
	level    int
	typ      BlockType
	channels int
	out      int // out-degree
}

// Build constructs the backbone graph for a validated Arch.
func Build(a *Arch, opt Options) (*Backbone, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if opt.InputChannels < 1 {
		return nil, fmt.Errorf("spinenet: Options.InputChannels %d, want ≥ 1", opt.InputChannels)
	}
	switch opt.Pooling {
	case PoolTF2, PoolTPU:
	default:
		return nil, fmt.Errorf("spinenet: Options.Pooling %q, want %q or %q", opt.Pooling, PoolTF2, PoolTPU)
	}
	switch opt.Padding {
	case PadSame, PadSymmetric:
	default:
		return nil, fmt.Errorf("spinenet: Options.Padding %q, want %q or %q", opt.Padding, PadSame, PadSymmetric)
	}
	if opt.StemFilters < 0 || opt.StemFilters > MaxStemFilters {
		return nil, fmt.Errorf("spinenet: Options.StemFilters %d, want 1..%d (0: the paper's %d)", opt.StemFilters, MaxStemFilters, paperStemFilters)
	}
	if a.Family == FamilyMobile && opt.StemFilters != 0 {
		return nil, fmt.Errorf("spinenet: %s: Options.StemFilters %d: the Mobile stem scales with filter_size_scale; StemFilters is for the ResNet-block family", a.Name, opt.StemFilters)
	}
	if a.Family == FamilyMobile {
		return buildMobile(a, opt)
	}
	b := &builder{arch: a, opt: opt, g: nn.NewGraph()}
	b.root = nn.NewScope(b.g, opt.Seed)
	b.root.BN = opt.BN
	b.root.SkipInit, b.root.ShapeOnly = opt.SkipInit, opt.ShapeOnly
	return b.build()
}

type builder struct {
	arch  *Arch
	opt   Options
	g     *nn.Graph
	root  *nn.Scope
	feats []feature
}

// pad returns the padding of a k×k window with the given stride.
func (b *builder) pad(k, stride int) tensor.Padding {
	if b.opt.Padding == PadSymmetric || stride == 1 {
		return tensor.PadSymmetric(k / 2)
	}
	return tensor.PadSame
}

func (b *builder) filters(level int) int {
	return int(float64(baseFilters(level)) * b.arch.FilterSizeScale)
}

func outChannels(t BlockType, f int) int {
	if t == Bottleneck {
		return 4 * f
	}
	return f
}

func (b *builder) build() (*Backbone, error) {
	act := b.opt.Activation
	x := b.root.Input("image", b.opt.InputChannels)

	// Stem (spec §1.1): 7×7/2 conv to 64 (not scaled; Options.StemFilters
	// for a proxy), BN, act, 3×3/2 max-pool, then two bottleneck groups at L2.
	stemOut := paperStemFilters
	if b.opt.StemFilters > 0 {
		stemOut = b.opt.StemFilters
	}
	stem := b.root.Sub("stem").WithGroup("stem")
	h := stem.Act(stem.BatchNorm(stem.Conv(x, "conv", nn.ConvSpec{K: 7, Out: stemOut, Stride: 2, Pad: b.pad(7, 2)}), "bn"), act)
	h = stem.MaxPool(h, "maxpool", 3, 2, b.pad(3, 2))
	f2 := b.filters(2)
	for gi := range StemOutputs {
		h = b.blockGroup(stem.Sub(fmt.Sprintf("group%d", gi)), h, Bottleneck, f2, 0)
		b.feats = append(b.feats, feature{node: h, level: 2, typ: Bottleneck, channels: 4 * f2})
	}

	return b.permute(resNetFamily{b}), nil
}

// family is what differs between the ResNet-block and MBConv families in
// the scale-permuted part of the network.
type family interface {
	// channels is the output width of a block of spec's level and type.
	channels(spec BlockSpec) int
	// resample brings parent p to level with the given width.
	resample(s *nn.Scope, p feature, level, channels int) int
	// group adds the block group of spec on the fused input x.
	group(s *nn.Scope, x int, spec BlockSpec, rate float64) int
}

// permute adds the scale-permuted blocks after the stem features in
// b.feats (spec §1.2–§1.4, §3; §8 for Mobile) and the endpoints (§4), and
// returns the backbone.
func (b *builder) permute(fam family) *Backbone {
	a, act := b.arch, b.opt.Activation
	endpoints := map[int]int{}
	for r, spec := range a.Blocks {
		idx := r + StemOutputs
		sc := b.root.Sub(fmt.Sprintf("blocks/%d", idx))
		target := fam.channels(spec)
		var parents []int
		for j, in := range spec.Inputs {
			rs := sc.Sub(fmt.Sprintf("resample%d", j)).WithGroup(fmt.Sprintf("block %d/resample %d", idx, j))
			parents = append(parents, fam.resample(rs, b.feats[in], spec.Level, target))
		}
		// Merge out-degree-0 features of this level and width into an output
		// block (spec §1.3), decided from level and channels, not shapes.
		if spec.Output {
			for j := range b.feats {
				if fj := b.feats[j]; fj.out == 0 && fj.level == spec.Level && fj.channels == target {
					parents = append(parents, fj.node)
					b.feats[j].out++
				}
			}
		}
		for _, in := range spec.Inputs {
			b.feats[in].out++
		}
		blk := sc.WithGroup(fmt.Sprintf("block %d", idx))
		h := blk.Act(blk.Add("fuse", parents...), act)
		rate := b.opt.StochasticDepth * float64(r+1) / float64(len(a.Blocks))
		h = fam.group(blk, h, spec, rate)
		b.feats = append(b.feats, feature{node: h, level: spec.Level, typ: spec.Type, channels: target})
		if spec.Output && spec.Level >= a.MinLevel && spec.Level <= a.MaxLevel {
			endpoints[spec.Level] = h
		}
	}

	// Endpoints (spec §4): 1×1 conv to endpoints_num_filters, BN, act.
	bb := &Backbone{Graph: b.g, Arch: a, Options: b.opt, Endpoints: map[int]int{}}
	for l := a.MinLevel; l <= a.MaxLevel; l++ {
		name := fmt.Sprintf("P%d", l)
		ep := b.root.Sub("endpoints/" + name).WithGroup("endpoints")
		h := ep.BatchNorm(ep.Conv(endpoints[l], "conv", nn.ConvSpec{K: 1, Out: a.EndpointsNumFilters, Stride: 1}), "bn")
		if b.opt.EndpointActivation {
			h = ep.Act(h, act)
		}
		b.g.MarkOutput(h, name)
		bb.Endpoints[l] = h
	}
	return bb
}

// resNetFamily builds bottleneck and residual blocks (spec §1.4, §3.1).
type resNetFamily struct{ b *builder }

func (f resNetFamily) channels(spec BlockSpec) int {
	return outChannels(spec.Type, f.b.filters(spec.Level))
}

func (f resNetFamily) resample(s *nn.Scope, p feature, level, channels int) int {
	return f.b.resample(s, p, level, channels)
}

func (f resNetFamily) group(s *nn.Scope, x int, spec BlockSpec, rate float64) int {
	return f.b.blockGroup(s, x, spec.Type, f.b.filters(spec.Level), rate)
}

// resample connects parent p to a block at level target with width
// channels (spec §3.1): 1×1 conv to α·base, BN, act; downsample (stride-2
// 3×3 conv, BN, act, then max-pools) or nearest upsample; 1×1 conv to the
// target width, BN, no activation.
func (b *builder) resample(s *nn.Scope, p feature, target, channels int) int {
	act := b.opt.Activation
	base := float64(p.channels)
	if p.typ == Bottleneck {
		base /= 4
	}
	c := int(base * b.arch.ResampleAlpha)
	h := s.Act(s.BatchNorm(s.Conv(p.node, "squeeze/conv", nn.ConvSpec{K: 1, Out: c, Stride: 1}), "squeeze/bn"), act)
	switch {
	case target > p.level:
		h = s.Act(s.BatchNorm(s.Conv(h, "downsample/conv", nn.ConvSpec{K: 3, Out: c, Stride: 2, Pad: b.pad(3, 2)}), "downsample/bn"), act)
		if extra := target - p.level - 1; extra > 0 {
			if b.opt.Pooling == PoolTPU {
				k, stride := 5, 1<<extra
				if stride == 2 {
					k = 3
				}
				h = s.MaxPool(h, "maxpool", k, stride, b.pad(k, stride))
			} else {
				for i := range extra {
					h = s.MaxPool(h, fmt.Sprintf("maxpool%d", i), 3, 2, b.pad(3, 2))
				}
			}
		}
	case target < p.level:
		h = s.Resize(h, "upsample", target)
	}
	return s.BatchNorm(s.Conv(h, "expand/conv", nn.ConvSpec{K: 1, Out: channels, Stride: 1}), "expand/bn")
}

// blockGroup adds BlockRepeats blocks of type t with f filters; the first
// gets a projection shortcut when its input width differs (spec §1.4).
func (b *builder) blockGroup(s *nn.Scope, x int, t BlockType, f int, rate float64) int {
	for r := range b.arch.BlockRepeats {
		x = b.block(s.Sub(fmt.Sprintf("r%d", r)), x, t, f, rate)
	}
	return x
}

func (b *builder) block(s *nn.Scope, x int, t BlockType, f int, rate float64) int {
	act := b.opt.Activation
	out := outChannels(t, f)
	shortcut := x
	if s.N(x).Channels != out {
		shortcut = s.BatchNorm(s.Conv(x, "shortcut/conv", nn.ConvSpec{K: 1, Out: out, Stride: 1}), "shortcut/bn")
	}
	h := x
	if t == Bottleneck {
		h = s.Act(s.BatchNorm(s.Conv(h, "conv1", nn.ConvSpec{K: 1, Out: f, Stride: 1}), "bn1"), act)
		h = s.Act(s.BatchNorm(s.Conv(h, "conv2", nn.ConvSpec{K: 3, Out: f, Stride: 1, Pad: b.pad(3, 1)}), "bn2"), act)
		h = s.BatchNorm(s.Conv(h, "conv3", nn.ConvSpec{K: 1, Out: out, Stride: 1}), "bn3")
	} else {
		h = s.Act(s.BatchNorm(s.Conv(h, "conv1", nn.ConvSpec{K: 3, Out: f, Stride: 1, Pad: b.pad(3, 1)}), "bn1"), act)
		h = s.BatchNorm(s.Conv(h, "conv2", nn.ConvSpec{K: 3, Out: f, Stride: 1, Pad: b.pad(3, 1)}), "bn2")
	}
	h = s.StochasticDepth(h, rate)
	return s.Act(s.Add("add", h, shortcut), act)
}
