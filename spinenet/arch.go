// Package spinenet holds the SpineNet family as data — block lists and
// scaling tables that a file or an architecture search can write — and the
// builder that turns an Arch into a trainable model.
//
// An Arch is the whole description of one backbone: the scale-permuted block
// list (spec §1.2; §8 for the Mobile variants) plus the scaling parameters of
// spec §2.2 (filter-size scale, resampling α, block repeats, endpoint width).
// Lookup returns the built-in ids (49S, 49, 96, 143, 143L, 190 and the Mobile
// 49XS, 49S, 49); ReadArch and Arch.Write move an Arch to and from JSON or
// YAML; Validate says precisely what is wrong with a hand-written one.
//
// # Weights files
//
// A backbone's weights are a safetensors file of float32 tensors named by
// their place in the built graph, plus metadata (MetaArch, MetaOptions) that
// rebuilds the graph:
//
//	stem/conv/kernel                       [7,7,3,64]     stem convolution
//	stem/bn/{gamma,beta,moving_mean,moving_variance}
//	stem/group{0,1}/r{R}/conv{1,2,3}/kernel                stem bottleneck R of group 0/1
//	stem/group0/r0/shortcut/conv/kernel                    the projection shortcut
//	blocks/{I}/resample{0,1}/{squeeze,downsample,expand}/conv/kernel
//	                                                       cross-scale connection from parent 0/1
//	                                                       of feature-list entry I (2…16, spec §1.2)
//	blocks/{I}/r{R}/conv{1,2,3}/kernel, …/bn{1,2,3}/…      block R of the group at entry I
//	endpoints/P{L}/conv/kernel, endpoints/P{L}/bn/…        the 1×1 endpoint of level L
//
// Every convolution's batch norm sits beside it (conv1 ↔ bn1, x/conv ↔
// x/bn) with the four tensors gamma, beta, moving_mean, moving_variance.
// Kernels are [KH,KW,Cin,Cout] (depthwise [KH,KW,C], dense [in,out]).
// Mobile blocks add expand/depthwise/se/project layers under the same
// prefixes; heads add head/class/… and head/box/… (detection) or
// head/dense/… (classification). `spinenet import` maps other
// implementations' names onto these.
package spinenet

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// BlockType is the kind of building block a spec row places.
type BlockType string

// The block types.
const (
	// Bottleneck is ResNet's 1×1 → 3×3 → 1×1 block with 4F output channels.
	Bottleneck BlockType = "bottleneck"
	// Residual is ResNet's basic 3×3 → 3×3 block with F output channels.
	Residual BlockType = "residual"
	// MBConv is the inverted bottleneck with squeeze-and-excitation of
	// SpineNet-Mobile (spec §8).
	MBConv BlockType = "mbconv"
)

// BlockSpec is one row of a scale-permuted block list: a block at Level
// whose two parents are earlier entries of the growing feature list (the
// stem's outputs come first, spec §1.2), and whether it is an output.
type BlockSpec struct {
	// Level is the pyramid level L of the block's output, stride 2^L input
	// pixels; Validate accepts 2..10.
	Level int `json:"level" yaml:"level"`
	// Type is Bottleneck or Residual in the ResNet family, MBConv in the
	// Mobile family.
	Type BlockType `json:"type" yaml:"type"`
	// Inputs are the two parents as 0-based feature-list indices: 0 and 1
	// are the stem's outputs and block row k is entry k+StemOutputs. Both
	// must come before this block's own entry and differ; each is resampled
	// to Level and the two are summed.
	Inputs [2]int `json:"inputs" yaml:"inputs,flow"`
	// Output marks the block as its level's endpoint (P<Level>): at most
	// one per level, and every level MinLevel..MaxLevel needs one.
	Output bool `json:"output,omitempty" yaml:"output,omitempty"`
}

// Family distinguishes the ResNet-block SpineNets from the MBConv ones.
type Family string

// The families.
const (
	FamilyResNet Family = "spinenet"        // bottleneck/residual blocks, spec §1–§3
	FamilyMobile Family = "spinenet-mobile" // MBConv blocks, spec §8
)

// Arch describes one SpineNet backbone completely.
type Arch struct {
	// Name is the model id, e.g. "49" or "mobile-49S".
	Name string `json:"name" yaml:"name"`
	// Family is FamilyResNet or FamilyMobile; it fixes the block types
	// allowed and the builder (stem, blocks, resampling) used.
	Family Family `json:"family" yaml:"family"`
	// Blocks is the scale-permuted block list, after the stem.
	Blocks []BlockSpec `json:"blocks" yaml:"blocks"`
	// MinLevel is the lowest output level, inclusive (3 for the built-in
	// ids: P3–P7); Validate wants 2 ≤ MinLevel ≤ MaxLevel ≤ 10.
	MinLevel int `json:"min_level" yaml:"min_level"`
	// MaxLevel is the highest output level, inclusive (7 for the built-in
	// ids).
	MaxLevel int `json:"max_level" yaml:"max_level"`
	// FilterSizeScale multiplies the per-level base widths (spec §2.1),
	// truncated to an integer.
	FilterSizeScale float64 `json:"filter_size_scale" yaml:"filter_size_scale"`
	// ResampleAlpha is α, the width reduction of cross-scale connections
	// (spec §3.1); unused by the Mobile family.
	ResampleAlpha float64 `json:"resample_alpha,omitempty" yaml:"resample_alpha,omitempty"`
	// BlockRepeats is the number of blocks in every block group (spec §2.2).
	BlockRepeats int `json:"block_repeats" yaml:"block_repeats"`
	// EndpointsNumFilters is the channel count of P3–P7.
	EndpointsNumFilters int `json:"endpoints_num_filters" yaml:"endpoints_num_filters"`
}

