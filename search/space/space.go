// Package space is SpineNet's architecture-search space as data (shared spec
// nas.md §1.2, §5): a Space configuration, the per-block Decisions that pick
// one architecture from it, and the maps between Decisions and
// spinenet.Arch — Decode (the spinenet validator has the last word), Encode,
// a canonical form and a stable hash. Sample draws uniformly over distinct
// level sequences and connections, Counts sizes the space exactly (math/big),
// and the mutation operators of nas.md §2 change one decision and keep the
// result valid.
//
// # The space
//
// An architecture is a fixed stem followed by the permuted blocks: first the
// intermediate blocks, whose base levels are an ordering of a multiset (the
// order is a choice of level from the levels that remain, so blocks of equal
// level are not told apart), then one output block per output level, in an
// order of their own. Each permuted block takes two distinct parents from
// its candidate pool: the stem candidates followed by the permuted blocks
// built so far. An intermediate block takes them from the last Window pool
// entries, an output block from the whole pool. Intermediate blocks may shift
// their level (paper: {−1, 0, +1, +2}); every block may pick its type
// (paper: bottleneck or residual).
//
// # Named spaces
//
// spinenet49 is the paper's space for SpineNet-49: the 10 intermediate base
// levels are R0-SP53's {L2:1, L3:3, L4:5, L5:1} (paper Table 1, R0-SP53's
// permuted {1,4,6,2,1,1} less the five outputs L3–L7). That is the multiset
// nas.md's 10!/(1!·3!·5!·1!) implies; SpineNet-49's own levels {2:1, 3:1,
// 4:3, 5:3, 6:1, 7:1} are what the block adjustments made of it. The
// R-family spaces r35-sp18, r23-sp30, r14-sp39 and r0-sp53 search the
// permutation and the connections only. Their ResNet stems are approximated;
// see Space.Note and docs/search.md.
package space

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spinenet-go/spinenet/spinenet"
)

// PaperShifts are the level shifts of the paper's block adjustments
// (nas.md §1.2): an intermediate block moves by −1, 0, +1 or +2 levels.
var PaperShifts = []int{-1, 0, 1, 2}

// PaperTypes are the block types every block chooses between in the paper.
var PaperTypes = []spinenet.BlockType{spinenet.Bottleneck, spinenet.Residual}

// DefaultWindow is the paper's search-time rule (nas.md §1.2, paper §5.1):
// an intermediate block takes parents only among the last 5 built blocks.
const DefaultWindow = 5

// NoWindow as Space.Window lets intermediate blocks take any earlier pool
// entry, like output blocks.
const NoWindow = -1

// Space configures a search space. The zero value is not usable; start
// from Named or fill every field and call Validate.
type Space struct {
	// Name names the space; decoded Arches are called Name-HASH.
	Name string `json:"name"`
	// Note says where the space departs from the paper, if anywhere.
	Note string `json:"note,omitempty"`
	// Intermediate is the multiset of intermediate base levels: level →
	// number of blocks.
	Intermediate map[int]int `json:"intermediate"`
	// OutputLevels are the levels of the output blocks, one block each; they
	// must be consecutive (MinLevel..MaxLevel of the decoded Arch).
	OutputLevels []int `json:"output_levels"`
	// StemLevels is the stem as paper Table 1 gives it: blocks at L2, L3, L4,
	// L5. The builder's stem is two L2 bottlenecks (features 0 and 1);
	// further stem blocks become a fixed, chained prefix of the block list
	// (see Prefix). Fewer than two L2 blocks cannot be built: two are.
	StemLevels [4]int `json:"stem_levels"`
	// StemCandidates are the feature-list entries of the stem that permuted
	// blocks may take as parents (nas.md's m of them); nil picks the default
	// of DefaultCandidates.
	StemCandidates []int `json:"stem_candidates,omitempty"`
	// Window is how many of the latest pool entries an intermediate block
	// may take parents from (DefaultWindow), or NoWindow.
	Window int `json:"window"`
	// Shifts are the level shifts an intermediate block may take; nil or
	// {0} turns the level adjustment off.
	Shifts []int `json:"shifts,omitempty"`
	// Types are the block types a block may take; one type turns the type
	// adjustment off.
	Types []spinenet.BlockType `json:"types"`
	// MinBlockLevel and MaxBlockLevel bound a shifted level. nas.md says
	// levels 1–7; spinenet.Validate refuses level 1, so the named spaces
	// use 2–7.
	MinBlockLevel int `json:"min_block_level"`
	MaxBlockLevel int `json:"max_block_level"`
	// The scaling fields every decoded Arch gets (spinenet.Arch).
	FilterSizeScale     float64 `json:"filter_size_scale"`
	ResampleAlpha       float64 `json:"resample_alpha"`
	BlockRepeats        int     `json:"block_repeats"`
	EndpointsNumFilters int     `json:"endpoints_num_filters"`
}

