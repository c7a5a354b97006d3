package algo

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/spinenet-go/spinenet/search/space"
)

// seedMix is the PCG's second seed word, Config.Seed xor this constant.
const seedMix = 0x9e3779b97f4a7c15

// core is the state every algorithm shares: the space, the random source,
// the proposal counter, pending proposals, the hashes proposed and
// measured, and the counts.
type core struct {
	name string
	sp   *space.Space
	sum  string // spaceSum(sp)
	cfg  Config
	pcg  *rand.PCG
	rng  *rand.Rand

	baselines     []space.Decisions // the seeded baselines, in proposal order
	baselinesDone int               // how many of them were proposed

	nextSeq  int64              // Seq of the next proposal
	pending  []Proposal         // proposals without a result, in Seq order
	first    map[string]int64   // hash → Seq of its first proposal
	measured map[string]float64 // hash → its first successful reward
	observed int64              // successful results
	failed   int64              // failed results
	best     *Member            // highest reward so far (earliest among equals)
}

// newCore validates sp and cfg and starts an algorithm's state.
func newCore(name string, sp *space.Space, cfg Config) (*core, error) {
	if sp == nil {
		return nil, errors.New("search algorithm: no search space")
	}
	if err := sp.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sum, err := spaceSum(sp)
	if err != nil {
		return nil, err
	}
	c := &core{name: name, sp: sp, sum: sum, cfg: cfg, pcg: rand.NewPCG(cfg.Seed, cfg.Seed^seedMix),
		nextSeq: 1, first: map[string]int64{}, measured: map[string]float64{}}
	c.rng = rand.New(c.pcg)
	if len(cfg.List) > 0 && name != NameList {
		return nil, &ConfigError{Field: "list", Reason: fmt.Sprintf("only the %s algorithm takes a list, not %s", NameList, name)}
	}
	if cfg.Baselines {
		c.baselines = Baselines(sp)
	}
	return c, nil
}

// Baselines returns the space's baselines that Config.Baselines seeds, in
// that order: the ResNet order, then SpineNet-49 when it is a member of sp
// (spinenet49 only), each kept only if a member and not a duplicate of an
// earlier one.
func Baselines(sp *space.Space) []space.Decisions {
	var out []space.Decisions
	seen := map[string]bool{}
	try := func(d space.Decisions, err error) {
		if err != nil {
			return
		}
		if h, err := sp.Hash(d); err == nil && !seen[h] {
			seen[h] = true
			out = append(out, d)
		}
	}
	try(sp.ResNetOrder(), nil)
	try(sp.SpineNet49())
	return out
}

// Name is the algorithm's name.
func (c *core) Name() string { return c.name }

// nextBaseline returns the next baseline still to propose.
func (c *core) nextBaseline() (space.Decisions, bool) {
	if c.baselinesDone >= len(c.baselines) {
		return space.Decisions{}, false
	}
	d := c.baselines[c.baselinesDone].Clone()
	c.baselinesDone++
	return d, true
}

// sample draws a uniform member of the space and its hash; with Dedupe it
// draws again, up to DedupeRetries times, while the architecture was
// already proposed.
func (c *core) sample() (space.Decisions, string, error) {
	for try := 0; ; try++ {
		d := c.sp.Sample(c.rng)
		h, err := c.sp.Hash(d)
		if err != nil {
			return space.Decisions{}, "", fmt.Errorf("search algorithm: a sample of space %q does not decode (a bug): %w", c.sp.Name, err)
		}
		if _, dup := c.first[h]; !c.cfg.Dedupe || !dup || try >= c.cfg.DedupeRetries {
			return d, h, nil
		}
	}
}

