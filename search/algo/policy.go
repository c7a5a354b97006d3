package algo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// initRange is the half-width of the uniform initialisation of every
// controller weight: NASNet's ±0.1 (nas.md §1.3; Zoph & Le used ±0.08).
const initRange = 0.1

// maskedLogit is added to the logit of a choice the space does not allow
// here: its probability is then exactly 0 in float32 (see the autograd
// policy ops).
const maskedLogit = -1e9

// The kinds of decision a step makes.
type stepKind uint8

const (
	stepLevel   stepKind = iota // the block's (base) level
	stepShift                   // an intermediate block's level shift
	stepType                    // the block type
	stepParent1                 // the parent with the lower pool position
	stepParent2                 // the parent with the higher pool position
)

// step is one decision of the unrolled controller: block j's decision of a
// kind.
type step struct {
	block int
	kind  stepKind
}

// policy is the controller network: a one-layer LSTM unrolled over the
// decisions of every permuted block in build order, with one masked softmax
// head per kind of decision and one embedding table per kind for the action
// fed back as the next input.
//
// Per block j the steps are: level, then shift (intermediate blocks, when
// the space has more than one shift), then type (when it has more than one
// type), then two parents. The first step's input is a learned start
// vector; every later step's input is the embedding of the previous action.
// A step's head reads the LSTM output h: logits = h·W_kind + b_kind, masked
// to the choices the space allows given the actions so far:
//
//   - level: over every level of the space; an intermediate block may take
//     a level still left in the multiset, an output block an output level
//     not used yet;
//   - shift: over the space's shifts; those keeping base+shift inside the
//     space's level bounds (space.ShiftChoices);
//   - type: over the space's types, all allowed;
//   - parents: a masked softmax over the absolute positions of the
//     candidate pool (stem candidates, then permuted blocks in build
//     order; not a pointer network). The first parent takes any allowed
//     position but the highest (space.ParentChoices), the second a position
//     above the first, so each unordered pair of distinct parents is drawn
//     in exactly one way and LogProb is the log-probability of the
//     architecture's decisions, with no hidden order.
//
// A choice that is the only one allowed still runs its step (probability 1,
// log-probability 0, no entropy), so every architecture of a space takes
// the same steps and a batch of them unrolls together, one row each.
type policy struct {
	sp     *space.Space
	units  int
	k, n   int   // intermediate and all permuted blocks
	levels []int // the levels a block may have, increasing
	shifts []int // the space's shifts, when there is a shift step
	types  []spinenet.BlockType
	pool   []int // feature index of each pool position
	posOf  map[int]int
	parent [][]int // per block, its allowed parent positions, increasing
	steps  []step

	params []*autograd.Var
	// The LSTM kernel [2U, 4U] over [input, h] with gates i, f, o, g, and
	// its bias [4U].
	lstmW, lstmB *autograd.Var
	start        *autograd.Var    // [1, U], the first step's input
	emb          [5]*autograd.Var // per kind: [choices, U]
	headW, headB [5]*autograd.Var // per kind: [U, choices], [choices]
	width        [5]int           // per kind: number of choices
}

// newPolicy builds the network for sp with units LSTM units, every weight
// uniform in ±initRange drawn from rng in a fixed order.
func newPolicy(sp *space.Space, units int, rng *rand.Rand) *policy {
	p := &policy{sp: sp, units: units, k: sp.NumIntermediate(), n: sp.NumBlocks(), posOf: map[int]int{}}
	lv := map[int]bool{}
	for l, c := range sp.Intermediate {
		if c > 0 {
			lv[l] = true
		}
	}
	for _, l := range sp.OutputLevels {
		lv[l] = true
	}
	for l := range lv {
		p.levels = append(p.levels, l)
	}
	slices.Sort(p.levels)
	if len(sp.Shifts) > 1 {
		p.shifts = slices.Clone(sp.Shifts)
	}
	p.types = slices.Clone(sp.Types)
	p.pool = sp.ParentChoices(p.n - 1) // the whole pool but the last block
	for i, f := range p.pool {
		p.posOf[f] = i
	}
	for j := range p.n {
		var pos []int
		for _, f := range sp.ParentChoices(j) {
			pos = append(pos, p.posOf[f])
		}
		p.parent = append(p.parent, pos)
		p.steps = append(p.steps, step{j, stepLevel})
		if j < p.k && p.shifts != nil {
			p.steps = append(p.steps, step{j, stepShift})
		}
		if len(p.types) > 1 {
			p.steps = append(p.steps, step{j, stepType})
		}
		p.steps = append(p.steps, step{j, stepParent1}, step{j, stepParent2})
	}
	p.width = [5]int{len(p.levels), max(1, len(p.shifts)), len(p.types), len(p.pool), len(p.pool)}

	u := units
	param := func(name string, shape ...int) *autograd.Var {
		t := tensor.New(shape...)
		for i := range t.Data() {
			t.Data()[i] = float32((2*rng.Float64() - 1) * initRange)
		}
		v := autograd.NewParam("controller/"+name, t)
		p.params = append(p.params, v)
		return v
	}
	p.lstmW = param("lstm/kernel", 2*u, 4*u)
	p.lstmB = param("lstm/bias", 4*u)
	p.start = param("start", 1, u)
	names := [5]string{"level", "shift", "type", "parent1", "parent2"}
	for kind, name := range names {
		if stepKind(kind) == stepShift && p.shifts == nil || stepKind(kind) == stepType && len(p.types) < 2 {
			continue
		}
		if stepKind(kind) == stepParent2 { // both parent steps share the head and embedding
			p.emb[kind], p.headW[kind], p.headB[kind] = p.emb[stepParent1], p.headW[stepParent1], p.headB[stepParent1]
			continue
		}
		if stepKind(kind) == stepParent1 {
			name = "parent"
		}
		p.emb[kind] = param(name+"/embedding", p.width[kind], u)
		p.headW[kind] = param(name+"/head/kernel", u, p.width[kind])
		p.headB[kind] = param(name+"/head/bias", p.width[kind])
	}
	return p
}