// rFamilyNote is the stem gap the R-family spaces share.
const rFamilyNote = "stem approximated: the builder's stem is two L2 bottlenecks; the ResNet stem blocks above them " +
	"are a fixed prefix of two-input blocks, each fed by the two entries before it through SpineNet's resampling " +
	"(not single-input ResNet stages with strided first blocks). Stem candidates: both L2 stem blocks and the last " +
	"block of every further stem level [E]"

// named holds the built-in spaces, in the order Names lists them.
var named = []Space{
	{
		Name:            "spinenet49",
		Intermediate:    map[int]int{2: 1, 3: 3, 4: 5, 5: 1},
		StemLevels:      [4]int{2, 0, 0, 0},
		Shifts:          PaperShifts,
		Types:           PaperTypes,
		Note:            "an L2 block shifted by −1 (level 1) is not buildable: spinenet.Validate wants levels ≥ 2",
		FilterSizeScale: 1, ResampleAlpha: 0.5, BlockRepeats: 1, EndpointsNumFilters: 256,
	},
	{Name: "r35-sp18", Intermediate: map[int]int{2: 1}, StemLevels: [4]int{2, 3, 5, 1}, Note: rFamilyNote},
	{Name: "r23-sp30", Intermediate: map[int]int{2: 1, 3: 1, 4: 3}, StemLevels: [4]int{2, 2, 2, 1}, Note: rFamilyNote},
	{Name: "r14-sp39", Intermediate: map[int]int{2: 2, 3: 2, 4: 4}, StemLevels: [4]int{1, 1, 1, 1},
		Note: rFamilyNote + "; Table 1's stem has one L2 block, the built one has two (one bottleneck more than the paper's)"},
	{Name: "r0-sp53", Intermediate: map[int]int{2: 1, 3: 3, 4: 5, 5: 1}, StemLevels: [4]int{2, 0, 0, 0}},
}

// ErrUnknownSpace is returned by Named for a name it does not know.
var ErrUnknownSpace = errors.New("unknown search space")

// Names returns the built-in space names.
func Names() []string {
	out := make([]string, len(named))
	for i, s := range named {
		out[i] = s.Name
	}
	return out
}

// Named returns a fresh copy of a built-in space (case-insensitive).
func Named(name string) (*Space, error) {
	for _, s := range named {
		if strings.EqualFold(s.Name, name) {
			c := s
			c.Intermediate = map[int]int{}
			for l, n := range s.Intermediate {
				c.Intermediate[l] = n
			}
			c.OutputLevels = []int{3, 4, 5, 6, 7}
			c.Window = DefaultWindow
			c.Shifts = slices.Clone(s.Shifts)
			if c.Types == nil {
				c.Types = []spinenet.BlockType{spinenet.Bottleneck}
			}
			c.Types = slices.Clone(c.Types)
			c.MinBlockLevel, c.MaxBlockLevel = 2, 7
			if c.FilterSizeScale == 0 {
				// The R-family is built from ResNet-50's blocks at
				// SpineNet-49's scaling (the r0-sp53 ResNet-order file).
				c.FilterSizeScale, c.ResampleAlpha, c.BlockRepeats, c.EndpointsNumFilters = 1, 0.5, 1, 256
			}
			return &c, nil
		}
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownSpace, name, strings.Join(Names(), ", "))
}

// SpaceError reports a Space configuration that cannot be searched.
type SpaceError struct {
	Space, Field, Reason string
}

