package space

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/spinenet-go/spinenet/spinenet"
)

// changed lists the blocks where d and e differ.
func changed(d, e Decisions) []int {
	var out []int
	for j := range d.Blocks {
		if d.Blocks[j] != e.Blocks[j] {
			out = append(out, j)
		}
	}
	return out
}

// 10k chained random mutations stay members, decode to valid Arches, and
// each operator changes what it says it changes.
func TestMutationsStayValid(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	for _, name := range Names() {
		s := mustNamed(t, name)
		rng := rand.New(rand.NewPCG(11, 12))
		d := s.Sample(rng)
		used := map[Mutation]int{}
		for i := range n {
			e, m, err := s.MutateRandom(rng, d)
			if err != nil {
				t.Fatalf("%s step %d: %v", name, i, err)
			}
			used[m]++
			a, err := s.Decode(e)
			if err != nil {
				t.Fatalf("%s step %d (%s): %v", name, i, m, err)
			}
			if err := a.Validate(); err != nil {
				t.Fatalf("%s step %d (%s): %v", name, i, m, err)
			}
			ch := changed(d, e)
			one := func(what string, ok bool) {
				if !ok {
					t.Fatalf("%s step %d (%s): %s; changed blocks %v\n%v\n%v", name, i, m, what, ch, d.Blocks, e.Blocks)
				}
			}
			switch m {
			case FlipType:
				one("one block's type", len(ch) == 1 && d.Blocks[ch[0]].Type != e.Blocks[ch[0]].Type &&
					withType(d.Blocks[ch[0]], "") == withType(e.Blocks[ch[0]], ""))
			case Shift:
				b0, b1 := d.Blocks[ch[0]], e.Blocks[ch[0]]
				one("one intermediate block's shift", len(ch) == 1 && !b0.Output && b0.Shift != b1.Shift && b0.Base == b1.Base &&
					b0.Parents == b1.Parents && b0.Type == b1.Type)
			case Rewire:
				b0, b1 := d.Blocks[ch[0]], e.Blocks[ch[0]]
				shared := 0
				for _, p := range b0.Parents {
					if slices.Contains(b1.Parents[:], p) {
						shared++
					}
				}
				one("one parent of one block", len(ch) == 1 && shared == 1 && b0.Base == b1.Base && b0.Shift == b1.Shift && b0.Type == b1.Type)
			case SwapOutputs, SwapLevels:
				one("two blocks' bases swapped", len(ch) == 2 && d.Blocks[ch[0]].Base == e.Blocks[ch[1]].Base &&
					d.Blocks[ch[1]].Base == e.Blocks[ch[0]].Base && d.Blocks[ch[0]].Parents == e.Blocks[ch[0]].Parents &&
					d.Blocks[ch[0]].Output == (m == SwapOutputs))
			case Move:
				one("outputs keep their levels", slices.EqualFunc(d.Blocks[s.NumIntermediate():], e.Blocks[s.NumIntermediate():],
					func(a, b Decision) bool { return a.Base == b.Base && a.Type == b.Type }))
			}
			d = e
		}
		// Every operator the space supports was used.
		want := []Mutation{SwapLevels, SwapOutputs, Rewire, Move}
		if s.shiftsOn() {
			want = append(want, Shift)
		}
		if len(s.Types) > 1 {
			want = append(want, FlipType)
		}
		if s.NumIntermediate() < 2 {
			want = []Mutation{SwapOutputs, Rewire}
		}
		for _, m := range want {
			if used[m] == 0 {
				t.Errorf("%s: %s never applied (%v)", name, m, used)
			}
		}
	}
}

func withType(d Decision, t spinenet.BlockType) Decision {
	d.Type = t
	return d
}

func TestMutateNotApplicable(t *testing.T) {
	s := mustNamed(t, "r0-sp53")
	rng := rand.New(rand.NewPCG(1, 1))
	d := s.ResNetOrder()
	for _, m := range []Mutation{Shift, FlipType} {
		if _, err := s.Mutate(rng, d, m); !errors.Is(err, ErrNotApplicable) {
			t.Errorf("%s on r0-sp53: %v, want ErrNotApplicable", m, err)
		}
	}
	e, err := s.Mutate(rng, d, Identity)
	if err != nil || !e.Equal(d) {
		t.Errorf("identity: %v", err)
	}
	if _, err := s.Mutate(rng, d, "grow"); err == nil {
		t.Error("unknown mutation accepted")
	}
	bad := d.Clone()
	bad.Blocks[0].Base = 7
	if _, err := s.Mutate(rng, bad, Rewire); err == nil {
		t.Error("mutating a non-member accepted")
	}
}

// Move keeps the block's data and re-maps the parents that referred to it.
func TestMoveRemapsParents(t *testing.T) {
	s := mustNamed(t, "r0-sp53")
	d := s.ResNetOrder()
	l := s.layout()
	e := d.Clone()
	s.move(rand.New(rand.NewPCG(2, 2)), l, &e, 9, 8) // the L5 block before the last L4
	if err := s.Check(e); err != nil {
		t.Fatal(err)
	}
	if e.Blocks[8].Base != 5 || e.Blocks[9].Base != 4 {
		t.Fatalf("levels after the move: %d %d", e.Blocks[8].Base, e.Blocks[9].Base)
	}
	// The first output took features 10 and 11 (old blocks 8 and 9); after
	// the move those blocks are features 11 and 10: the same pair.
	if e.Blocks[10].Parents != [2]int{10, 11} {
		t.Errorf("output parents %v", e.Blocks[10].Parents)
	}
	// The moved L5 block took features 9 and 10 (10 being the L4 that is now
	// after it): one parent re-drawn inside its window.
	if p := e.Blocks[8].Parents; p[1] >= 10 || p[0] < 5 {
		t.Errorf("moved block's parents %v", p)
	}
}
