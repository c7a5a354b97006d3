package space

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/spinenet"
)

func mustNamed(t *testing.T, name string) *Space {
	t.Helper()
	s, err := Named(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bigEq(t *testing.T, what string, got *big.Int, want string) {
	t.Helper()
	w, ok := new(big.Int).SetString(want, 10)
	if !ok {
		t.Fatalf("bad literal %s", want)
	}
	if got.Cmp(w) != 0 {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// The paper's factors for SpineNet-49 (issue 10; nas.md §1.2's table).
func TestSpineNet49Counts(t *testing.T) {
	c := mustNamed(t, "spinenet49").Counts()
	bigEq(t, "labelled_orders", c.LabelledOrders, "435456000") // 10!·5!
	bigEq(t, "level_sequences", c.LevelSequences, "604800")    // 10!/(1!3!5!1!)·5!
	bigEq(t, "level_shifts", c.LevelShifts, "1048576")         // 4^10
	bigEq(t, "block_types", c.BlockTypes, "32768")             // 2^15
	bigEq(t, "level_shifts_buildable", c.LevelShiftsBuildable, "786432")
	// ∏_{i=2}^{16} C(i,2), computed independently in floating point.
	want := 1.0
	for i := 2; i <= 16; i++ {
		want *= float64(i*(i-1)) / 2
	}
	got, _ := new(big.Float).SetInt(c.Connections).Float64()
	if math.Abs(got/want-1) > 1e-12 || math.Abs(got/8.35e20-1) > 0.01 {
		t.Errorf("connections = %s, want %.4g (nas.md: 8.3e20)", c.Connections, want)
	}
	// Window 5: 1·3·6·10^7 for the intermediate blocks, C(12..16, 2) for the outputs.
	bigEq(t, "connections_windowed", c.ConnectionsWindowed, "1062485424000000000")
	if c.TotalPaperLog10 < 40 || c.TotalPaperLog10 > 40.2 {
		t.Errorf("total_paper_log10 = %v, want about 40 (nas.md: about 10^40)", c.TotalPaperLog10)
	}
	if c.DistinctLog10 < 34 || c.DistinctLog10 > 34.5 {
		t.Errorf("distinct_log10 = %v, want about 34 (nas.md: about 10^34)", c.DistinctLog10)
	}
	// Distinct block lists are fewer: base orders and shifts alias.
	bigEq(t, "architectures", c.Architectures, "119155948460901861949440000000000")
	if c.Architectures.Cmp(c.Decisions) >= 0 {
		t.Errorf("architectures %s not below decisions %s", c.Architectures, c.Decisions)
	}
}

func TestRFamilyCounts(t *testing.T) {
	for _, c := range []struct {
		space     string
		k, m      int
		sequences string
	}{
		{"r35-sp18", 1, 5, "120"},
		{"r23-sp30", 5, 5, "2400"},   // 5!/(1!1!3!)·5!
		{"r14-sp39", 8, 5, "50400"},  // 8!/(2!2!4!)·5!
		{"r0-sp53", 10, 2, "604800"}, // as spinenet49
	} {
		got := mustNamed(t, c.space).Counts()
		if got.Intermediate != c.k || got.StemCandidates != c.m || got.Outputs != 5 {
			t.Errorf("%s: k=%d m=%d outputs=%d, want %d %d 5", c.space, got.Intermediate, got.StemCandidates, got.Outputs, c.k, c.m)
		}
		bigEq(t, c.space+" level_sequences", got.LevelSequences, c.sequences)
		bigEq(t, c.space+" level_shifts", got.LevelShifts, "1")
		bigEq(t, c.space+" block_types", got.BlockTypes, "1")
		if got.Architectures.Cmp(got.Decisions) != 0 {
			t.Errorf("%s: without shifts every member is a distinct architecture: %s vs %s", c.space, got.Architectures, got.Decisions)
		}
	}
}

// enumerate walks a superset of the members — any remaining base level,
// shifts −2..3 (0..1 where the space has none, and on outputs), both
// types (or the space's, to keep the walk small), every pair of earlier
// features — and counts those Check accepts and their distinct hashes. It
// shares no rule with Sample or Counts.
func enumerate(t *testing.T, s *Space, allTypes bool) (members int, hashes map[string]bool) {
	t.Helper()
	first := spinenet.StemOutputs + len(s.Prefix())
	k := s.NumIntermediate()
	n := s.NumBlocks()
	hashes = map[string]bool{}
	d := Decisions{Blocks: make([]Decision, n)}
	remaining := map[int]int{}
	for l, c := range s.Intermediate {
		remaining[l] = c
	}
	outs := slices.Clone(s.OutputLevels)
	types := s.Types
	if allTypes {
		types = []spinenet.BlockType{spinenet.Bottleneck, spinenet.Residual}
	}
	var walk func(j int)
	walk = func(j int) {
		if j == n {
			if s.Check(d) == nil {
				members++
				hashes[HashArch(s.arch(d))] = true
			}
			return
		}
		var bases, shifts []int
		if j < k {
			for l, c := range remaining {
				if c > 0 {
					bases = append(bases, l)
				}
			}
			shifts = []int{0, 1}
			if s.shiftsOn() {
				shifts = []int{-2, -1, 0, 1, 2, 3}
			}
		} else {
			bases, shifts = slices.Clone(outs), []int{0, 1}
		}
		for _, base := range bases {
			if j < k {
				remaining[base]--
			} else {
				i := slices.Index(outs, base)
				outs = slices.Delete(outs, i, i+1)
			}
			for _, sh := range shifts {
				for _, ty := range types {
					for a := 0; a < first+j; a++ {
						for b := a + 1; b < first+j; b++ {
							d.Blocks[j] = Decision{Base: base, Shift: sh, Type: ty, Parents: [2]int{a, b}, Output: j >= k}
							walk(j + 1)
						}
					}
				}
			}
			if j < k {
				remaining[base]++
			} else {
				outs = append(outs, base)
			}
		}
	}
	walk(0)
	return members, hashes
}

func tiny(name string, inter map[int]int, outs []int, stem [4]int, window int, shifts []int, types []spinenet.BlockType) *Space {
	return &Space{Name: name, Intermediate: inter, OutputLevels: outs, StemLevels: stem, Window: window, Shifts: shifts,
		Types: types, MinBlockLevel: 2, MaxBlockLevel: 7, FilterSizeScale: 0.25, ResampleAlpha: 0.5, BlockRepeats: 1,
		EndpointsNumFilters: 16}
}

// On tiny spaces the counts equal exhaustive enumeration.
func TestCountsMatchEnumeration(t *testing.T) {
	bn := []spinenet.BlockType{spinenet.Bottleneck}
	for _, c := range []struct {
		s        *Space
		allTypes bool
	}{
		{tiny("types+window", map[int]int{2: 1, 3: 1}, []int{3, 4}, [4]int{2, 0, 0, 0}, 2, nil, PaperTypes), true},
		{tiny("types, no window", map[int]int{2: 1, 3: 1}, []int{3, 4}, [4]int{2, 0, 0, 0}, NoWindow, nil, PaperTypes), true},
		{tiny("one type", map[int]int{2: 1, 3: 1}, []int{3, 4}, [4]int{2, 0, 0, 0}, 3, nil, bn), true},
		{tiny("shifts, two", map[int]int{2: 1, 3: 1}, []int{3}, [4]int{2, 0, 0, 0}, 3, PaperShifts, PaperTypes), true},
		{tiny("shifts, three", map[int]int{2: 2, 3: 1}, []int{3}, [4]int{2, 0, 0, 0}, 3, PaperShifts, bn), false},
		{tiny("shifts at the top", map[int]int{6: 1, 7: 2}, []int{3}, [4]int{2, 0, 0, 0}, 3, []int{-1, 1}, bn), false},
		{tiny("stem prefix", map[int]int{2: 1, 4: 1}, []int{3}, [4]int{2, 2, 1, 0}, 3, nil, bn), false},
	} {
		s, allTypes := c.s, c.allTypes
		t.Run(s.Name, func(t *testing.T) {
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			c := s.Counts()
			members, hashes := enumerate(t, s, allTypes)
			if c.Decisions.Cmp(big.NewInt(int64(members))) != 0 {
				t.Errorf("decisions = %s, enumeration finds %d", c.Decisions, members)
			}
			if c.Architectures.Cmp(big.NewInt(int64(len(hashes)))) != 0 {
				t.Errorf("architectures = %s, enumeration finds %d distinct hashes", c.Architectures, len(hashes))
			}
			if s.Window == NoWindow && c.Connections.Cmp(c.ConnectionsWindowed) != 0 {
				t.Errorf("no window: connections %s ≠ windowed %s", c.Connections, c.ConnectionsWindowed)
			}
			if members == 0 {
				t.Fatal("no members")
			}
		})
	}
}

// Labelled orders, deduplicated by level, give the level sequences.
func TestLabelledOrdersCollapseToSequences(t *testing.T) {
	s := tiny("t", map[int]int{2: 1, 3: 2, 4: 2}, []int{3, 4}, [4]int{2, 0, 0, 0}, 5, nil, PaperTypes)
	c := s.Counts()
	levels := []int{2, 3, 3, 4, 4}
	labelled, seqs := 0, map[string]bool{}
	var perm func(p []int, used []bool)
	perm = func(p []int, used []bool) {
		if len(p) == len(levels) {
			labelled++
			var b strings.Builder
			for _, i := range p {
				b.WriteByte(byte('0' + levels[i]))
			}
			seqs[b.String()] = true
			return
		}
		for i := range levels {
			if !used[i] {
				used[i] = true
				perm(append(p, i), used)
				used[i] = false
			}
		}
	}
	perm(nil, make([]bool, len(levels)))
	// Two outputs: ×2! each.
	if c.LabelledOrders.Int64() != int64(labelled*2) || c.LevelSequences.Int64() != int64(len(seqs)*2) {
		t.Errorf("labelled %s sequences %s, enumeration %d %d", c.LabelledOrders, c.LevelSequences, labelled*2, len(seqs)*2)
	}
}

func TestSamplesDecodeAndRoundTrip(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	for _, name := range Names() {
		s := mustNamed(t, name)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range n {
			d := s.Sample(rng)
			a, err := s.Decode(d)
			if err != nil {
				t.Fatalf("%s sample %d: %v", name, i, err)
			}
			if err := a.Validate(); err != nil {
				t.Fatalf("%s sample %d: %v", name, i, err)
			}
			e, err := s.Encode(a)
			if err != nil {
				t.Fatalf("%s sample %d: encode: %v", name, i, err)
			}
			b, err := s.Decode(e)
			if err != nil || !slices.Equal(a.Blocks, b.Blocks) || a.Name != b.Name {
				t.Fatalf("%s sample %d: re-encoded decisions decode to another Arch (%v)", name, i, err)
			}
			// Without shifts the decisions are the Arch: the round trip is exact.
			// With shifts it is exact for canonical decisions.
			if !s.shiftsOn() && !e.Equal(d) {
				t.Fatalf("%s sample %d: Encode(Decode(d)) ≠ d", name, i)
			}
			if e2, err := s.Encode(b); err != nil || !e2.Equal(e) {
				t.Fatalf("%s sample %d: canonical form is not a fixed point", name, i)
			}
			if s.shiftsOn() {
				z := d.Clone()
				for j := range z.Blocks {
					z.Blocks[j].Shift = 0
				}
				za, err := s.Decode(z)
				if err != nil {
					t.Fatal(err)
				}
				if ze, err := s.Encode(za); err != nil || !ze.Equal(z) {
					t.Fatalf("%s sample %d: unshifted decisions do not round-trip", name, i)
				}
			}
		}
	}
}

// Sampled Arches build (shape only) and account at 256×256.
func TestSamplesBuild(t *testing.T) {
	for _, name := range Names() {
		s := mustNamed(t, name)
		rng := rand.New(rand.NewPCG(3, 4))
		for range 3 {
			a, err := s.Decode(s.Sample(rng))
			if err != nil {
				t.Fatal(err)
			}
			opt := spinenet.DefaultOptions()
			opt.ShapeOnly = true
			bb, err := spinenet.Build(a, opt)
			if err != nil {
				t.Fatalf("%s: build: %v", name, err)
			}
			if _, err := bb.Graph.Account(256, 256); err != nil {
				t.Fatalf("%s: account: %v", name, err)
			}
		}
	}
}

// Each next level is drawn in proportion to how many remain, so level
// sequences come out uniformly: {2, 3, 3} gives 233, 323, 332 a third
// each (drawing among distinct remaining levels would give 233 a half).
func TestSampleUniformOverSequences(t *testing.T) {
	s := tiny("u", map[int]int{2: 1, 3: 2}, []int{3}, [4]int{2, 0, 0, 0}, 5, nil, PaperTypes)
	rng := rand.New(rand.NewPCG(5, 6))
	counts := map[[3]int]int{}
	pairs := map[[2]int]int{}
	const n = 30000
	for range n {
		d := s.Sample(rng)
		counts[[3]int{d.Blocks[0].Base, d.Blocks[1].Base, d.Blocks[2].Base}]++
		pairs[d.Blocks[3].Parents]++ // the output: any two of features 0..4
	}
	if len(counts) != 3 {
		t.Fatalf("sequences %v, want 3", counts)
	}
	for seq, c := range counts {
		if f := float64(c) / n; math.Abs(f-1.0/3) > 0.02 {
			t.Errorf("sequence %v has frequency %.3f, want 1/3", seq, f)
		}
	}
	if len(pairs) != 10 {
		t.Fatalf("output parent pairs %v, want all 10 of C(5,2)", pairs)
	}
	for p, c := range pairs {
		if f := float64(c) / n; math.Abs(f-0.1) > 0.015 {
			t.Errorf("parents %v have frequency %.3f, want 0.1", p, f)
		}
	}
}

// SpineNet-49's published list is a member of spinenet49, and not of
// r0-sp53 (no shifts or residual blocks there).
func TestSpineNet49IsMember(t *testing.T) {
	s := mustNamed(t, "spinenet49")
	want, _ := spinenet.Lookup("49")
	d, err := s.SpineNet49()
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Decode(d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Blocks, want.Blocks) {
		t.Errorf("decoded SpineNet-49 differs from the published list")
	}
	if a.FilterSizeScale != want.FilterSizeScale || a.ResampleAlpha != want.ResampleAlpha || a.EndpointsNumFilters != want.EndpointsNumFilters {
		t.Errorf("scaling %v %v %v, want SpineNet-49's", a.FilterSizeScale, a.ResampleAlpha, a.EndpointsNumFilters)
	}
	// Every intermediate parent lies inside the 5-block window (nas.md §1.2).
	shifted := 0
	for _, b := range d.Blocks {
		if b.Shift != 0 {
			shifted++
		}
	}
	if shifted != 5 {
		t.Errorf("%d shifted blocks, want 5 (L6, L7 and three L5 from the R0-SP53 multiset)", shifted)
	}
	if _, err := mustNamed(t, "r0-sp53").Encode(want); err == nil {
		t.Error("SpineNet-49 encoded into r0-sp53")
	}
}

// The R0-SP53 ResNet-order file is the r0-sp53 space's ResNet order (and a
// member of spinenet49 too).
func TestR0SP53FileIsMember(t *testing.T) {
	a, err := spinenet.ReadArch("../../configs/arch/r0-sp53-resnet-order.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"r0-sp53", "spinenet49"} {
		s := mustNamed(t, name)
		d, err := s.Encode(a)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := s.Decode(d)
		if err != nil || !slices.Equal(back.Blocks, a.Blocks) {
			t.Fatalf("%s: round trip: %v", name, err)
		}
		if name == "r0-sp53" && !d.Equal(s.ResNetOrder()) {
			t.Errorf("the file is not r0-sp53's ResNetOrder")
		}
	}
	for _, name := range Names() {
		s := mustNamed(t, name)
		if _, err := s.Decode(s.ResNetOrder()); err != nil {
			t.Errorf("%s: ResNet order: %v", name, err)
		}
	}
}

// The golden hash of SpineNet-49's block list; it must never change, or
// stored trials lose their identity.
func TestHashGolden(t *testing.T) {
	a, _ := spinenet.Lookup("49")
	const want = "808d76dfd2a54101d5149ecc331df03344e55a4be8c53b0992f46fa10afb16a9"
	if got := HashArch(a); got != want {
		t.Errorf("HashArch(SpineNet-49) = %s, want %s", got, want)
	}
	// Input order does not matter; a level does.
	b, _ := spinenet.Lookup("49")
	b.Blocks[3].Inputs = [2]int{4, 2}
	b.Name, b.FilterSizeScale = "other", 0.5
	if HashArch(b) != HashArch(a) {
		t.Error("swapping a block's inputs or the scaling changed the hash")
	}
	b.Blocks[3].Level = 5
	if HashArch(b) == HashArch(a) {
		t.Error("changing a level left the hash")
	}
}

// Decisions that alias — another base order with other shifts, same
// levels — hash alike and share a canonical form.
func TestEquivalentDecisionsHashAlike(t *testing.T) {
	s := mustNamed(t, "spinenet49")
	d := s.ResNetOrder() // bases 2 3 3 3 4 4 4 4 4 5, no shifts
	e := d.Clone()
	// Blocks 3 (L3) and 4 (L4) keep their levels from swapped bases: block 3
	// base 4 shift −1, block 4 base 3 shift +1.
	e.Blocks[3].Base, e.Blocks[3].Shift = 4, -1
	e.Blocks[4].Base, e.Blocks[4].Shift = 3, 1
	if e.Equal(d) {
		t.Fatal("test decisions are equal")
	}
	hd, err := s.Hash(d)
	if err != nil {
		t.Fatal(err)
	}
	he, err := s.Hash(e)
	if err != nil {
		t.Fatal(err)
	}
	if hd != he {
		t.Errorf("aliasing decisions hash %s and %s", hd, he)
	}
	cd, _ := s.Canonical(d)
	ce, err := s.Canonical(e)
	if err != nil || !cd.Equal(ce) || !cd.Equal(d) {
		t.Errorf("canonical forms differ: %v", err)
	}
	f := d.Clone()
	f.Blocks[5].Parents = [2]int{4, 6}
	if hf, _ := s.Hash(f); hf == hd {
		t.Error("other parents, same hash")
	}
}

func TestDecisionsJSON(t *testing.T) {
	s := mustNamed(t, "spinenet49")
	d := s.Sample(rand.New(rand.NewPCG(7, 8)))
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"v":1,"space":"spinenet49","blocks":[{"base":`) || !strings.Contains(string(b), `"level":`) {
		t.Errorf("JSON form: %s", b)
	}
	var back Decisions
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(d) {
		t.Errorf("round trip changed the decisions")
	}
	for _, c := range []struct{ in, want string }{
		{`{"v":2,"blocks":[]}`, "version 2"},
		{`{"v":1,"blocks":[],"extra":1}`, "unknown field"},
		{`{"v":1,"blocks":[{"base":4,"shift":1,"level":4,"type":"residual","parents":[0,1],"output":false}]}`, "level 4 is not base 4 + shift 1"},
		{`{"v":1,"blocks":[{"base":4,"colour":1}]}`, "unknown field"},
	} {
		var x Decisions
		if err := json.Unmarshal([]byte(c.in), &x); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.in, err, c.want)
		}
	}
}

func TestCheckErrors(t *testing.T) {
	s := mustNamed(t, "spinenet49")
	base := s.ResNetOrder()
	for _, c := range []struct {
		name string
		edit func(d *Decisions)
		want string
	}{
		{"space", func(d *Decisions) { d.Space = "r0-sp53" }, `decisions are for space "r0-sp53"`},
		{"length", func(d *Decisions) { d.Blocks = d.Blocks[:14] }, "14 blocks, want 15"},
		{"window", func(d *Decisions) { d.Blocks[9].Parents = [2]int{2, 10} }, "block 9: parent 0 is feature 2, want one of [6 7 8 9 10]"},
		{"order", func(d *Decisions) { d.Blocks[9].Parents = [2]int{10, 9} }, "increasing order"},
		{"multiset", func(d *Decisions) { d.Blocks[0].Base = 5 }, "no level 5 left"},
		{"level 1", func(d *Decisions) { d.Blocks[0].Shift = -1 }, "shift -1 on base level 2"},
		{"output shift", func(d *Decisions) { d.Blocks[12].Shift = 1 }, "shift 1 on an output block"},
		{"output twice", func(d *Decisions) { d.Blocks[12].Base = 3 }, "output level 3"},
		{"output flag", func(d *Decisions) { d.Blocks[2].Output = true }, "marked output"},
		{"type", func(d *Decisions) { d.Blocks[2].Type = spinenet.MBConv }, `type "mbconv"`},
	} {
		d := base.Clone()
		c.edit(&d)
		_, err := s.Decode(d)
		var de *DecisionError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want a DecisionError with %q", c.name, err, c.want)
		}
	}
}

func TestSpaceValidate(t *testing.T) {
	for _, c := range []struct {
		edit func(s *Space)
		want string
	}{
		{func(s *Space) { s.Window = 1 }, "window: 1"},
		{func(s *Space) { s.OutputLevels = []int{3, 5} }, "consecutive"},
		{func(s *Space) { s.Shifts = []int{0, 0} }, "appears twice"},
		{func(s *Space) { s.Types = nil }, "types: none"},
		{func(s *Space) { s.StemCandidates = []int{0} }, "at least two"},
		{func(s *Space) { s.StemCandidates = []int{0, 2} }, "feature 2"},
		{func(s *Space) { s.Intermediate[9] = 1 }, "intermediate: level 9"},
		{func(s *Space) { s.Intermediate = map[int]int{2: 1}; s.Shifts = []int{-1} }, "leave base level 2 no level"},
	} {
		s := mustNamed(t, "spinenet49")
		c.edit(s)
		err := s.Validate()
		var se *SpaceError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want a SpaceError with %q", err, c.want)
		}
	}
	if _, err := Named("nope"); !errors.Is(err, ErrUnknownSpace) {
		t.Errorf("Named(nope): %v", err)
	}
}

// ParentChoices and ShiftChoices list exactly what Check accepts, block by
// block.
func TestChoicesMatchCheck(t *testing.T) {
	for _, name := range []string{"spinenet49", "r35-sp18"} {
		s, err := Named(name)
		if err != nil {
			t.Fatal(err)
		}
		d := s.ResNetOrder()
		n := s.NumBlocks()
		if got := len(s.ParentChoices(n - 1)); got != len(s.Candidates())+n-1 {
			t.Errorf("%s: last block has %d parent choices, want the whole pool (%d)", name, got, len(s.Candidates())+n-1)
		}
		for j := range n {
			choices := s.ParentChoices(j)
			if j < s.NumIntermediate() && len(choices) > s.Window {
				t.Errorf("%s block %d: %d choices, window %d", name, j, len(choices), s.Window)
			}
			legal := map[int]bool{}
			for _, f := range choices {
				legal[f] = true
			}
			for f := 0; f < choices[len(choices)-1]+2; f++ {
				e := d.Clone()
				e.Blocks[j].Parents = [2]int{f, choices[len(choices)-1]}
				if f == choices[len(choices)-1] {
					continue
				}
				if f > choices[len(choices)-1] {
					e.Blocks[j].Parents = [2]int{choices[len(choices)-1], f}
				}
				if ok := s.Check(e) == nil; ok != legal[f] {
					t.Errorf("%s block %d: parent %d accepted %v, listed %v (%v)", name, j, f, ok, legal[f], choices)
				}
			}
		}
		for lv := range s.Intermediate {
			for _, sh := range []int{-2, -1, 0, 1, 2, 3} {
				e := d.Clone()
				for j := range s.NumIntermediate() {
					if e.Blocks[j].Base == lv {
						e.Blocks[j].Shift = sh
						break
					}
				}
				if ok, listed := s.Check(e) == nil, slices.Contains(s.ShiftChoices(lv), sh); ok != listed {
					t.Errorf("%s: level %d shift %d accepted %v, listed %v", name, lv, sh, ok, listed)
				}
			}
		}
	}
}
