package algo

import (
	"fmt"
	"math"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/tensor"
)

// Controller is the RL controller of nas.md §1.3: an LSTM policy over the
// per-block decisions (see the policy type for the network) trained with
// PPO ("ppo", the default, NASNet's algorithm) or REINFORCE ("reinforce",
// Zoph & Le's), each with an exponential-moving-average reward baseline.
//
// Proposals: after the baselines, if any (PolicyVersion 0, not used for
// learning), every proposal is a sample of the current policy, Origin
// "controller", with its PolicyVersion (1 before the first update, +1
// after each) and LogProb, the log-probability of its decisions under that
// policy. Samples are not deduplicated: a converging policy repeats its
// favourites, and ReuseDuplicates lets the caller skip measuring them again.
//
// Learning: the results of policy samples are buffered in the order
// Observe records them. A failed result gets the failure reward, the lowest
// successful reward observed so far (0 before any; nas.md §4.3 item 6, as
// Vertex does), fixed when it is recorded. Each time the buffer holds
// Config.UpdateBatch (B) successful results — wherever that falls in an
// Observe batch, so updates do not depend on how results are batched — the
// policy is updated from the whole buffer and the buffer is emptied:
//
//  1. The advantage of each buffered sample is its reward minus the
//     baseline b as it was before this batch (for the first batch, the
//     batch's mean reward). Then b folds in the batch's rewards one by one,
//     b = d·b + (1−d)·R with d = Config.BaselineDecay.
//  2. Samples made by a policy more than Config.MaxStaleness (K) versions
//     older than the current one are dropped (counted in
//     ControllerStats.Dropped).
//  3. PPO takes Config.PPOEpochs Adam steps on the clipped surrogate
//     −mean min(ρA, clip(ρ, 1−ε, 1+ε)A), ρ = exp(log π(a) − LogProb), with
//     LogProb recorded at proposal time (so a stale sample's ratio is
//     against the policy that made it). REINFORCE takes one step on
//     −mean A·log π(a). Both add −Config.EntropyWeight·mean entropy, the
//     entropy of a sample being the sum over its decisions of the entropy
//     of each masked softmax head.
//  4. The policy version goes up by one.
//
// Baseline proposals' results count for Known, the best and the failure
// reward only.
type Controller struct {
	*core
	net *policy
	opt *optim.Adam
	tp  *autograd.Tape // training tape, reused
	inf *autograd.Tape // sampling tape, reused

	version    int64 // the current policy's version (1 + updates)
	baseline   float64
	hasBase    bool
	minReward  float64 // lowest successful reward so far
	hasMin     bool
	buffer     []Sample // results awaiting an update, in the order recorded
	successes  int      // successful results in buffer
	updates    int64
	dropped    int64
	lastUpdate UpdateStats
}

// Sample is a result of a policy sample, buffered for the next update.
type Sample struct {
	// Seq, Hash and Decisions are the proposal's.
	Seq       int64           `json:"seq"`
	Hash      string          `json:"hash"`
	Decisions space.Decisions `json:"decisions"`
	// PolicyVersion and LogProb are the proposal's.
	PolicyVersion int64   `json:"policy_version"`
	LogProb       float64 `json:"log_prob"`
	// Reward is the result's reward or, for a failure, the failure reward.
	Reward float64 `json:"reward"`
	// Failed marks a failed result.
	Failed bool `json:"failed,omitempty"`
}

// UpdateStats describes one policy update.
type UpdateStats struct {
	// Version is the policy version the update made.
	Version int64 `json:"version"`
	// Samples is the number of buffered results, Used those not dropped as
	// stale.
	Samples int `json:"samples"`
	Used    int `json:"used"`
	// Baseline is the baseline the advantages were taken against, and
	// MeanReward the mean reward of the buffered results.
	Baseline   float64 `json:"baseline"`
	MeanReward float64 `json:"mean_reward"`
	// Entropy is the mean entropy of the used samples under the policy
	// before the update (nats per architecture).
	Entropy float64 `json:"entropy"`
	// ClipFraction is, for PPO, the fraction of (sample, epoch) terms
	// whose clipped ratio stopped the gradient.
	ClipFraction float64 `json:"clip_fraction"`
	// SkippedSteps counts Adam steps skipped because a gradient was not
	// finite (rewards so large that float32 overflows).
	SkippedSteps int `json:"skipped_steps,omitempty"`
}

