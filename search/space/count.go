package space

import (
	"math"
	"math/big"
	"slices"
)

// Counts sizes a space (nas.md §1.2's table), exactly. The first five are
// the paper's factors; the rest count what Sample and Decode can reach.
type Counts struct {
	// Intermediate, Outputs and StemCandidates are k, N−k and m.
	Intermediate   int `json:"intermediate_blocks"`
	Outputs        int `json:"output_blocks"`
	StemCandidates int `json:"stem_candidates"`
	Window         int `json:"window"`
	// LabelledOrders is the paper's (N−5)!·5!: labelled intermediate blocks
	// permuted among themselves, and the outputs among themselves.
	LabelledOrders *big.Int `json:"labelled_orders"`
	// LevelSequences counts distinct orders: blocks of one level are
	// identical, k!/∏cₗ! · (N−k)!.
	LevelSequences *big.Int `json:"level_sequences"`
	// LevelShifts is the paper's |shifts|^k (1 when shifts are off).
	LevelShifts *big.Int `json:"level_shifts"`
	// LevelShiftsBuildable counts the shift choices that keep every level
	// in MinBlockLevel..MaxBlockLevel (for spinenet49, 3·4⁹: an L2 block
	// cannot shift to level 1).
	LevelShiftsBuildable *big.Int `json:"level_shifts_buildable"`
	// EffectiveLevelSequences counts distinct sequences of effective levels
	// (base + shift) of all blocks: different base orders and shifts often
	// give the same levels.
	EffectiveLevelSequences *big.Int `json:"effective_level_sequences"`
	// BlockTypes is |types|^N.
	BlockTypes *big.Int `json:"block_types"`
	// Connections is the paper's ∏_{i=m}^{N+m−1} C(i,2): two parents from
	// any earlier pool entry.
	Connections *big.Int `json:"connections"`
	// ConnectionsWindowed applies the window to intermediate blocks.
	ConnectionsWindowed *big.Int `json:"connections_windowed"`
	// Decisions counts members (distinct Decisions):
	// LevelSequences · LevelShiftsBuildable · ConnectionsWindowed · BlockTypes.
	Decisions *big.Int `json:"decisions"`
	// Architectures counts distinct decoded block lists (distinct HashArch):
	// EffectiveLevelSequences · ConnectionsWindowed · BlockTypes.
	Architectures *big.Int `json:"architectures"`
	// TotalPaperLog10 is log10 of the paper's product LabelledOrders ·
	// Connections · LevelShifts · BlockTypes.
	TotalPaperLog10 float64 `json:"total_paper_log10"`
	// DistinctLog10 is log10 of nas.md's "distinct sequences and the
	// window": LevelSequences · ConnectionsWindowed · LevelShifts ·
	// BlockTypes.
	DistinctLog10      float64 `json:"distinct_log10"`
	DecisionsLog10     float64 `json:"decisions_log10"`
	ArchitecturesLog10 float64 `json:"architectures_log10"`
}

// Counts sizes the space. It panics if the space does not Validate.
func (s *Space) Counts() Counts {
	if err := s.Validate(); err != nil {
		panic(err)
	}
	l := s.layout()
	n := l.k + l.o
	m := len(l.cands)
	c := Counts{Intermediate: l.k, Outputs: l.o, StemCandidates: m, Window: s.Window}
	outOrders := factorial(l.o)
	c.LabelledOrders = new(big.Int).Mul(factorial(l.k), outOrders)
	ms := s.multiset()
	c.LevelSequences = new(big.Int).Mul(multinomial(ms), outOrders)
	c.LevelShifts = big.NewInt(1)
	c.LevelShiftsBuildable = big.NewInt(1)
	if s.shiftsOn() {
		c.LevelShifts.Exp(big.NewInt(int64(len(s.Shifts))), big.NewInt(int64(l.k)), nil)
	}
	for _, e := range ms {
		c.LevelShiftsBuildable.Mul(c.LevelShiftsBuildable,
			new(big.Int).Exp(big.NewInt(int64(len(s.legalShifts(e.level)))), big.NewInt(int64(e.n)), nil))
	}
	c.EffectiveLevelSequences = new(big.Int).Mul(s.effectiveSequences(ms, l.k), outOrders)
	c.BlockTypes = new(big.Int).Exp(big.NewInt(int64(len(s.Types))), big.NewInt(int64(n)), nil)
	c.Connections = big.NewInt(1)
	c.ConnectionsWindowed = big.NewInt(1)
	for j := range n {
		c.Connections.Mul(c.Connections, choose2(m+j))
		lo, hi := s.parentRange(l, j)
		c.ConnectionsWindowed.Mul(c.ConnectionsWindowed, choose2(hi-lo))
	}
	c.Decisions = product(c.LevelSequences, c.LevelShiftsBuildable, c.ConnectionsWindowed, c.BlockTypes)
	c.Architectures = product(c.EffectiveLevelSequences, c.ConnectionsWindowed, c.BlockTypes)
	c.TotalPaperLog10 = log10(product(c.LabelledOrders, c.Connections, c.LevelShifts, c.BlockTypes))
	c.DistinctLog10 = log10(product(c.LevelSequences, c.ConnectionsWindowed, c.LevelShifts, c.BlockTypes))
	c.DecisionsLog10 = log10(c.Decisions)
	c.ArchitecturesLog10 = log10(c.Architectures)
	return c
}