// add makes d (with hash h, or "" to compute it) the next proposal and
// records it as pending.
func (c *core) add(d space.Decisions, h string, origin Origin, parent *Member, m space.Mutation) (Proposal, error) {
	if h == "" {
		var err error
		if h, err = c.sp.Hash(d); err != nil {
			return Proposal{}, fmt.Errorf("search algorithm: a %s proposal does not decode (a bug): %w", origin, err)
		}
	}
	p := Proposal{Seq: c.nextSeq, Decisions: d, Hash: h, Origin: origin, Mutation: m}
	if parent != nil {
		p.ParentSeq, p.ParentHash = parent.Seq, parent.Hash
	}
	if s, ok := c.first[h]; ok {
		p.DuplicateOf = s
	} else {
		c.first[h] = p.Seq
	}
	if r, ok := c.measured[h]; ok && c.cfg.ReuseDuplicates {
		p.Known, p.KnownReward = true, r
	}
	c.nextSeq++
	c.pending = append(c.pending, p)
	return p, nil
}

// observe checks a batch of results, then records them in order, calling
// onSuccess with each successful one.
func (c *core) observe(results []Result, onSuccess func(Member)) error {
	return c.observeEach(results, func(_ Proposal, _ Result, m *Member) {
		if m != nil && onSuccess != nil {
			onSuccess(*m)
		}
	})
}

// observeEach checks a batch of results, then records them in order,
// calling each (when not nil) with every result, its proposal and, for a
// successful one, the member it makes (nil for a failure).
func (c *core) observeEach(results []Result, each func(p Proposal, r Result, m *Member)) error {
	at := make(map[int64]int, len(c.pending))
	for i, p := range c.pending {
		at[p.Seq] = i
	}
	seen := make(map[int64]bool, len(results))
	for i, r := range results {
		bad := func(format string, args ...any) error {
			return &ObserveError{Index: i, Seq: r.Seq, Reason: fmt.Sprintf(format, args...)}
		}
		j, ok := at[r.Seq]
		switch {
		case seen[r.Seq]:
			return bad("seq appears twice in the batch")
		case !ok && r.Seq >= 1 && r.Seq < c.nextSeq:
			return bad("the proposal has a result already")
		case !ok:
			return bad("no such proposal (proposed: seq 1..%d)", c.nextSeq-1)
		case r.Hash != "" && r.Hash != c.pending[j].Hash:
			return bad("hash %.12s…, but the proposal's is %.12s…", r.Hash, c.pending[j].Hash)
		case !r.Failed && !finite(r.Reward):
			return bad("reward %v, want a finite number (or failed: true)", r.Reward)
		}
		seen[r.Seq] = true
	}
	for _, r := range results {
		p := c.pending[at[r.Seq]]
		if r.Failed {
			c.failed++
			if each != nil {
				each(p, r, nil)
			}
			continue
		}
		c.observed++
		if _, ok := c.measured[p.Hash]; !ok {
			c.measured[p.Hash] = r.Reward
		}
		m := Member{Seq: p.Seq, Hash: p.Hash, Decisions: p.Decisions.Clone(), Reward: r.Reward}
		if c.best == nil || m.Reward > c.best.Reward {
			b := m
			c.best = &b
		}
		if each != nil {
			each(p, r, &m)
		}
	}
	c.pending = slices.DeleteFunc(c.pending, func(p Proposal) bool { return seen[p.Seq] })
	return nil
}

// Known returns the first successful reward recorded for hash.
func (c *core) Known(hash string) (float64, bool) {
	r, ok := c.measured[hash]
	return r, ok
}

// Pending returns copies of the pending proposals, in Seq order.
func (c *core) Pending() []Proposal { return clonePending(c.pending) }

// Stats counts proposals and results and copies the best.
func (c *core) Stats() Stats {
	s := Stats{Proposed: c.nextSeq - 1, Observed: c.observed, Failed: c.failed, Pending: len(c.pending)}
	if c.best != nil {
		b := *c.best
		b.Decisions = b.Decisions.Clone()
		s.Best = &b
	}
	return s
}

// checkN refuses a negative proposal count.
func checkN(n int) error {
	if n < 0 {
		return fmt.Errorf("propose: n = %d, want n ≥ 0", n)
	}
	return nil
}
