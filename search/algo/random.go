package algo

import "github.com/spinenet-go/spinenet/search/space"

// Random is random search (nas.md §2): after the baselines, if any, every
// proposal is a uniform sample of the space (space.Space.Sample), skipping
// architectures already proposed under Config.Dedupe.
type Random struct {
	*core
}

// NewRandom returns random search over sp; it validates sp and cfg.
func NewRandom(sp *space.Space, cfg Config) (*Random, error) {
	c, err := newCore(NameRandom, sp, cfg)
	if err != nil {
		return nil, err
	}
	return &Random{c}, nil
}

// Propose makes n proposals: baselines still to propose, then samples.
func (a *Random) Propose(n int) ([]Proposal, error) {
	if err := checkN(n); err != nil {
		return nil, err
	}
	out := make([]Proposal, 0, n)
	for range n {
		var p Proposal
		var err error
		if d, ok := a.nextBaseline(); ok {
			p, err = a.add(d, "", OriginBaseline, nil, "")
		} else {
			var d space.Decisions
			var h string
			if d, h, err = a.sample(); err == nil {
				p, err = a.add(d, h, OriginRandom, nil, "")
			}
		}
		if err != nil {
			return clonePending(out), err
		}
		out = append(out, p)
	}
	return clonePending(out), nil
}

// Observe records results (see Algorithm); random search learns nothing
// from them but the known rewards and the best.
func (a *Random) Observe(results []Result) error { return a.observe(results, nil) }

// MarshalState returns the state as JSON (see Restore).
func (a *Random) MarshalState() ([]byte, error) { return a.marshal(nil, nil) }