// effectiveSequences counts the distinct sequences of k effective levels:
// the sum, over every multiset of levels the base multiset can be shifted
// onto, of its number of orderings. Whether a multiset can be reached is a
// bipartite matching of base blocks to level slots (Hall's condition, here
// a small max-flow).
func (s *Space) effectiveSequences(ms []levelCount, k int) *big.Int {
	if !s.shiftsOn() {
		return multinomial(ms)
	}
	total := new(big.Int)
	lo, hi := s.MinBlockLevel, s.MaxBlockLevel
	target := make([]int, hi-lo+1)
	var walk func(i, left int)
	walk = func(i, left int) {
		if i == len(target)-1 {
			target[i] = left
			if s.reachable(ms, target) {
				var t []levelCount
				for j, n := range target {
					t = append(t, levelCount{lo + j, n})
				}
				total.Add(total, multinomial(t))
			}
			return
		}
		for n := 0; n <= left; n++ {
			target[i] = n
			walk(i+1, left-n)
		}
	}
	walk(0, k)
	return total
}

// reachable reports whether the base multiset ms can be shifted onto
// target (counts per level from MinBlockLevel), by augmenting paths over
// units of flow: base level → effective level when the shift is legal.
func (s *Space) reachable(ms []levelCount, target []int) bool {
	lo := s.MinBlockLevel
	capLeft := slices.Clone(target)
	// assigned[i][t] is the flow from base entry i to target level t.
	assigned := make([][]int, len(ms))
	for i := range assigned {
		assigned[i] = make([]int, len(target))
	}
	edge := func(i, t int) bool { return slices.Contains(s.legalShifts(ms[i].level), lo+t-ms[i].level) }
	var augment func(i int, seen []bool) bool
	augment = func(i int, seen []bool) bool {
		for t := range target {
			if seen[t] || !edge(i, t) {
				continue
			}
			seen[t] = true
			if capLeft[t] > 0 {
				capLeft[t]--
				assigned[i][t]++
				return true
			}
			// Take a unit on t from another base that can move elsewhere.
			for i2 := range ms {
				if assigned[i2][t] > 0 && augment(i2, seen) {
					assigned[i2][t]--
					assigned[i][t]++
					return true
				}
			}
		}
		return false
	}
	for i, e := range ms {
		for range e.n {
			if !augment(i, make([]bool, len(target))) {
				return false
			}
		}
	}
	return true
}

func factorial(n int) *big.Int {
	return new(big.Int).MulRange(1, int64(max(n, 1)))
}

// multinomial is (Σn)!/∏n!.
func multinomial(ms []levelCount) *big.Int {
	k := 0
	r := big.NewInt(1)
	for _, e := range ms {
		k += e.n
		r.Mul(r, factorial(e.n))
	}
	return new(big.Int).Quo(factorial(k), r)
}

func choose2(n int) *big.Int {
	return big.NewInt(int64(n) * int64(n-1) / 2)
}

func product(xs ...*big.Int) *big.Int {
	r := big.NewInt(1)
	for _, x := range xs {
		r.Mul(r, x)
	}
	return r
}

// log10 of a positive big integer, without overflowing float64.
func log10(x *big.Int) float64 {
	if x.Sign() <= 0 {
		return math.Inf(-1)
	}
	f := new(big.Float).SetInt(x)
	mant := new(big.Float)
	exp := f.MantExp(mant)
	m, _ := mant.Float64()
	return math.Log10(m) + float64(exp)*math.Log10(2)
}