// StemOutputs is the number of feature-list entries the stem produces
// (two block groups at L2, or L1 and L2 for Mobile); block row k is list
// entry k+StemOutputs.
const StemOutputs = 2

// blocks49 is SPINENET_BLOCK_SPECS (spec §1.2): identical in the paper, the
// TPU code and TF2-beta. TF2 (2023) appends a 16th row, Block16TF2.
var blocks49 = []BlockSpec{
	{2, Bottleneck, [2]int{0, 1}, false},
	{4, Residual, [2]int{0, 1}, false},
	{3, Bottleneck, [2]int{2, 3}, false},
	{4, Bottleneck, [2]int{2, 4}, false},
	{6, Residual, [2]int{3, 5}, false},
	{4, Bottleneck, [2]int{3, 5}, false},
	{5, Residual, [2]int{6, 7}, false},
	{7, Residual, [2]int{6, 8}, false},
	{5, Bottleneck, [2]int{8, 9}, false},
	{5, Bottleneck, [2]int{8, 10}, false},
	{4, Bottleneck, [2]int{5, 10}, true},
	{3, Bottleneck, [2]int{4, 10}, true},
	{5, Bottleneck, [2]int{7, 12}, true},
	{7, Bottleneck, [2]int{5, 14}, true},
	{6, Bottleneck, [2]int{12, 14}, true},
}

// Block16TF2 is the extra L2 output row the 2023 TF2 code appends (spec
// §1.5). It only matters with MinLevel 2; append it to Blocks to get the
// TF2 topology.
var Block16TF2 = BlockSpec{2, Bottleneck, [2]int{2, 13}, true}

// blocksMobile is the SpineNet-Mobile list (spec §8): 16 MBConv rows, the
// indices shifted by the extra L2 block at the start.
var blocksMobile = []BlockSpec{
	{2, MBConv, [2]int{0, 1}, false},
	{2, MBConv, [2]int{1, 2}, false},
	{4, MBConv, [2]int{1, 2}, false},
	{3, MBConv, [2]int{3, 4}, false},
	{4, MBConv, [2]int{3, 5}, false},
	{6, MBConv, [2]int{4, 6}, false},
	{4, MBConv, [2]int{4, 6}, false},
	{5, MBConv, [2]int{7, 8}, false},
	{7, MBConv, [2]int{7, 9}, false},
	{5, MBConv, [2]int{9, 10}, false},
	{5, MBConv, [2]int{9, 11}, false},
	{4, MBConv, [2]int{6, 11}, true},
	{3, MBConv, [2]int{5, 11}, true},
	{5, MBConv, [2]int{8, 13}, true},
	{7, MBConv, [2]int{6, 15}, true},
	{6, MBConv, [2]int{13, 15}, true},
}

// scaling is SCALING_MAP (spec §2.2) and the Mobile scaling map (spec §8).
var scaling = []struct {
	id      string
	family  Family
	scale   float64
	alpha   float64
	repeats int
	endpts  int
}{
	{"49S", FamilyResNet, 0.65, 0.5, 1, 128},
	{"49", FamilyResNet, 1.0, 0.5, 1, 256},
	{"96", FamilyResNet, 1.0, 0.5, 2, 256},
	{"143", FamilyResNet, 1.0, 1.0, 3, 256},
	{"143L", FamilyResNet, 1.3, 1.0, 3, 256},
	{"190", FamilyResNet, 1.3, 1.0, 4, 512},
	{"mobile-49XS", FamilyMobile, 0.6, 0, 1, 24},
	{"mobile-49S", FamilyMobile, 0.65, 0, 1, 40},
	{"mobile-49", FamilyMobile, 1.0, 0, 1, 48},
}

// ErrUnknownModel is returned by Lookup for an id it does not know.
var ErrUnknownModel = errors.New("spinenet: unknown model id")

// List returns the built-in model ids.
func List() []string {
	ids := make([]string, len(scaling))
	for i, s := range scaling {
		ids[i] = s.id
	}
	return ids
}

// Lookup returns a fresh copy of the built-in Arch for id (case-insensitive,
// with or without a "spinenet-" prefix; Mobile ids start "mobile-").
func Lookup(id string) (*Arch, error) {
	key := strings.TrimPrefix(strings.ToLower(id), "spinenet-")
	for _, s := range scaling {
		if strings.ToLower(s.id) == key {
			a := &Arch{Name: s.id, Family: s.family, MinLevel: 3, MaxLevel: 7, FilterSizeScale: s.scale,
				ResampleAlpha: s.alpha, BlockRepeats: s.repeats, EndpointsNumFilters: s.endpts}
			if s.family == FamilyMobile {
				a.Blocks = slices.Clone(blocksMobile)
			} else {
				a.Blocks = slices.Clone(blocks49)
			}
			return a, nil
		}
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownModel, id, strings.Join(List(), ", "))
}