// ControllerStats reports a controller's learning state.
type ControllerStats struct {
	// PolicyVersion is the current policy's version; Updates is
	// PolicyVersion − 1.
	PolicyVersion, Updates int64
	// Baseline is the reward baseline (valid when HasBaseline, after the
	// first update).
	Baseline    float64
	HasBaseline bool
	// Buffered is the number of results waiting for the next update, of
	// them BufferedSuccesses successful.
	Buffered, BufferedSuccesses int
	// Dropped counts samples left out of updates as stale.
	Dropped int64
	// Last is the last update (zero before the first).
	Last UpdateStats
}

// NewController returns the RL controller over sp, trained by name
// (NamePPO or NameReinforce); it validates sp and cfg. Its weights are
// drawn from the PCG seeded by cfg.Seed, before any proposal.
func NewController(name string, sp *space.Space, cfg Config) (*Controller, error) {
	if name != NamePPO && name != NameReinforce {
		return nil, fmt.Errorf("search algorithm: %w %q for a controller (want %s or %s)", ErrUnknownAlgorithm, name, NamePPO, NameReinforce)
	}
	c, err := newCore(name, sp, cfg)
	if err != nil {
		return nil, err
	}
	a := &Controller{core: c, net: newPolicy(sp, cfg.LSTMUnits, c.rng), tp: autograd.NewTape(cfg.Seed),
		inf: autograd.NewInferenceTape(), version: 1}
	if a.opt, err = optim.NewAdam(a.net.params, optim.DefaultAdamConfig()); err != nil {
		return nil, fmt.Errorf("search algorithm: controller optimizer (a bug): %w", err)
	}
	return a, nil
}

// PolicyVersion is the version of the policy that samples now.
func (a *Controller) PolicyVersion() int64 { return a.version }

// ControllerStats reports the learning state.
func (a *Controller) ControllerStats() ControllerStats {
	return ControllerStats{PolicyVersion: a.version, Updates: a.updates, Baseline: a.baseline, HasBaseline: a.hasBase,
		Buffered: len(a.buffer), BufferedSuccesses: a.successes, Dropped: a.dropped, Last: a.lastUpdate}
}

// Propose makes n proposals: baselines still to propose, then samples of
// the current policy, drawn together in one unrolled batch.
func (a *Controller) Propose(n int) ([]Proposal, error) {
	if err := checkN(n); err != nil {
		return nil, err
	}
	out := make([]Proposal, 0, n)
	for len(out) < n {
		d, ok := a.nextBaseline()
		if !ok {
			break
		}
		p, err := a.add(d, "", OriginBaseline, nil, "")
		if err != nil {
			return clonePending(out), err
		}
		out = append(out, p)
	}
	rows := n - len(out)
	if rows == 0 {
		return clonePending(out), nil
	}
	acts := make([][]int32, rows)
	for r := range acts {
		acts[r] = make([]int32, len(a.net.steps))
	}
	logp := make([]float64, rows)
	a.net.run(a.inf, rows, sampler(a.rng, acts, logp))
	a.inf.Reset()
	for r := range rows {
		if _, err := a.add(a.net.decisions(acts[r]), "", OriginController, nil, ""); err != nil {
			return clonePending(out), err
		}
		p := &a.pending[len(a.pending)-1]
		p.PolicyVersion, p.LogProb = a.version, logp[r]
		out = append(out, *p)
	}
	return clonePending(out), nil
}

