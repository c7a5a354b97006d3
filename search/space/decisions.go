package space

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/spinenet-go/spinenet/spinenet"
)

// DecisionsVersion is the "v" field of the Decisions JSON.
const DecisionsVersion = 1

// Decision is what one permuted block chose.
type Decision struct {
	// Base is the block's level before the shift: for an intermediate block
	// the next level drawn from the multiset, for an output block its output
	// level.
	Base int
	// Shift moves an intermediate block's level (0 for output blocks).
	Shift int
	// Type is the block type.
	Type spinenet.BlockType
	// Parents are the two parents as feature-list indices (the stem's
	// outputs first, as in spinenet.BlockSpec), in increasing order.
	Parents [2]int
	// Output marks an output block.
	Output bool
}

// Level is the block's effective level, Base + Shift.
func (d Decision) Level() int { return d.Base + d.Shift }

// decisionJSON is Decision's JSON form; level is derived and checked.
type decisionJSON struct {
	Base    int                `json:"base"`
	Shift   int                `json:"shift"`
	Level   *int               `json:"level,omitempty"`
	Type    spinenet.BlockType `json:"type"`
	Parents [2]int             `json:"parents"`
	Output  bool               `json:"output"`
}

// MarshalJSON writes {"base","shift","level","type","parents","output"}
// (nas.md §5's architecture JSON).
func (d Decision) MarshalJSON() ([]byte, error) {
	l := d.Level()
	return json.Marshal(decisionJSON{d.Base, d.Shift, &l, d.Type, d.Parents, d.Output})
}

// UnmarshalJSON reads the form MarshalJSON writes, refusing unknown fields
// and a "level" that is not base + shift.
func (d *Decision) UnmarshalJSON(b []byte) error {
	var j decisionJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	if j.Level != nil && *j.Level != j.Base+j.Shift {
		return fmt.Errorf("level %d is not base %d + shift %d", *j.Level, j.Base, j.Shift)
	}
	*d = Decision{j.Base, j.Shift, j.Type, j.Parents, j.Output}
	return nil
}

// Decisions pick one architecture from a space: one Decision per permuted
// block, the intermediate blocks first, then the output blocks, in build
// order.
type Decisions struct {
	// Space names the space the decisions belong to; Decode refuses
	// another space's decisions when it is set.
	Space  string     `json:"space,omitempty"`
	Blocks []Decision `json:"blocks"`
}

type decisionsJSON struct {
	V      int        `json:"v"`
	Space  string     `json:"space,omitempty"`
	Blocks []Decision `json:"blocks"`
}

// MarshalJSON writes {"v":1,"space":…,"blocks":[…]}.
func (d Decisions) MarshalJSON() ([]byte, error) {
	return json.Marshal(decisionsJSON{DecisionsVersion, d.Space, d.Blocks})
}

// UnmarshalJSON reads the form MarshalJSON writes, refusing unknown fields
// and other versions. It checks the form only; Space.Decode checks the
// decisions against a space.
func (d *Decisions) UnmarshalJSON(b []byte) error {
	var j decisionsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	if j.V != DecisionsVersion {
		return fmt.Errorf("decisions version %d, want %d", j.V, DecisionsVersion)
	}
	*d = Decisions{Space: j.Space, Blocks: j.Blocks}
	return nil
}

// Clone returns a deep copy.
func (d Decisions) Clone() Decisions {
	return Decisions{Space: d.Space, Blocks: slices.Clone(d.Blocks)}
}

// Equal reports whether two decisions are the same.
func (d Decisions) Equal(e Decisions) bool {
	return d.Space == e.Space && slices.Equal(d.Blocks, e.Blocks)
}

// DecisionError reports decisions that are not a member of a space.
type DecisionError struct {
	Space string
	// Block is the permuted block (0-based, intermediate blocks first), or
	// −1 for the decisions as a whole.
	Block  int
	Reason string
}

// Error names the space, the block and the reason.
func (e *DecisionError) Error() string {
	if e.Block < 0 {
		return fmt.Sprintf("search space %q: %s", e.Space, e.Reason)
	}
	return fmt.Sprintf("search space %q: block %d: %s", e.Space, e.Block, e.Reason)
}