// Error names the space, the field and what was expected.
func (e *SpaceError) Error() string {
	return fmt.Sprintf("search space %q: %s: %s", e.Space, e.Field, e.Reason)
}

// Validate checks the configuration: levels in range, consecutive distinct
// output levels, distinct shifts that leave every base level a buildable
// choice, known distinct types, a window of at least 2 (or NoWindow), and
// at least two distinct stem candidates that the stem has.
func (s *Space) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &SpaceError{Space: s.Name, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if s.MinBlockLevel < 2 || s.MaxBlockLevel > 10 || s.MinBlockLevel > s.MaxBlockLevel {
		return bad("min_block_level/max_block_level", "%d..%d, want 2 ≤ min ≤ max ≤ 10 (spinenet.Validate's levels)", s.MinBlockLevel, s.MaxBlockLevel)
	}
	for l, n := range s.Intermediate {
		if l < s.MinBlockLevel || l > s.MaxBlockLevel {
			return bad("intermediate", "level %d, want %d..%d", l, s.MinBlockLevel, s.MaxBlockLevel)
		}
		if n < 0 || n > 64 {
			return bad("intermediate", "%d blocks on level %d, want 0..64", n, l)
		}
	}
	if len(s.OutputLevels) == 0 {
		return bad("output_levels", "none, want at least one")
	}
	lv := slices.Sorted(slices.Values(s.OutputLevels))
	for i, l := range lv {
		if l < s.MinBlockLevel || l > s.MaxBlockLevel {
			return bad("output_levels", "level %d, want %d..%d", l, s.MinBlockLevel, s.MaxBlockLevel)
		}
		if i > 0 && l != lv[i-1]+1 {
			return bad("output_levels", "%v, want distinct consecutive levels (one output per level min..max)", s.OutputLevels)
		}
	}
	seen := map[int]bool{}
	for _, d := range s.Shifts {
		if seen[d] {
			return bad("shifts", "%d appears twice", d)
		}
		seen[d] = true
	}
	for l, n := range s.Intermediate {
		if n > 0 && len(s.legalShifts(l)) == 0 {
			return bad("shifts", "%v leave base level %d no level in %d..%d", s.Shifts, l, s.MinBlockLevel, s.MaxBlockLevel)
		}
	}
	if len(s.Types) == 0 {
		return bad("types", "none, want bottleneck and/or residual")
	}
	for i, t := range s.Types {
		if t != spinenet.Bottleneck && t != spinenet.Residual {
			return bad("types", "%q, want %q or %q", t, spinenet.Bottleneck, spinenet.Residual)
		}
		if slices.Contains(s.Types[:i], t) {
			return bad("types", "%q appears twice", t)
		}
	}
	if s.Window != NoWindow && s.Window < 2 {
		return bad("window", "%d, want at least 2 (two distinct parents) or %d for no window", s.Window, NoWindow)
	}
	for i, n := range s.StemLevels {
		if n < 0 || n > 64 {
			return bad("stem_levels", "%d blocks on L%d, want 0..64", n, i+2)
		}
	}
	nstem := spinenet.StemOutputs + len(s.Prefix())
	cands := s.Candidates()
	if len(cands) < 2 {
		return bad("stem_candidates", "%v, want at least two (a first block needs two distinct parents)", cands)
	}
	for i, c := range cands {
		if c < 0 || c >= nstem {
			return bad("stem_candidates", "feature %d, want a stem feature 0..%d", c, nstem-1)
		}
		if i > 0 && c <= cands[i-1] {
			return bad("stem_candidates", "%v, want increasing feature indices", cands)
		}
	}
	return nil
}

// legalShifts returns the shifts that keep base level l inside
// MinBlockLevel..MaxBlockLevel, in the order of Shifts ({0} when shifts are
// off).
func (s *Space) legalShifts(l int) []int {
	shifts := s.Shifts
	if len(shifts) == 0 {
		shifts = []int{0}
	}
	var out []int
	for _, d := range shifts {
		if l+d >= s.MinBlockLevel && l+d <= s.MaxBlockLevel {
			out = append(out, d)
		}
	}
	return out
}

