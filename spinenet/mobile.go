package spinenet

import (
	"fmt"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// SpineNet-Mobile (spec §8) follows TF2-mobile (tensorflow/models
// official/vision/modeling/backbones/spinenet_mobile.py and the
// InvertedBottleneckBlock / SqueezeExcitation layers it uses) wherever the
// sources differ. The construction, with the rules that fix every width:
//
//   - Widths: mobileFilterSizeMap[level] × FilterSizeScale, truncated with
//     int() — the stem's L0/L1 widths included (TF2 scales them too). For
//     mobile-49S (0.65) that is 5, 10, 15, 26, 52, 72; for mobile-49XS
//     (0.6) 4, 9, 14, 24, 48, 67.
//   - Stem: 3×3 stride-2 conv to width(L0), BN, act; MBConv width(L0) →
//     width(L1), stride 1 (list entry 0, at L1); MBConv width(L1) →
//     width(L2), stride 2 (list entry 1, at L2). No max-pool, no stochastic
//     depth.
//   - MBConv (mbconv below): 1×1 expand to 6·C_in, BN, act; depthwise 3×3
//     (stride), BN, act; squeeze-excite; 1×1 project to C_out, BN, no act;
//     residual add, with stochastic depth on the branch, only when C_in =
//     C_out and the stride is 1. No activation after the add.
//   - Squeeze-excite: global average pool; dense to max(1, int(C_in·0.2))
//     with bias, where C_in is the block's input width, not the expanded
//     one (TF2 expand_se_in_filters=False; divisible_by 1 leaves it as is);
//     ReLU (TF2's se_inner_activation; TPU-mb uses swish); dense back to
//     6·C_in with bias; sigmoid gate multiplied onto the features. TF2 gates
//     the first block of each group with hard-sigmoid (repeats with
//     sigmoid); the graph has no hard-sigmoid op, so every gate here is the
//     sigmoid of TPU-mb and of TF2's repeats. Neither choice changes a
//     parameter or a multiply-add. The dense layers hold the 1×1 SE convs'
//     weights as [in,out] kernels.
//   - Scale-permuted blocks: every block is one group of BlockRepeats
//     MBConvs width(L) → width(L), stride 1 (so all have the residual add);
//     row k of n gets stochastic-depth rate init·k/n (n = 16). Repeats chain
//     one into the next as in the ResNet family (TF2 applies every repeat
//     to the group input and keeps only the last, which no shipped config
//     reaches: all use one repeat).
//   - Resampling (resample below), per parent: no α 1×1 conv; to go down,
//     depthwise 3×3 stride 2, BN, act, once per level; to go up, nearest
//     resize to the target level's ⌈size/2^L⌉ (exact for any input size,
//     like TPU; TF2's integer scale assumes divisible sizes); then 1×1 conv
//     to width(target), BN, no act. Parents are summed, then act.
//   - Out-degree-0 merge into output blocks as in the ResNet family (spec
//     §1.3), decided from level and channel count: in the 16-row list, list
//     entry 12 (row 10, L5) is added into entry 15 (the P5 output).
//   - Endpoints: 1×1 conv to EndpointsNumFilters, BN, act (act only with
//     Options.EndpointActivation).
//   - No convolution has a bias except the SE dense layers.
//
// Options.Activation is used everywhere except inside SE (TF2 configs use
// hard_swish for mobile-49/49S and swish for 49XS, spec §3.3; the caller
// picks). Options.Padding applies to the stride-2 convolutions;
// Options.Pooling is ignored (there are no pools). Block levels are not
// clamped to MaxLevel as TF2 does; Validate's rules apply instead.
//
// With these rules the 91-class separable RetinaNet model (detection
// package) has exactly the simulator's counts of spec §8 — see
// mobile_test.go.

// mobileFilterSizeMap is TF2-mobile's FILTER_SIZE_MAP: base width per level
// (L0 is the stem conv). Levels past 7 use 112.
var mobileFilterSizeMap = map[int]int{0: 8, 1: 16, 2: 24, 3: 40, 4: 80, 5: 112, 6: 112, 7: 112}

const (
	// mobileExpandRatio is the MBConv expansion (TF2 expand_ratio 6).
	mobileExpandRatio = 6
	// mobileSERatio is the squeeze-excite ratio (TF2 se_ratio 0.2).
	mobileSERatio = 0.2
)

type mobileBuilder struct {
	*builder
}

func (m *mobileBuilder) width(level int) int {
	f, ok := mobileFilterSizeMap[level]
	if !ok {
		f = 112
	}
	return int(float64(f) * m.arch.FilterSizeScale)
}

// buildMobile constructs a SpineNet-Mobile backbone (spec §8); see the
// comment at the top of this file for the rules.
func buildMobile(a *Arch, opt Options) (*Backbone, error) {
	m := &mobileBuilder{&builder{arch: a, opt: opt, g: nn.NewGraph()}}
	levels := []int{0, 1, 2}
	for _, b := range a.Blocks {
		levels = append(levels, b.Level)
	}
	for _, l := range levels {
		if m.width(l) < 1 {
			return nil, fmt.Errorf("spinenet: %s: filter_size_scale %v leaves level %d with no channels", a.Name, a.FilterSizeScale, l)
		}
	}
	m.root = nn.NewScope(m.g, opt.Seed)
	m.root.BN = opt.BN
	m.root.SkipInit, m.root.ShapeOnly = opt.SkipInit, opt.ShapeOnly
	return m.build(), nil
}

func (m *mobileBuilder) build() *Backbone {
	act := m.opt.Activation
	x := m.root.Input("image", m.opt.InputChannels)

	// Stem: 3×3/2 conv to width(L0), then MBConv groups at L1 (stride 1)
	// and L2 (stride 2).
	stem := m.root.Sub("stem").WithGroup("stem")
	h := stem.Act(stem.BatchNorm(stem.Conv(x, "conv", nn.ConvSpec{K: 3, Out: m.width(0), Stride: 2, Pad: m.pad(3, 2)}), "bn"), act)
	for gi, stride := range [StemOutputs]int{1, 2} {
		level := gi + 1
		h = m.mbGroup(stem.Sub(fmt.Sprintf("group%d", gi)), h, m.width(level), stride, 0)
		m.feats = append(m.feats, feature{node: h, level: level, typ: MBConv, channels: m.width(level)})
	}

	return m.permute(m)
}

// channels implements family: every Mobile block outputs its level's width.
func (m *mobileBuilder) channels(spec BlockSpec) int { return m.width(spec.Level) }

// group implements family: an MBConv group at stride 1.
func (m *mobileBuilder) group(s *nn.Scope, x int, spec BlockSpec, rate float64) int {
	return m.mbGroup(s, x, m.width(spec.Level), 1, rate)
}

// resample brings parent p to level target with the given width: one
// depthwise 3×3/2 conv + BN + act per level down, or a nearest resize up,
// then a 1×1 conv + BN.
func (m *mobileBuilder) resample(s *nn.Scope, p feature, target, channels int) int {
	h := p.node
	switch {
	case target > p.level:
		for i := range target - p.level {
			ds := s.Sub(fmt.Sprintf("downsample%d", i))
			h = ds.Act(ds.BatchNorm(ds.Conv(h, "conv", nn.ConvSpec{K: 3, Stride: 2, Pad: m.pad(3, 2), Depthwise: true}), "bn"), m.opt.Activation)
		}
	case target < p.level:
		h = s.Resize(h, "upsample", target)
	}
	return s.BatchNorm(s.Conv(h, "project/conv", nn.ConvSpec{K: 1, Out: channels, Stride: 1}), "project/bn")
}

// group adds BlockRepeats MBConvs to width out; only the first has the
// given stride.
func (m *mobileBuilder) mbGroup(s *nn.Scope, x, out, stride int, rate float64) int {
	for r := range m.arch.BlockRepeats {
		x = m.mbconv(s.Sub(fmt.Sprintf("r%d", r)), x, out, stride, rate)
		stride = 1
	}
	return x
}

// mbconv adds one inverted bottleneck with squeeze-excite.
func (m *mobileBuilder) mbconv(s *nn.Scope, x, out, stride int, rate float64) int {
	act := m.opt.Activation
	in := s.N(x).Channels
	expanded := in * mobileExpandRatio
	h := x
	if mobileExpandRatio > 1 {
		h = s.Act(s.BatchNorm(s.Conv(h, "expand/conv", nn.ConvSpec{K: 1, Out: expanded, Stride: 1}), "expand/bn"), act)
	}
	h = s.Act(s.BatchNorm(s.Conv(h, "depthwise/conv", nn.ConvSpec{K: 3, Stride: stride, Pad: m.pad(3, stride), Depthwise: true}), "depthwise/bn"), act)

	se := s.Sub("se")
	g := se.GlobalAvgPool(h, "pool")
	g = se.Act(se.Dense(g, "reduce", max(1, int(float64(in)*mobileSERatio)), true, nil, nil), tensor.ActReLU)
	g = se.Act(se.Dense(g, "expand", expanded, true, nil, nil), tensor.ActSigmoid)
	h = se.ScaleChannels(h, g, "gate")

	h = s.BatchNorm(s.Conv(h, "project/conv", nn.ConvSpec{K: 1, Out: out, Stride: 1}), "project/bn")
	if in == out && stride == 1 {
		h = s.StochasticDepth(h, rate)
		h = s.Add("add", h, x)
	}
	return h
}
