package algo

import (
	"fmt"
	"slices"

	"github.com/spinenet-go/spinenet/search/space"
)

// Evolution is regularized (aging) evolution (Real et al., AAAI 2019;
// nas.md §2). The population is a queue of the last Config.Population (P)
// successful results, in the order Observe recorded them. Until it holds P
// members, proposals are the baselines, if any, then uniform samples. After
// that each proposal is a child: Config.Tournament (S) members are drawn
// uniformly with replacement, and the one with the highest reward (the
// first drawn among equals) is mutated by space.Space.MutateRandom, one
// operator of nas.md §2. Each successful result joins the population at
// the young end and, once it holds more than P, the oldest member leaves
// (not the worst: that is the "aging"). Failed results never join.
//
// It is asynchronous: Propose may be called while earlier proposals are
// pending, and parents come from the population as it is at that moment.
type Evolution struct {
	*core
	pop []Member // oldest first
}

// NewEvolution returns regularized evolution over sp; it validates sp and
// cfg.
func NewEvolution(sp *space.Space, cfg Config) (*Evolution, error) {
	c, err := newCore(NameEvolution, sp, cfg)
	if err != nil {
		return nil, err
	}
	return &Evolution{core: c}, nil
}

// Propose makes n proposals: baselines still to propose, then random
// samples while the population holds fewer than P members, then children
// of tournament winners.
func (a *Evolution) Propose(n int) ([]Proposal, error) {
	if err := checkN(n); err != nil {
		return nil, err
	}
	out := make([]Proposal, 0, n)
	for range n {
		p, err := a.propose()
		if err != nil {
			return clonePending(out), err
		}
		out = append(out, p)
	}
	return clonePending(out), nil
}

// propose makes one proposal.
func (a *Evolution) propose() (Proposal, error) {
	if d, ok := a.nextBaseline(); ok {
		return a.add(d, "", OriginBaseline, nil, "")
	}
	if len(a.pop) < a.cfg.Population {
		d, h, err := a.sample()
		if err != nil {
			return Proposal{}, err
		}
		return a.add(d, h, OriginRandom, nil, "")
	}
	parent := a.tournament()
	child, m, err := a.sp.MutateRandom(a.rng, parent.Decisions)
	if err != nil {
		return Proposal{}, fmt.Errorf("search algorithm: mutating population member seq %d: %w", parent.Seq, err)
	}
	return a.add(child, "", OriginMutation, parent, m)
}

// tournament draws S members uniformly with replacement and returns the
// best, the first drawn among equal rewards.
func (a *Evolution) tournament() *Member {
	var best *Member
	for range a.cfg.Tournament {
		m := &a.pop[a.rng.IntN(len(a.pop))]
		if best == nil || m.Reward > best.Reward {
			best = m
		}
	}
	return best
}

// Observe records results (see Algorithm): each successful one joins the
// population, and the oldest members leave while it holds more than P.
func (a *Evolution) Observe(results []Result) error {
	return a.observe(results, func(m Member) {
		a.pop = append(a.pop, m)
		if over := len(a.pop) - a.cfg.Population; over > 0 {
			a.pop = slices.Delete(a.pop, 0, over)
		}
	})
}

// Population returns a copy of the population, oldest first.
func (a *Evolution) Population() []Member {
	out := make([]Member, len(a.pop))
	for i, m := range a.pop {
		out[i] = m
		out[i].Decisions = m.Decisions.Clone()
	}
	return out
}

// MarshalState returns the state as JSON (see Restore).
func (a *Evolution) MarshalState() ([]byte, error) { return a.marshal(a.pop, nil) }