// Observe records results (see Algorithm and Controller): results of
// policy samples are buffered, and each time B successful ones have
// arrived the policy is updated.
func (a *Controller) Observe(results []Result) error {
	var failed error
	err := a.observeEach(results, func(p Proposal, r Result, m *Member) {
		if m != nil && (!a.hasMin || m.Reward < a.minReward) {
			a.minReward, a.hasMin = m.Reward, true
		}
		if p.PolicyVersion == 0 || failed != nil {
			return // a baseline: nothing to learn from
		}
		s := Sample{Seq: p.Seq, Hash: p.Hash, Decisions: p.Decisions.Clone(), PolicyVersion: p.PolicyVersion,
			LogProb: p.LogProb, Reward: r.Reward, Failed: r.Failed}
		if r.Failed {
			s.Reward = a.failureReward()
		} else {
			a.successes++
		}
		a.buffer = append(a.buffer, s)
		if a.successes >= a.cfg.UpdateBatch {
			failed = a.update()
		}
	})
	if err != nil {
		return err
	}
	return failed
}

// failureReward is the reward a failed trial gets: the lowest successful
// reward so far, or 0 before any.
func (a *Controller) failureReward() float64 {
	if a.hasMin {
		return a.minReward
	}
	return 0
}

// update trains the policy on the buffer (see Controller) and empties it.
func (a *Controller) update() error {
	st := UpdateStats{Samples: len(a.buffer)}
	var sum float64
	for _, s := range a.buffer {
		sum += s.Reward
	}
	st.MeanReward = sum / float64(len(a.buffer))
	if !a.hasBase {
		a.baseline, a.hasBase = st.MeanReward, true
	}
	st.Baseline = a.baseline
	var used []Sample
	var adv []float64
	for _, s := range a.buffer {
		if a.version-s.PolicyVersion > int64(a.cfg.MaxStaleness) {
			a.dropped++
			continue
		}
		used = append(used, s)
		adv = append(adv, s.Reward-st.Baseline)
	}
	d := a.cfg.BaselineDecay
	for _, s := range a.buffer {
		a.baseline = d*a.baseline + (1-d)*s.Reward
	}
	st.Used = len(used)
	a.buffer, a.successes = a.buffer[:0], 0
	if len(used) > 0 {
		if err := a.train(used, adv, &st); err != nil {
			return err
		}
	}
	a.version++
	a.updates++
	st.Version = a.version
	a.lastUpdate = st
	return nil
}

// train takes the update's Adam steps on the used samples with their
// advantages.
func (a *Controller) train(used []Sample, adv []float64, st *UpdateStats) error {
	rows := len(used)
	acts := make([][]int32, rows)
	for r, s := range used {
		var err error
		if acts[r], err = a.net.actions(s.Decisions); err != nil {
			return fmt.Errorf("search algorithm: sample seq %d: %w (a bug)", s.Seq, err)
		}
	}
	epochs := 1
	if a.name == NamePPO {
		epochs = a.cfg.PPOEpochs
	}
	n := float64(rows)
	eps := a.cfg.PPOClip
	clipped := 0
	for e := range epochs {
		logp, negEnt := a.net.run(a.tp, rows, replay(acts))
		out := a.tp.Concat(0, logp, negEnt) // [2·rows]
		seed := a.tp.Pool().Get(2 * rows)
		g := seed.Data()
		for r := range rows {
			lp := float64(logp.Value.Data()[r])
			if e == 0 {
				st.Entropy -= float64(negEnt.Value.Data()[r]) / n
			}
			// ∂loss/∂log π(a_r) of the mean loss over the rows.
			if a.name == NamePPO {
				rho := math.Exp(lp - used[r].LogProb)
				if adv[r] >= 0 && rho > 1+eps || adv[r] < 0 && rho < 1-eps {
					g[r] = 0 // the clipped term is the minimum: no gradient
					clipped++
				} else {
					g[r] = float32(-adv[r] * rho / n)
				}
			} else {
				g[r] = float32(-adv[r] / n)
			}
			g[rows+r] = float32(a.cfg.EntropyWeight / n) // loss −β·H = +β·Σ p log p
		}
		if err := a.tp.BackwardWith(out, seed); err != nil {
			a.tp.Reset()
			return fmt.Errorf("search algorithm: controller backward pass (a bug): %w", err)
		}
		a.tp.Reset()
		if _, err := a.opt.Step(a.cfg.LearningRate); err != nil {
			// A non-finite gradient: skip the step (the optimizer changed
			// nothing) rather than poison the policy.
			a.opt.ZeroGrad()
			st.SkippedSteps++
		}
	}
	if a.name == NamePPO {
		st.ClipFraction = float64(clipped) / float64(rows*epochs)
	}
	return nil
}