// Check reports whether d is a member of the space: the right number of
// blocks, intermediate base levels that use up the multiset, output levels
// that are a permutation of OutputLevels, allowed and buildable shifts
// (none on outputs), allowed types, and two distinct, increasing parents
// from each block's legal pool entries.
func (s *Space) Check(d Decisions) error {
	if err := s.Validate(); err != nil {
		return err
	}
	bad := func(j int, format string, args ...any) error {
		return &DecisionError{Space: s.Name, Block: j, Reason: fmt.Sprintf(format, args...)}
	}
	if d.Space != "" && d.Space != s.Name {
		return bad(-1, "decisions are for space %q", d.Space)
	}
	l := s.layout()
	if len(d.Blocks) != l.k+l.o {
		return bad(-1, "%d blocks, want %d (%d intermediate, %d output)", len(d.Blocks), l.k+l.o, l.k, l.o)
	}
	remaining := map[int]int{}
	for lv, n := range s.Intermediate {
		remaining[lv] = n
	}
	outs := map[int]bool{}
	for _, lv := range s.OutputLevels {
		outs[lv] = true
	}
	for j, b := range d.Blocks {
		inter := j < l.k
		if b.Output == inter {
			if inter {
				return bad(j, "marked output, but the first %d blocks are intermediate", l.k)
			}
			return bad(j, "not marked output, but the blocks after the first %d are outputs", l.k)
		}
		if inter {
			if remaining[b.Base] == 0 {
				return bad(j, "base level %d, but the multiset %v has no level %d left", b.Base, s.Intermediate, b.Base)
			}
			remaining[b.Base]--
			if !slices.Contains(s.legalShifts(b.Base), b.Shift) {
				return bad(j, "shift %d on base level %d, want one of %v that keeps the level in %d..%d", b.Shift, b.Base,
					s.legalShifts(b.Base), s.MinBlockLevel, s.MaxBlockLevel)
			}
		} else {
			if !outs[b.Base] {
				return bad(j, "output level %d, want one of %v not used by an earlier output", b.Base, s.OutputLevels)
			}
			delete(outs, b.Base)
			if b.Shift != 0 {
				return bad(j, "shift %d on an output block, want 0 (outputs keep their levels)", b.Shift)
			}
		}
		if !slices.Contains(s.Types, b.Type) {
			return bad(j, "type %q, want one of %v", b.Type, s.Types)
		}
		lo, hi := s.parentRange(l, j)
		p0, p1 := l.poolPos(b.Parents[0]), l.poolPos(b.Parents[1])
		if b.Parents[0] >= b.Parents[1] {
			return bad(j, "parents %v, want two distinct features in increasing order", b.Parents)
		}
		for k, p := range []int{p0, p1} {
			if p < lo || p >= hi {
				return bad(j, "parent %d is feature %d, want one of %v", k, b.Parents[k], s.legalParents(l, j))
			}
		}
	}
	return nil
}

// legalParents lists the features block j may take as parents.
func (s *Space) legalParents(l layout, j int) []int {
	lo, hi := s.parentRange(l, j)
	out := make([]int, 0, hi-lo)
	for p := lo; p < hi; p++ {
		out = append(out, l.poolFeature(p))
	}
	return out
}

// Arch returns the decisions' block list with the space's scaling fields,
// without checking; Decode checks.
func (s *Space) arch(d Decisions) *spinenet.Arch {
	blocks := s.Prefix()
	for _, b := range d.Blocks {
		blocks = append(blocks, spinenet.BlockSpec{Level: b.Level(), Type: b.Type, Inputs: b.Parents, Output: b.Output})
	}
	lv := slices.Sorted(slices.Values(s.OutputLevels))
	a := &spinenet.Arch{Name: s.Name, Family: spinenet.FamilyResNet, Blocks: blocks, MinLevel: lv[0], MaxLevel: lv[len(lv)-1],
		FilterSizeScale: s.FilterSizeScale, ResampleAlpha: s.ResampleAlpha, BlockRepeats: s.BlockRepeats,
		EndpointsNumFilters: s.EndpointsNumFilters}
	a.Name = s.Name + "-" + HashArch(a)[:12]
	return a
}