// actions encodes member decisions d as the action index of every step.
func (p *policy) actions(d space.Decisions) ([]int32, error) {
	if len(d.Blocks) != p.n {
		return nil, fmt.Errorf("%d blocks, want %d", len(d.Blocks), p.n)
	}
	out := make([]int32, 0, len(p.steps))
	for _, s := range p.steps {
		b := d.Blocks[s.block]
		var i int
		switch s.kind {
		case stepLevel:
			i = slices.Index(p.levels, b.Base)
		case stepShift:
			i = slices.Index(p.shifts, b.Shift)
		case stepType:
			i = slices.Index(p.types, b.Type)
		case stepParent1, stepParent2:
			pos, ok := p.posOf[b.Parents[s.kind-stepParent1]]
			i = pos
			if !ok {
				i = -1
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("block %d: decision %+v is not one of the controller's choices", s.block, b)
		}
		out = append(out, int32(i))
	}
	return out, nil
}

// decisions decodes the actions of every step (one architecture).
func (p *policy) decisions(acts []int32) space.Decisions {
	d := space.Decisions{Space: p.sp.Name, Blocks: make([]space.Decision, p.n)}
	for j := range d.Blocks {
		d.Blocks[j] = space.Decision{Output: j >= p.k, Type: p.types[0]}
	}
	for i, s := range p.steps {
		b, a := &d.Blocks[s.block], int(acts[i])
		switch s.kind {
		case stepLevel:
			b.Base = p.levels[a]
			if !b.Output && p.shifts == nil {
				b.Shift = p.sp.ShiftChoices(b.Base)[0]
			}
		case stepShift:
			b.Shift = p.shifts[a]
		case stepType:
			b.Type = p.types[a]
		case stepParent1, stepParent2:
			b.Parents[s.kind-stepParent1] = p.pool[a]
		}
	}
	return d
}

// rowState tracks what one architecture has chosen so far, for the masks.
type rowState struct {
	left    map[int]int // intermediate levels left in the multiset
	outLeft map[int]bool
	base    int // the current block's base level
	first   int // the current block's first parent position
}

// allowed fills legal (width of s's kind) with the choices row r may take
// at step s.
func (p *policy) allowed(s step, st *rowState, legal []bool) {
	clear(legal)
	switch s.kind {
	case stepLevel:
		for i, l := range p.levels {
			legal[i] = s.block < p.k && st.left[l] > 0 || s.block >= p.k && st.outLeft[l]
		}
	case stepShift:
		for _, sh := range p.sp.ShiftChoices(st.base) {
			legal[slices.Index(p.shifts, sh)] = true
		}
	case stepType:
		for i := range legal {
			legal[i] = true
		}
	case stepParent1:
		pos := p.parent[s.block]
		for _, q := range pos[:len(pos)-1] {
			legal[q] = true
		}
	case stepParent2:
		for _, q := range p.parent[s.block] {
			legal[q] = q > st.first
		}
	}
}

// take records row r's action a at step s.
func (p *policy) take(s step, st *rowState, a int) {
	switch s.kind {
	case stepLevel:
		l := p.levels[a]
		st.base = l
		if s.block < p.k {
			st.left[l]--
		} else {
			delete(st.outLeft, l)
		}
	case stepParent1:
		st.first = a
	}
}

// chooser picks row r's action at step i from the log-probabilities ls of
// its masked head (legal marks the allowed choices).
type chooser func(i, r int, ls []float32, legal []bool) int

// run unrolls the controller over rows architectures at once, on tp. At
// every step it computes each row's masked log-softmax and asks choose for
// the row's action. It returns each row's total log-probability of its
// actions and its total negative entropy Σ_steps Σ_k p_k·log p_k, both
// [rows] (Vars of tp).
func (p *policy) run(tp *autograd.Tape, rows int, choose chooser) (logp, negEnt *autograd.Var) {
	u := p.units
	pool := tp.Pool()
	states := make([]rowState, rows)
	for r := range states {
		st := &states[r]
		st.left, st.outLeft = map[int]int{}, map[int]bool{}
		for l, c := range p.sp.Intermediate {
			st.left[l] = c
		}
		for _, l := range p.sp.OutputLevels {
			st.outLeft[l] = true
		}
	}
	ones := pool.Get(rows, 1)
	ones.Fill(1)
	x := tp.Dense(tp.Constant(ones), p.start, nil) // [rows, U]
	h := tp.Constant(pool.GetZeroed(rows, u))
	c := tp.Constant(pool.GetZeroed(rows, u))
	var legal []bool // rows × width of the step's kind
	acts := make([]int32, rows)
	logps := make([]*autograd.Var, 0, len(p.steps))
	ents := make([]*autograd.Var, 0, len(p.steps))
	for i, s := range p.steps {
		// The LSTM cell.
		z := tp.Dense(tp.Concat(1, x, h), p.lstmW, p.lstmB) // [rows, 4U]
		gates := tp.Sigmoid(tp.Slice(z, 1, 0, 3*u))
		g := tp.Tanh(tp.Slice(z, 1, 3*u, 4*u))
		in, forget, out := tp.Slice(gates, 1, 0, u), tp.Slice(gates, 1, u, 2*u), tp.Slice(gates, 1, 2*u, 3*u)
		c = tp.Add(tp.Mul(forget, c), tp.Mul(in, g))
		h = tp.Mul(out, tp.Tanh(c))

		// The masked head.
		w := p.width[s.kind]
		if cap(legal) < rows*w {
			legal = make([]bool, rows*w)
		}
		legal = legal[:rows*w]
		mask := pool.Get(rows, w)
		for r := range rows {
			p.allowed(s, &states[r], legal[r*w:(r+1)*w])
		}
		for j, ok := range legal {
			mask.Data()[j] = 0
			if !ok {
				mask.Data()[j] = maskedLogit
			}
		}
		ls := tp.LogSoftmax(tp.Add(tp.Dense(h, p.headW[s.kind], p.headB[s.kind]), tp.Constant(mask)))
		onehot := pool.GetZeroed(rows, w)
		for r := range rows {
			a := choose(i, r, ls.Value.Data()[r*w:(r+1)*w], legal[r*w:(r+1)*w])
			acts[r] = int32(a)
			onehot.Data()[r*w+a] = 1
			p.take(s, &states[r], a)
		}
		logps = append(logps, tp.Pick(ls, acts))
		ents = append(ents, tp.SumLast(tp.Mul(tp.Exp(ls), ls)))
		x = tp.Dense(tp.Constant(onehot), p.emb[s.kind], nil)
	}
	return tp.AddN(logps...), tp.AddN(ents...)
}

// sampler returns a chooser that draws each action from its masked softmax
// with one rng.Float64 per step that has more than one allowed choice, and
// records the actions in acts[r] (len(steps) each) and the log-probability
// of each row's sample in logp[r] (summed in float64).
func sampler(rng *rand.Rand, acts [][]int32, logp []float64) chooser {
	return func(i, r int, ls []float32, legal []bool) int {
		a, n := -1, 0
		for j, ok := range legal {
			if ok {
				a, n = j, n+1
			}
		}
		if n > 1 {
			u, cum := rng.Float64(), 0.0
			for j, ok := range legal {
				if !ok {
					continue
				}
				cum += math.Exp(float64(ls[j]))
				if u < cum {
					a = j
					break
				}
			} // rounding leaves cum a little below 1: then the last allowed choice (a) stands
		}
		acts[r][i] = int32(a)
		logp[r] += float64(ls[a])
		return a
	}
}

// replay returns a chooser that takes the recorded actions acts[r].
func replay(acts [][]int32) chooser {
	return func(i, r int, _ []float32, legal []bool) int {
		a := int(acts[r][i])
		if a < 0 || a >= len(legal) || !legal[a] {
			panic(fmt.Sprintf("algo: replayed action %d at step %d is not allowed (a bug)", a, i))
		}
		return a
	}
}