// MarshalState returns the state as JSON (see Restore).
func (a *Controller) MarshalState() ([]byte, error) {
	cs := &controllerState{Version: a.version, Updates: a.updates, Dropped: a.dropped, Buffer: a.buffer, Last: a.lastUpdate}
	if cs.Buffer == nil {
		cs.Buffer = []Sample{}
	}
	if a.hasBase {
		b := a.baseline
		cs.Baseline = &b
	}
	if a.hasMin {
		m := a.minReward
		cs.MinReward = &m
	}
	cs.Weights = map[string]tensorBytes{}
	for _, p := range a.net.params {
		cs.Weights[p.Name] = encodeTensor(p.Value)
	}
	os := a.opt.State()
	cs.AdamSteps = os.Steps
	cs.AdamM, cs.AdamV = encodeTensors(os.M), encodeTensors(os.V)
	return a.marshal(nil, cs)
}

// controllerState is the controller's part of the marshalled state.
type controllerState struct {
	Version int64 `json:"policy_version"`
	Updates int64 `json:"updates"`
	Dropped int64 `json:"dropped"`
	// Baseline is the reward baseline (absent before the first update),
	// MinReward the lowest successful reward (absent before the first).
	Baseline  *float64 `json:"baseline,omitempty"`
	MinReward *float64 `json:"min_reward,omitempty"`
	// Buffer are the results awaiting the next update, in the order
	// recorded.
	Buffer []Sample    `json:"buffer"`
	Last   UpdateStats `json:"last_update"`
	// Weights are the policy's parameters; AdamSteps, AdamM and AdamV the
	// optimizer's step count and moments; all keyed by parameter name.
	Weights   map[string]tensorBytes `json:"weights"`
	AdamSteps int64                  `json:"adam_steps"`
	AdamM     map[string]tensorBytes `json:"adam_m"`
	AdamV     map[string]tensorBytes `json:"adam_v"`
}

// tensorBytes is a float32 tensor in JSON: its shape and its elements as
// little-endian IEEE 754 bytes (base64 in JSON), exact and compact.
type tensorBytes struct {
	Shape []int  `json:"shape"`
	Data  []byte `json:"data"`
}

