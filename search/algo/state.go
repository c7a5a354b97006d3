package algo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spinenet-go/spinenet/search/space"
)

// StateVersion is the "v" field of a marshalled state.
const StateVersion = 1

// state is the JSON of MarshalState: everything Restore needs to carry on
// exactly where the algorithm was. Maps marshal with sorted keys and
// float64s in their shortest round-tripping form, so equal states give
// equal bytes.
type state struct {
	V             int    `json:"v"`
	Algorithm     string `json:"algorithm"`
	Space         string `json:"space"`
	SpaceSum      string `json:"space_sum"`
	Config        Config `json:"config"`
	RNG           []byte `json:"rng"` // rand.PCG's MarshalBinary
	NextSeq       int64  `json:"next_seq"`
	BaselinesDone int    `json:"baselines_done"`
	Observed      int64  `json:"observed"`
	Failed        int64  `json:"failed"`
	// Pending are the proposals without a result, in Seq order.
	Pending []Proposal `json:"pending"`
	// First maps each proposed hash to the Seq of its first proposal.
	First map[string]int64 `json:"first"`
	// Measured maps each measured hash to its first successful reward.
	Measured map[string]float64 `json:"measured"`
	Best     *Member            `json:"best,omitempty"`
	// Population is evolution's queue, oldest first.
	Population []Member `json:"population,omitempty"`
	// Controller is the RL controller's learning state: weights, Adam
	// moments, baseline, buffered results.
	Controller *controllerState `json:"controller,omitempty"`
}

// marshal writes the core's state with an algorithm's population or
// controller state.
func (c *core) marshal(pop []Member, ctl *controllerState) ([]byte, error) {
	rng, err := c.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	st := state{V: StateVersion, Algorithm: c.name, Space: c.sp.Name, SpaceSum: c.sum, Config: c.cfg, RNG: rng,
		NextSeq: c.nextSeq, BaselinesDone: c.baselinesDone, Observed: c.observed, Failed: c.failed,
		Pending: c.pending, First: c.first, Measured: c.measured, Best: c.best, Population: pop, Controller: ctl}
	if st.Pending == nil {
		st.Pending = []Proposal{}
	}
	return json.Marshal(st)
}

// StateError reports a marshalled state that Restore refuses.
type StateError struct {
	Field, Reason string
}

// Error names the field and what was wrong.
func (e *StateError) Error() string {
	return fmt.Sprintf("search algorithm state: %s: %s", e.Field, e.Reason)
}