// ArchError reports what is wrong with an Arch; Row is the offending block
// row (0-based) or -1 for the Arch as a whole.
type ArchError struct {
	// Arch is the architecture's Name (may be empty).
	Arch string
	// Row is the 0-based index into Arch.Blocks, or -1.
	Row int
	// Reason says what is wrong and what was wanted, e.g. "level 11,
	// want 2..10".
	Reason string
}

// Error names the architecture, the block row when there is one, and
// the reason. It has no package prefix: "architecture" says where it comes
// from, and a caller usually prefixes the file name.
func (e *ArchError) Error() string {
	if e.Row < 0 {
		return fmt.Sprintf("architecture %q: %s", e.Arch, e.Reason)
	}
	return fmt.Sprintf("architecture %q: block row %d: %s", e.Arch, e.Row, e.Reason)
}

// Limits on an Arch's scaling fields, which Validate enforces. The largest
// published values (SpineNet-190: filter_size_scale 1.3, resample_alpha 1,
// block_repeats 4, endpoints_num_filters 512) are far inside them; they
// refuse a typo or a hostile file that would build a model of astronomic
// size, and NaN or infinity.
const (
	MaxFilterSizeScale     = 16.0
	MaxResampleAlpha       = 16.0
	MaxBlockRepeats        = 64
	MaxEndpointsNumFilters = 16384
)

// Validate checks that the Arch can be built: known family and block types,
// levels in range, every parent an earlier entry of the feature list, no two
// outputs on one level, an output for every level from MinLevel to MaxLevel,
// and positive scaling parameters.
func (a *Arch) Validate() error {
	bad := func(row int, format string, args ...any) error {
		return &ArchError{Arch: a.Name, Row: row, Reason: fmt.Sprintf(format, args...)}
	}
	switch a.Family {
	case FamilyResNet, FamilyMobile:
	default:
		return bad(-1, "family %q, want %q or %q", a.Family, FamilyResNet, FamilyMobile)
	}
	if a.MinLevel < 2 || a.MaxLevel > 10 || a.MinLevel > a.MaxLevel {
		return bad(-1, "levels %d..%d, want 2 ≤ min_level ≤ max_level ≤ 10", a.MinLevel, a.MaxLevel)
	}
	if !(a.FilterSizeScale > 0 && a.FilterSizeScale <= MaxFilterSizeScale) {
		return bad(-1, "filter_size_scale %v, want a number in (0, %v]", a.FilterSizeScale, MaxFilterSizeScale)
	}
	if a.Family == FamilyResNet && !(a.ResampleAlpha > 0 && a.ResampleAlpha <= MaxResampleAlpha) {
		return bad(-1, "resample_alpha %v, want a number in (0, %v]", a.ResampleAlpha, MaxResampleAlpha)
	}
	if a.BlockRepeats < 1 || a.BlockRepeats > MaxBlockRepeats {
		return bad(-1, "block_repeats %d, want 1..%d", a.BlockRepeats, MaxBlockRepeats)
	}
	if a.EndpointsNumFilters < 1 || a.EndpointsNumFilters > MaxEndpointsNumFilters {
		return bad(-1, "endpoints_num_filters %d, want 1..%d", a.EndpointsNumFilters, MaxEndpointsNumFilters)
	}
	if len(a.Blocks) == 0 {
		return bad(-1, "no blocks")
	}
	outputs := map[int]int{}
	for r, b := range a.Blocks {
		switch {
		case a.Family == FamilyResNet && b.Type != Bottleneck && b.Type != Residual:
			return bad(r, "block type %q, want %q or %q", b.Type, Bottleneck, Residual)
		case a.Family == FamilyMobile && b.Type != MBConv:
			return bad(r, "block type %q, want %q in the Mobile family", b.Type, MBConv)
		}
		if b.Level < 2 || b.Level > 10 {
			return bad(r, "level %d, want 2..10", b.Level)
		}
		self := r + StemOutputs
		for k, in := range b.Inputs {
			if in < 0 || in >= self {
				return bad(r, "input %d is feature %d, which does not exist yet (this block is feature %d; the stem gives 0 and 1)", k, in, self)
			}
		}
		if b.Inputs[0] == b.Inputs[1] {
			return bad(r, "both inputs are feature %d", b.Inputs[0])
		}
		if b.Output {
			if prev, dup := outputs[b.Level]; dup {
				return bad(r, "second output on level %d (row %d is already its output)", b.Level, prev)
			}
			outputs[b.Level] = r
		}
	}
	for l := a.MinLevel; l <= a.MaxLevel; l++ {
		if _, ok := outputs[l]; !ok {
			return bad(-1, "no output block on level %d (outputs are needed for every level %d..%d)", l, a.MinLevel, a.MaxLevel)
		}
	}
	return nil
}