func encodeTensor(t *tensor.Tensor) tensorBytes {
	b := make([]byte, 4*t.Len())
	for i, v := range t.Data() {
		u := math.Float32bits(v)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return tensorBytes{Shape: append([]int(nil), t.Shape()...), Data: b}
}

func encodeTensors(m map[string]*tensor.Tensor) map[string]tensorBytes {
	out := make(map[string]tensorBytes, len(m))
	for k, t := range m {
		out[k] = encodeTensor(t)
	}
	return out
}

// decode returns the tensor, or an error when the bytes do not fit the
// shape or hold NaN or ±Inf.
func (tb tensorBytes) decode() (*tensor.Tensor, error) {
	n := 1
	for _, d := range tb.Shape {
		if d < 0 {
			return nil, fmt.Errorf("shape %v", tb.Shape)
		}
		n *= d
	}
	if len(tb.Data) != 4*n {
		return nil, fmt.Errorf("%d bytes for shape %v, want %d", len(tb.Data), tb.Shape, 4*n)
	}
	data := make([]float32, n)
	for i := range data {
		b := tb.Data[4*i : 4*i+4]
		data[i] = math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		if math.IsNaN(float64(data[i])) || math.IsInf(float64(data[i]), 0) {
			return nil, fmt.Errorf("element %d is %v", i, data[i])
		}
	}
	return tensor.FromSlice(data, tb.Shape...)
}

// restore loads a controller state over a freshly made controller, after
// core's part was checked and loaded; nextSeq bounds the seqs.
func (a *Controller) restore(cs *controllerState, nextSeq int64) error {
	bad := func(field, format string, args ...any) error {
		return &StateError{Field: "controller." + field, Reason: fmt.Sprintf(format, args...)}
	}
	if cs == nil {
		return bad("", "missing (a controller's state has one)")
	}
	if cs.Version < 1 || cs.Updates != cs.Version-1 {
		return bad("policy_version", "%d with %d updates, want ≥ 1 and updates = version − 1", cs.Version, cs.Updates)
	}
	if cs.Dropped < 0 {
		return bad("dropped", "%d, want ≥ 0", cs.Dropped)
	}
	if (cs.Baseline == nil) != (cs.Updates == 0) {
		return bad("baseline", "present iff an update happened (%d updates)", cs.Updates)
	}
	for name, v := range map[string]*float64{"baseline": cs.Baseline, "min_reward": cs.MinReward} {
		if v != nil && !finite(*v) {
			return bad(name, "%v, want a finite number", *v)
		}
	}
	successes := 0
	for i, s := range cs.Buffer {
		if s.Seq < 1 || s.Seq >= nextSeq {
			return bad("buffer", "entry %d: seq %d, want 1..%d", i, s.Seq, nextSeq-1)
		}
		if s.PolicyVersion < 1 || s.PolicyVersion > cs.Version {
			return bad("buffer", "entry %d: policy version %d, want 1..%d", i, s.PolicyVersion, cs.Version)
		}
		if !finite(s.Reward) || !finite(s.LogProb) || s.LogProb > 0 {
			return bad("buffer", "entry %d: reward %v, log-probability %v; want finite numbers, log-probability ≤ 0", i, s.Reward, s.LogProb)
		}
		if h, err := a.sp.Hash(s.Decisions); err != nil || h != s.Hash {
			return bad("buffer", "entry %d (seq %d): decisions do not decode to hash %.12s… (%v)", i, s.Seq, s.Hash, err)
		}
		if _, err := a.net.actions(s.Decisions); err != nil {
			return bad("buffer", "entry %d (seq %d): %v", i, s.Seq, err)
		}
		if !s.Failed {
			successes++
		}
	}
	if successes >= a.cfg.UpdateBatch {
		return bad("buffer", "%d successful results, but an update happens at %d", successes, a.cfg.UpdateBatch)
	}
	load := func(field string, src map[string]tensorBytes) (map[string]*tensor.Tensor, error) {
		out := make(map[string]*tensor.Tensor, len(src))
		for _, p := range a.net.params {
			tb, ok := src[p.Name]
			if !ok {
				return nil, bad(field, "%q missing", p.Name)
			}
			t, err := tb.decode()
			if err != nil {
				return nil, bad(field, "%q: %v", p.Name, err)
			}
			if !tensor.EqualShapes(t.Shape(), p.Value.Shape()) {
				return nil, bad(field, "%q has shape %v, want %v (lstm_units or the space changed?)", p.Name, t.Shape(), p.Value.Shape())
			}
			out[p.Name] = t
		}
		if len(src) != len(out) {
			return nil, bad(field, "%d entries, want %d (one per controller parameter)", len(src), len(out))
		}
		return out, nil
	}
	w, err := load("weights", cs.Weights)
	if err != nil {
		return err
	}
	m, err := load("adam_m", cs.AdamM)
	if err != nil {
		return err
	}
	v, err := load("adam_v", cs.AdamV)
	if err != nil {
		return err
	}
	if err := a.opt.LoadState(optim.AdamState{Steps: cs.AdamSteps, M: m, V: v}); err != nil {
		return bad("adam", "%v", err)
	}
	for _, p := range a.net.params {
		p.Value.CopyFrom(w[p.Name])
	}
	a.version, a.updates, a.dropped, a.lastUpdate = cs.Version, cs.Updates, cs.Dropped, cs.Last
	a.buffer, a.successes = cs.Buffer, successes
	a.hasBase, a.hasMin = cs.Baseline != nil, cs.MinReward != nil
	if a.hasBase {
		a.baseline = *cs.Baseline
	}
	if a.hasMin {
		a.minReward = *cs.MinReward
	}
	return nil
}
