package algo

import (
	"fmt"

	"github.com/spinenet-go/spinenet/search/space"
)

// NameList is the list "algorithm": it proposes Config.List in order and
// nothing after it. It trains chosen architectures through the engine, on
// the engine's workers and with its exactly-once results: the finalists of
// a search on a longer proxy (fidelity), the same architectures with
// another trial seed (the noise floor), or baselines retrained beside them.
// It is not in Names: it searches nothing.
const NameList = "list"

// OriginList marks a proposal of the list algorithm.
const OriginList Origin = "list"

// List proposes a fixed list of architectures (see NameList).
type List struct {
	*core
}

// NewList returns the list algorithm over sp for cfg.List, which must be
// non-empty, each entry a member of sp; Config.Baselines is refused (put
// the baselines in the list).
func NewList(sp *space.Space, cfg Config) (*List, error) {
	if len(cfg.List) == 0 {
		return nil, &ConfigError{Field: "list", Reason: "empty: the list algorithm needs the architectures to propose"}
	}
	if cfg.Baselines {
		return nil, &ConfigError{Field: "baselines", Reason: "not with the list algorithm: put the baselines in the list"}
	}
	c, err := newCore(NameList, sp, cfg)
	if err != nil {
		return nil, err
	}
	for i, d := range cfg.List {
		if err := sp.Check(d); err != nil {
			return nil, &ConfigError{Field: fmt.Sprintf("list[%d]", i), Reason: err.Error()}
		}
		c.baselines = append(c.baselines, d.Clone())
	}
	return &List{c}, nil
}

// Propose makes up to n proposals: the next entries of the list (fewer,
// or none, once it runs out).
func (a *List) Propose(n int) ([]Proposal, error) {
	if err := checkN(n); err != nil {
		return nil, err
	}
	out := make([]Proposal, 0, n)
	for range n {
		d, ok := a.nextBaseline()
		if !ok {
			break
		}
		p, err := a.add(d, "", OriginList, nil, "")
		if err != nil {
			return clonePending(out), err
		}
		out = append(out, p)
	}
	return clonePending(out), nil
}

// Observe records results (see Algorithm); the list learns nothing.
func (a *List) Observe(results []Result) error { return a.observe(results, nil) }

// MarshalState returns the state as JSON (see Restore).
func (a *List) MarshalState() ([]byte, error) { return a.marshal(nil, nil) }
