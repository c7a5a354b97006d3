package space

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/spinenet-go/spinenet/spinenet"
)

// Mutation is one of nas.md §2's mutation operators for regularized
// evolution. Each changes one decision and keeps the result a member.
type Mutation string

// The mutations.
const (
	// SwapLevels swaps the base levels of two intermediate blocks whose
	// base levels differ. Parents stay; a shift the new base cannot take
	// (an L2 base at −1) is re-drawn from its buildable shifts.
	SwapLevels Mutation = "swap_levels"
	// SwapOutputs swaps the levels of two output blocks.
	SwapOutputs Mutation = "swap_outputs"
	// Rewire re-draws one parent of one block from its legal pool entries,
	// never the block's other parent or the parent it replaces.
	Rewire Mutation = "rewire"
	// Shift changes one intermediate block's shift to another buildable one.
	Shift Mutation = "shift"
	// FlipType changes one block's type to another of the space's types.
	FlipType Mutation = "flip_type"
	// Move takes one intermediate block (level, shift, type, parents) out
	// and puts it in at another intermediate position. References to moved
	// blocks follow them; a parent that is then not legal (outside the
	// window, or not earlier) is re-drawn.
	Move Mutation = "move"
	// Identity changes nothing (Real et al. use it to re-measure noisy
	// rewards).
	Identity Mutation = "identity"
)

// AllMutations lists every operator, Identity last.
var AllMutations = []Mutation{SwapLevels, SwapOutputs, Rewire, Shift, FlipType, Move, Identity}

// ErrNotApplicable is returned by Mutate when the operator cannot change
// these decisions in this space (no shifts, one type, one level, …).
var ErrNotApplicable = errors.New("mutation not applicable")

// Mutate applies operator m to a copy of d, a member of the space, and
// returns the result, a member that differs from d in one decision (Move
// and re-draws may touch more). It returns ErrNotApplicable (wrapped) when
// m cannot apply, and Check's error for a d that is not a member.
func (s *Space) Mutate(rng *rand.Rand, d Decisions, m Mutation) (Decisions, error) {
	if err := s.Check(d); err != nil {
		return Decisions{}, err
	}
	l := s.layout()
	e := d.Clone()
	e.Space = s.Name
	na := func(why string) (Decisions, error) {
		return Decisions{}, fmt.Errorf("%w: %s: %s", ErrNotApplicable, m, why)
	}
	switch m {
	case Identity:
	case SwapLevels:
		var pairs [][2]int
		for i := range l.k {
			for j := i + 1; j < l.k; j++ {
				if e.Blocks[i].Base != e.Blocks[j].Base {
					pairs = append(pairs, [2]int{i, j})
				}
			}
		}
		if len(pairs) == 0 {
			return na("all intermediate blocks have one base level")
		}
		p := pairs[rng.IntN(len(pairs))]
		a, b := &e.Blocks[p[0]], &e.Blocks[p[1]]
		a.Base, b.Base = b.Base, a.Base
		for _, x := range []*Decision{a, b} {
			if sh := s.legalShifts(x.Base); !slices.Contains(sh, x.Shift) {
				x.Shift = sh[rng.IntN(len(sh))]
			}
		}
	case SwapOutputs:
		if l.o < 2 {
			return na("fewer than two outputs")
		}
		i := l.k + rng.IntN(l.o)
		j := l.k + rng.IntN(l.o-1)
		if j >= i {
			j++
		}
		e.Blocks[i].Base, e.Blocks[j].Base = e.Blocks[j].Base, e.Blocks[i].Base
	case Rewire:
		var blocks []int
		for j := range e.Blocks {
			if lo, hi := s.parentRange(l, j); hi-lo > 2 {
				blocks = append(blocks, j)
			}
		}
		if len(blocks) == 0 {
			return na("no block has a third legal parent")
		}
		j := blocks[rng.IntN(len(blocks))]
		b := &e.Blocks[j]
		var alt []int
		for _, f := range s.legalParents(l, j) {
			if f != b.Parents[0] && f != b.Parents[1] {
				alt = append(alt, f)
			}
		}
		b.Parents[rng.IntN(2)] = alt[rng.IntN(len(alt))]
		b.Parents = sorted(b.Parents)
	case Shift:
		var blocks []int
		for j := range l.k {
			if len(s.legalShifts(e.Blocks[j].Base)) > 1 {
				blocks = append(blocks, j)
			}
		}
		if len(blocks) == 0 {
			return na("no intermediate block has a second buildable shift")
		}
		b := &e.Blocks[blocks[rng.IntN(len(blocks))]]
		var alt []int
		for _, sh := range s.legalShifts(b.Base) {
			if sh != b.Shift {
				alt = append(alt, sh)
			}
		}
		b.Shift = alt[rng.IntN(len(alt))]
	case FlipType:
		if len(s.Types) < 2 {
			return na("the space has one block type")
		}
		b := &e.Blocks[rng.IntN(len(e.Blocks))]
		alt := slices.DeleteFunc(slices.Clone(s.Types), func(t spinenet.BlockType) bool { return t == b.Type })
		b.Type = alt[rng.IntN(len(alt))]
	case Move:
		if l.k < 2 {
			return na("fewer than two intermediate blocks")
		}
		from := rng.IntN(l.k)
		to := rng.IntN(l.k - 1)
		if to >= from {
			to++
		}
		s.move(rng, l, &e, from, to)
	default:
		return Decisions{}, fmt.Errorf("unknown mutation %q (known: %v)", m, AllMutations)
	}
	if err := s.Check(e); err != nil {
		return Decisions{}, fmt.Errorf("mutation %s produced a non-member (a bug): %w", m, err)
	}
	return e, nil
}