// shiftsOn reports whether intermediate blocks can shift their level.
func (s *Space) shiftsOn() bool {
	return len(s.Shifts) > 1 || (len(s.Shifts) == 1 && s.Shifts[0] != 0)
}

// Prefix returns the fixed blocks that stand for the stem blocks beyond the
// builder's two L2 bottlenecks: StemLevels[0]−2 more at L2, then the L3, L4
// and L5 blocks, all bottlenecks and not outputs, each taking the two
// feature-list entries before it. Empty for SpineNet's stem {2,0,0,0}.
func (s *Space) Prefix() []spinenet.BlockSpec {
	var out []spinenet.BlockSpec
	for i, n := range s.StemLevels {
		if i == 0 {
			n -= spinenet.StemOutputs
		}
		for range n {
			f := spinenet.StemOutputs + len(out)
			out = append(out, spinenet.BlockSpec{Level: i + 2, Type: spinenet.Bottleneck, Inputs: [2]int{f - 2, f - 1}})
		}
	}
	return out
}

// DefaultCandidates returns the stem candidates a space with these stem
// levels gets by default: the builder's two L2 stem features (0 and 1, or
// the last two L2 entries when the stem has more), then the last block of
// each further stem level. For SpineNet's stem that is {0, 1}: nas.md's
// m = 2 [V]. For the ResNet stems of the R family the paper leaves m open
// (nas.md §1.7); this choice is an estimate [E].
func DefaultCandidates(stem [4]int) []int {
	s := Space{StemLevels: stem}
	prefix := s.Prefix()
	last := map[int]int{2: 1}
	for i, b := range prefix {
		last[b.Level] = spinenet.StemOutputs + i
	}
	out := []int{last[2] - 1, last[2]}
	for l := 3; l <= 5; l++ {
		if f, ok := last[l]; ok {
			out = append(out, f)
		}
	}
	return out
}

// Candidates returns the stem candidates: StemCandidates, or the default.
func (s *Space) Candidates() []int {
	if s.StemCandidates != nil {
		return slices.Clone(s.StemCandidates)
	}
	return DefaultCandidates(s.StemLevels)
}

// levelCount is one entry of a multiset of levels.
type levelCount struct{ level, n int }

// multiset returns Intermediate sorted by level, without empty levels.
func (s *Space) multiset() []levelCount {
	var out []levelCount
	for l, n := range s.Intermediate {
		if n > 0 {
			out = append(out, levelCount{l, n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].level < out[j].level })
	return out
}

// NumIntermediate is the number of intermediate blocks.
func (s *Space) NumIntermediate() int {
	k := 0
	for _, c := range s.multiset() {
		k += c.n
	}
	return k
}

// NumBlocks is the number of permuted blocks (intermediate and output),
// nas.md's N.
func (s *Space) NumBlocks() int { return s.NumIntermediate() + len(s.OutputLevels) }

// firstFeature is the feature-list index of the first permuted block.
func (s *Space) firstFeature() int { return spinenet.StemOutputs + len(s.Prefix()) }

// layout is what a space derives once for decoding, sampling and counting.
type layout struct {
	cands []int // stem candidates
	first int   // feature index of permuted block 0
	k, o  int   // intermediate and output blocks
}

func (s *Space) layout() layout {
	return layout{cands: s.Candidates(), first: s.firstFeature(), k: s.NumIntermediate(), o: len(s.OutputLevels)}
}

// poolFeature maps a position in the candidate pool to a feature index.
func (l layout) poolFeature(p int) int {
	if p < len(l.cands) {
		return l.cands[p]
	}
	return l.first + p - len(l.cands)
}

// poolPos maps a feature index to its pool position, or −1 when the
// feature is not in the pool.
func (l layout) poolPos(f int) int {
	if f >= l.first {
		return len(l.cands) + f - l.first
	}
	return slices.Index(l.cands, f)
}

// parentRange returns the pool positions [lo, hi) that permuted block j
// may take parents from.
func (s *Space) parentRange(l layout, j int) (lo, hi int) {
	hi = len(l.cands) + j
	if j < l.k && s.Window != NoWindow {
		lo = max(0, hi-s.Window)
	}
	return lo, hi
}