// Decode turns member decisions into an Arch named Name-HASH (the first 12
// hex digits of HashArch) with the space's scaling fields: the stem prefix,
// then one row per decision. It returns Check's error for a non-member and
// spinenet.Validate's for an Arch the builder refuses.
func (s *Space) Decode(d Decisions) (*spinenet.Arch, error) {
	if err := s.Check(d); err != nil {
		return nil, err
	}
	a := s.arch(d)
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// shiftPreference is the order Encode tries shifts in: small moves first,
// upward before downward.
var shiftPreference = []int{0, 1, -1, 2, -2, 3, -3}

// Encode returns the decisions that decode to a's block list, or an error
// saying why a is not a member of the space. Scaling fields and the name
// are not part of the decisions and are not compared. Parents are sorted.
//
// With level shifts, several (base, shift) sequences can give the same
// levels; Encode returns the first in this order: block by block, the shift
// closest to 0 (0, +1, −1, +2, …) whose base is still in the multiset and
// that leaves the rest assignable. So Encode(Decode(d)) equals d only when d
// is canonical (see Canonical); it always decodes to the same Arch.
func (s *Space) Encode(a *spinenet.Arch) (Decisions, error) {
	if err := s.Validate(); err != nil {
		return Decisions{}, err
	}
	bad := func(j int, format string, args ...any) (Decisions, error) {
		return Decisions{}, &DecisionError{Space: s.Name, Block: j, Reason: fmt.Sprintf(format, args...)}
	}
	if a.Family != spinenet.FamilyResNet {
		return bad(-1, "family %q, want %q", a.Family, spinenet.FamilyResNet)
	}
	lv := slices.Sorted(slices.Values(s.OutputLevels))
	if a.MinLevel != lv[0] || a.MaxLevel != lv[len(lv)-1] {
		return bad(-1, "output levels %d..%d, want %d..%d", a.MinLevel, a.MaxLevel, lv[0], lv[len(lv)-1])
	}
	prefix := s.Prefix()
	l := s.layout()
	if len(a.Blocks) != len(prefix)+l.k+l.o {
		return bad(-1, "%d block rows, want %d (%d stem prefix, %d intermediate, %d output)", len(a.Blocks),
			len(prefix)+l.k+l.o, len(prefix), l.k, l.o)
	}
	for i, p := range prefix {
		b := a.Blocks[i]
		b.Inputs = sorted(b.Inputs)
		if b != p {
			return bad(-1, "block row %d is %+v, want the stem prefix row %+v", i, a.Blocks[i], p)
		}
	}
	rows := a.Blocks[len(prefix):]
	d := Decisions{Space: s.Name, Blocks: make([]Decision, len(rows))}
	for j, r := range rows {
		d.Blocks[j] = Decision{Base: r.Level, Type: r.Type, Parents: sorted(r.Inputs), Output: r.Output}
	}
	// Intermediate bases and shifts: the first assignment in
	// shiftPreference order.
	levels := make([]int, l.k)
	for j := range l.k {
		levels[j] = rows[j].Level
	}
	remaining := map[int]int{}
	for lv, n := range s.Intermediate {
		remaining[lv] = n
	}
	shifts := make([]int, l.k)
	if !s.assign(levels, 0, remaining, shifts) {
		shifts := "no level shifts"
		if s.shiftsOn() {
			shifts = fmt.Sprintf("shifts %v within levels %d..%d", s.Shifts, s.MinBlockLevel, s.MaxBlockLevel)
		}
		return bad(-1, "intermediate levels %v cannot be made from the multiset %v with %s", levels, s.Intermediate, shifts)
	}
	for j := range l.k {
		d.Blocks[j].Base, d.Blocks[j].Shift = levels[j]-shifts[j], shifts[j]
	}
	if err := s.Check(d); err != nil {
		return Decisions{}, err
	}
	return d, nil
}

// assign finds shifts[j:] so that levels[j:] − shifts[j:] uses up
// remaining, trying shifts in shiftPreference order; it reports success.
func (s *Space) assign(levels []int, j int, remaining map[int]int, shifts []int) bool {
	if j == len(levels) {
		return true
	}
	for _, d := range shiftPreference {
		base := levels[j] - d
		if remaining[base] == 0 || !slices.Contains(s.legalShifts(base), d) {
			continue
		}
		remaining[base]--
		shifts[j] = d
		if s.assign(levels, j+1, remaining, shifts) {
			return true
		}
		remaining[base]++
	}
	return false
}

// Canonical returns the canonical decisions for d's architecture,
// Encode(Decode(d)): equal for any two decisions that decode to the same
// block list.
func (s *Space) Canonical(d Decisions) (Decisions, error) {
	a, err := s.Decode(d)
	if err != nil {
		return Decisions{}, err
	}
	return s.Encode(a)
}

// Hash returns HashArch of d's architecture.
func (s *Space) Hash(d Decisions) (string, error) {
	a, err := s.Decode(d)
	if err != nil {
		return "", err
	}
	return HashArch(a), nil
}

// CanonicalBlocks returns a's block list in canonical form: each row's
// inputs in increasing order (the two parents are summed, so their order
// does not change the network).
func CanonicalBlocks(a *spinenet.Arch) []spinenet.BlockSpec {
	out := slices.Clone(a.Blocks)
	for i := range out {
		out[i].Inputs = sorted(out[i].Inputs)
	}
	return out
}

// HashArch is a stable hash of a's canonical block list: SHA-256, in hex,
// over one line "level type parent parent output" per row. Names, the
// family and the scaling fields are not hashed: a search fixes them.
func HashArch(a *spinenet.Arch) string {
	buf := make([]byte, 0, 32+24*len(a.Blocks))
	buf = append(buf, "spinenet-blocks-v1\n"...)
	for _, b := range a.Blocks {
		in := sorted(b.Inputs)
		buf = strconv.AppendInt(buf, int64(b.Level), 10)
		buf = append(buf, ' ')
		buf = append(buf, b.Type...)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(in[0]), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(in[1]), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendBool(buf, b.Output)
		buf = append(buf, '\n')
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

func sorted(p [2]int) [2]int {
	if p[0] > p[1] {
		p[0], p[1] = p[1], p[0]
	}
	return p
}