// move moves intermediate block from to position to, re-mapping parent
// features and re-drawing parents that are no longer legal.
func (s *Space) move(rng *rand.Rand, l layout, e *Decisions, from, to int) {
	order := make([]int, l.k) // order[new position] = old position
	for i := range order {
		order[i] = i
	}
	order = slices.Delete(order, from, from+1)
	order = slices.Insert(order, to, from)
	newPos := make([]int, l.k) // newPos[old position]
	for np, op := range order {
		newPos[op] = np
	}
	remap := func(f int) int {
		if op := f - l.first; op >= 0 && op < l.k {
			return l.first + newPos[op]
		}
		return f
	}
	old := slices.Clone(e.Blocks)
	for np, op := range order {
		e.Blocks[np] = old[op]
	}
	for j := range e.Blocks {
		b := &e.Blocks[j]
		b.Parents = [2]int{remap(b.Parents[0]), remap(b.Parents[1])}
		legal := s.legalParents(l, j)
		ok0, ok1 := slices.Contains(legal, b.Parents[0]), slices.Contains(legal, b.Parents[1])
		switch {
		case !ok0 && !ok1:
			b.Parents = s.drawParents(rng, l, j)
			continue
		case !ok0:
			b.Parents[0] = redraw(rng, legal, b.Parents[1])
		case !ok1:
			b.Parents[1] = redraw(rng, legal, b.Parents[0])
		}
		b.Parents = sorted(b.Parents)
	}
}

// redraw picks a legal parent other than keep.
func redraw(rng *rand.Rand, legal []int, keep int) int {
	alt := slices.DeleteFunc(slices.Clone(legal), func(f int) bool { return f == keep })
	return alt[rng.IntN(len(alt))]
}

// MutateRandom applies one operator drawn uniformly from those that apply
// to d in this space, Identity excluded, and says which it applied.
func (s *Space) MutateRandom(rng *rand.Rand, d Decisions) (Decisions, Mutation, error) {
	ops := slices.Clone(AllMutations[:len(AllMutations)-1])
	rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
	for _, m := range ops {
		e, err := s.Mutate(rng, d, m)
		if errors.Is(err, ErrNotApplicable) {
			continue
		}
		return e, m, err
	}
	return d.Clone(), Identity, nil
}
