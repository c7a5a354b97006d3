package space

import (
	"math/rand/v2"
	"slices"

	"github.com/spinenet-go/spinenet/spinenet"
)

// Sample draws a member of the space (nas.md §2, random search): the
// intermediate base levels uniformly over distinct level sequences (each
// next level with probability proportional to how many of it remain), the
// output order uniformly over permutations, each block's parents uniformly
// over the pairs of its legal pool entries, each shift uniformly over the
// buildable shifts of the block's base level, and each type uniformly.
// It panics if the space does not Validate.
func (s *Space) Sample(rng *rand.Rand) Decisions {
	if err := s.Validate(); err != nil {
		panic(err)
	}
	l := s.layout()
	d := Decisions{Space: s.Name, Blocks: make([]Decision, 0, l.k+l.o)}
	ms := s.multiset()
	left := l.k
	for range l.k {
		r := rng.IntN(left)
		i := 0
		for r >= ms[i].n {
			r -= ms[i].n
			i++
		}
		ms[i].n--
		left--
		d.Blocks = append(d.Blocks, Decision{Base: ms[i].level})
	}
	outs := slices.Clone(s.OutputLevels)
	rng.Shuffle(len(outs), func(i, j int) { outs[i], outs[j] = outs[j], outs[i] })
	for _, lv := range outs {
		d.Blocks = append(d.Blocks, Decision{Base: lv, Output: true})
	}
	for j := range d.Blocks {
		b := &d.Blocks[j]
		if !b.Output {
			sh := s.legalShifts(b.Base)
			b.Shift = sh[rng.IntN(len(sh))]
		}
		b.Type = s.Types[rng.IntN(len(s.Types))]
		b.Parents = s.drawParents(rng, l, j)
	}
	return d
}

// drawParents draws two distinct legal parents of block j uniformly.
func (s *Space) drawParents(rng *rand.Rand, l layout, j int) [2]int {
	lo, hi := s.parentRange(l, j)
	n := hi - lo
	a := rng.IntN(n)
	b := rng.IntN(n - 1)
	if b >= a {
		b++
	}
	return sorted([2]int{l.poolFeature(lo + a), l.poolFeature(lo + b)})
}

// ResNetOrder returns the ResNet-ordered baseline of the space (nas.md
// §4 (b)): intermediate levels rising, outputs from the lowest level up, no
// shifts, the first of Types, and every block fed by the two pool entries
// before it. For r0-sp53 this is configs/arch/r0-sp53-resnet-order.yaml.
func (s *Space) ResNetOrder() Decisions {
	l := s.layout()
	d := Decisions{Space: s.Name}
	for _, c := range s.multiset() {
		for range c.n {
			d.Blocks = append(d.Blocks, Decision{Base: c.level})
		}
	}
	for _, lv := range slices.Sorted(slices.Values(s.OutputLevels)) {
		d.Blocks = append(d.Blocks, Decision{Base: lv, Output: true})
	}
	for j := range d.Blocks {
		_, hi := s.parentRange(l, j)
		d.Blocks[j].Type = s.Types[0]
		d.Blocks[j].Parents = [2]int{l.poolFeature(hi - 2), l.poolFeature(hi - 1)}
	}
	return d
}

// SpineNet49 returns the published SpineNet-49 block list (spinenet.Lookup
// "49") as decisions of the space; it is a member of spinenet49.
func (s *Space) SpineNet49() (Decisions, error) {
	a, err := spinenet.Lookup("49")
	if err != nil {
		return Decisions{}, err
	}
	return s.Encode(a)
}