// Restore rebuilds an algorithm from MarshalState's bytes over sp, which
// must be the space the state was made with (same name and configuration).
// It checks the state — version, algorithm, space, config, counters, and
// that every pending proposal, population member and buffered controller
// result is a member of sp with the recorded hash, and the controller's
// weights and moments fit its network — and refuses unknown fields. Config
// fields the state leaves out take DefaultConfig's values.
func Restore(sp *space.Space, b []byte) (Algorithm, error) {
	st := state{Config: DefaultConfig()}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("search algorithm state: %w", err)
	}
	bad := func(field, format string, args ...any) error {
		return &StateError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if st.V != StateVersion {
		return nil, bad("v", "%d, want %d", st.V, StateVersion)
	}
	var c *core
	var err error
	var evo *Evolution
	var ctl *Controller
	var alg Algorithm
	switch st.Algorithm {
	case NameRandom:
		var r *Random
		if r, err = NewRandom(sp, st.Config); err == nil {
			c, alg = r.core, r
		}
	case NameEvolution:
		if evo, err = NewEvolution(sp, st.Config); err == nil {
			c, alg = evo.core, evo
		}
	case NamePPO, NameReinforce:
		if ctl, err = NewController(st.Algorithm, sp, st.Config); err == nil {
			c, alg = ctl.core, ctl
		}
	case NameList:
		var l *List
		if l, err = NewList(sp, st.Config); err == nil {
			c, alg = l.core, l
		}
	default:
		return nil, fmt.Errorf("search algorithm state: %w %q (known: %s)", ErrUnknownAlgorithm, st.Algorithm, strings.Join(Names(), ", "))
	}
	if err != nil {
		return nil, err
	}
	if st.Space != sp.Name {
		return nil, bad("space", "%q, but restoring over space %q", st.Space, sp.Name)
	}
	if st.SpaceSum != c.sum {
		return nil, bad("space_sum", "the state was made with another configuration of space %q", sp.Name)
	}
	if err := c.pcg.UnmarshalBinary(st.RNG); err != nil {
		return nil, bad("rng", "%v", err)
	}
	if st.NextSeq < 1 {
		return nil, bad("next_seq", "%d, want ≥ 1", st.NextSeq)
	}
	if st.BaselinesDone < 0 || st.BaselinesDone > len(c.baselines) {
		return nil, bad("baselines_done", "%d, want 0..%d", st.BaselinesDone, len(c.baselines))
	}
	if st.Observed < 0 || st.Failed < 0 || st.Observed+st.Failed+int64(len(st.Pending)) != st.NextSeq-1 {
		return nil, bad("observed/failed", "%d observed + %d failed + %d pending, want %d (the proposals made)",
			st.Observed, st.Failed, len(st.Pending), st.NextSeq-1)
	}
	seqOK := func(s int64) bool { return s >= 1 && s < st.NextSeq }
	check := func(field string, seq int64, d space.Decisions, hash string) error {
		if !seqOK(seq) {
			return bad(field, "seq %d, want 1..%d", seq, st.NextSeq-1)
		}
		h, err := sp.Hash(d)
		if err != nil {
			return bad(field, "seq %d: %v", seq, err)
		}
		if h != hash {
			return bad(field, "seq %d: hash %.12s…, but its decisions hash to %.12s…", seq, hash, h)
		}
		if _, ok := st.First[h]; !ok {
			return bad(field, "seq %d: hash %.12s… is missing from first", seq, h)
		}
		return nil
	}
	for i, p := range st.Pending {
		if i > 0 && p.Seq <= st.Pending[i-1].Seq {
			return nil, bad("pending", "seq %d after %d, want increasing seqs", p.Seq, st.Pending[i-1].Seq)
		}
		if err := check("pending", p.Seq, p.Decisions, p.Hash); err != nil {
			return nil, err
		}
	}
	for _, h := range slices.Sorted(maps.Keys(st.First)) {
		if !seqOK(st.First[h]) {
			return nil, bad("first", "%.12s…: seq %d, want 1..%d", h, st.First[h], st.NextSeq-1)
		}
	}
	for _, h := range slices.Sorted(maps.Keys(st.Measured)) {
		if _, ok := st.First[h]; !ok {
			return nil, bad("measured", "%.12s… was never proposed (missing from first)", h)
		}
	}
	if st.Best != nil {
		if err := check("best", st.Best.Seq, st.Best.Decisions, st.Best.Hash); err != nil {
			return nil, err
		}
	}
	if evo == nil && st.Population != nil {
		return nil, bad("population", "%s has none", st.Algorithm)
	}
	if ctl == nil && st.Controller != nil {
		return nil, bad("controller", "%s has none", st.Algorithm)
	}
	for _, p := range st.Pending {
		if ctl == nil && (p.PolicyVersion != 0 || p.LogProb != 0) {
			return nil, bad("pending", "seq %d: policy fields, but %s has no policy", p.Seq, st.Algorithm)
		}
		if ctl != nil && (p.PolicyVersion < 0 || st.Controller != nil && p.PolicyVersion > st.Controller.Version ||
			!finite(p.LogProb) || p.LogProb > 0 || p.PolicyVersion == 0 && p.LogProb != 0) {
			return nil, bad("pending", "seq %d: policy version %d, log-probability %v", p.Seq, p.PolicyVersion, p.LogProb)
		}
	}
	if len(st.Population) > st.Config.Population {
		return nil, bad("population", "%d members, want at most %d", len(st.Population), st.Config.Population)
	}
	for _, m := range st.Population {
		if err := check("population", m.Seq, m.Decisions, m.Hash); err != nil {
			return nil, err
		}
	}
	c.nextSeq, c.baselinesDone, c.observed, c.failed = st.NextSeq, st.BaselinesDone, st.Observed, st.Failed
	c.pending = st.Pending
	if st.First != nil {
		c.first = st.First
	}
	if st.Measured != nil {
		c.measured = st.Measured
	}
	c.best = st.Best
	if evo != nil {
		evo.pop = st.Population
	}
	if ctl != nil {
		if err := ctl.restore(st.Controller, st.NextSeq); err != nil {
			return nil, err
		}
	}
	return alg, nil
}
