package space

import "fmt"

// The choices each block has, for algorithms that make the decisions one at
// a time (the RL controller of search/algo): what Check accepts, block by
// block.

// ParentChoices returns the features permuted block j (0-based, intermediate
// blocks first) may take as parents, in increasing order: the last Window
// entries of its candidate pool for an intermediate block (all of them
// under NoWindow), the whole pool for an output block. The pool is the stem
// candidates followed by the permuted blocks before j. It panics unless
// 0 ≤ j < NumBlocks().
func (s *Space) ParentChoices(j int) []int {
	l := s.layout()
	if j < 0 || j >= l.k+l.o {
		panic(fmt.Sprintf("space: ParentChoices(%d) of a space with %d permuted blocks", j, l.k+l.o))
	}
	return s.legalParents(l, j)
}

// ShiftChoices returns the shifts an intermediate block of base level base
// may take: those of Shifts that keep base+shift inside
// MinBlockLevel..MaxBlockLevel, in the order of Shifts ({0} when shifts are
// off).
func (s *Space) ShiftChoices(base int) []int { return s.legalShifts(base) }
