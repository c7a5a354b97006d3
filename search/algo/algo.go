// Package algo holds the architecture-search algorithms (shared spec nas.md
// §2, §5) behind one interface: an Algorithm proposes trials (Propose),
// learns from their rewards (Observe), and marshals its whole state for a
// checkpoint (MarshalState, Restore).
//
// Four algorithms are built: random search ("random": uniform samples of
// the space, optionally skipping architectures already proposed);
// regularized, or aging, evolution ("evolution", Real et al. 2019: the
// child of each step is a mutation of the best of a tournament of S drawn
// from a population of the last P results, and the oldest member leaves the
// population, not the worst); and the RL controller of the paper (nas.md
// §1.3), an LSTM policy over the per-block decisions with masked softmax
// heads, trained with PPO ("ppo", NASNet's algorithm and settings) or
// REINFORCE ("reinforce"), both with an exponential-moving-average reward
// baseline and Adam (see Controller). The controller is asynchronous:
// proposals carry the policy version and the log-probability of the
// sample, results may arrive in any order, the policy is updated each time
// Config.UpdateBatch new successful results have arrived, and samples more
// than Config.MaxStaleness versions old are left out of an update.
//
// # Determinism
//
// All randomness comes from one math/rand/v2 PCG per algorithm, seeded from
// Config.Seed, and its state is part of the marshalled state. An algorithm
// restored from MarshalState's bytes and given the same results in the same
// order proposes exactly the same trials as the one that wrote them. The
// controller's state holds its weights and Adam moments bit for bit; its
// float32 arithmetic runs on the GEMM kernels the processor selects, so
// the guarantee holds on the same kind of machine (an AVX-512 and an AVX2
// machine may round differently).
//
// # Duplicates
//
// Every proposal carries its architecture's hash (space.HashArch) and, when
// an earlier proposal had the same hash, DuplicateOf names the first such
// proposal. With Config.ReuseDuplicates (the default) a proposal whose hash
// already has a successful result is marked Known with that result's
// reward (the first successful one): the caller may skip training it and
// report KnownReward back as its reward. Known(hash) answers the same
// question at any time. The algorithm treats a reused reward as any other:
// under evolution the child still joins the population. Without
// ReuseDuplicates nothing is marked and the caller measures every proposal
// again (re-measuring noisy rewards, as Real et al. do).
//
// # Failures
//
// A Result with Failed set ends its proposal without a reward: it is not
// added to the population, not remembered as measured, and not the best.
// It is counted in Stats.Failed. The controller learns from it with the
// failure reward: the lowest successful reward so far, or 0 before any
// (nas.md §4.3 item 6).
package algo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/spinenet-go/spinenet/search/space"
)

// Origin says how a proposal came about (nas.md §5's trial.origin).
type Origin string

// The origins.
const (
	// OriginBaseline is a seeded baseline architecture (ResNet order,
	// SpineNet-49).
	OriginBaseline Origin = "baseline"
	// OriginRandom is a uniform sample of the space.
	OriginRandom Origin = "random"
	// OriginMutation is a mutation of a population member (evolution).
	OriginMutation Origin = "mutation"
	// OriginController is a sample of a learned policy (the RL controller).
	OriginController Origin = "controller"
)

// Proposal is one trial an algorithm asks for.
type Proposal struct {
	// Seq numbers the algorithm's proposals 1, 2, 3, … in the order they
	// were made; a Result names its proposal by Seq.
	Seq int64 `json:"seq"`
	// Decisions choose the architecture; they are a member of the space.
	Decisions space.Decisions `json:"decisions"`
	// Hash is space.HashArch of the decoded architecture.
	Hash string `json:"hash"`
	// Origin says how the proposal came about.
	Origin Origin `json:"origin"`
	// ParentSeq and ParentHash name the population member a mutation was
	// made from (zero and empty for other origins).
	ParentSeq  int64  `json:"parent_seq,omitempty"`
	ParentHash string `json:"parent_hash,omitempty"`
	// Mutation is the operator that made a mutation (empty otherwise).
	Mutation space.Mutation `json:"mutation,omitempty"`
	// DuplicateOf is the Seq of the first proposal with the same Hash, or 0
	// when this is the first.
	DuplicateOf int64 `json:"duplicate_of,omitempty"`
	// Known reports, under Config.ReuseDuplicates, that Hash already has a
	// successful result when the proposal was made; KnownReward is that
	// result's reward, which the caller may report instead of training.
	Known       bool    `json:"known,omitempty"`
	KnownReward float64 `json:"known_reward,omitempty"`
	// PolicyVersion is the version of the policy that sampled the proposal
	// (an RL controller's; 0 for algorithms without a policy), and LogProb
	// the log-probability of the sample under it, meaningful only when
	// PolicyVersion > 0.
	PolicyVersion int64   `json:"policy_version,omitempty"`
	LogProb       float64 `json:"log_prob,omitempty"`
}

// Result is the outcome of one proposal's trial.
type Result struct {
	// Seq is the proposal's Seq.
	Seq int64 `json:"seq"`
	// Hash, when not empty, must equal the proposal's Hash (a check that
	// the result belongs to the proposal it names).
	Hash string `json:"hash,omitempty"`
	// Reward is the trial's reward, higher is better; it must be finite
	// unless Failed.
	Reward float64 `json:"reward"`
	// Failed marks a trial that gave no reward; Reason says why. Reward is
	// then ignored.
	Failed bool   `json:"failed,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Member is a measured architecture: a population member of evolution, or
// the best result so far.
type Member struct {
	// Seq is the proposal's Seq.
	Seq int64 `json:"seq"`
	// Hash is the architecture's hash.
	Hash string `json:"hash"`
	// Decisions choose the architecture.
	Decisions space.Decisions `json:"decisions"`
	// Reward is the observed reward.
	Reward float64 `json:"reward"`
}

// Stats counts an algorithm's proposals and results.
type Stats struct {
	// Proposed counts proposals made, Observed successful results, Failed
	// failed ones; Pending is the number of proposals without a result.
	Proposed, Observed, Failed int64
	Pending                    int
	// Best is the successful result with the highest reward (the earliest
	// among equals), or nil before the first.
	Best *Member
}

// Algorithm is a search algorithm. Its methods are not safe for concurrent
// use; a caller serialises them (the engine's controller step holds a lock).
type Algorithm interface {
	// Name is the algorithm's name as New takes it.
	Name() string
	// Propose makes n new proposals (n ≥ 0). It may be called while
	// earlier proposals are pending.
	Propose(n int) ([]Proposal, error)
	// Observe records results of pending proposals, in any order. It
	// checks the whole batch first (known pending Seq, each once, matching
	// Hash, finite Reward unless Failed) and changes nothing on an error.
	Observe(results []Result) error
	// Known returns the first successful reward recorded for an
	// architecture hash.
	Known(hash string) (reward float64, ok bool)
	// Pending returns the proposals without a result, in Seq order.
	Pending() []Proposal
	// Stats counts proposals and results and names the best.
	Stats() Stats
	// MarshalState returns the algorithm's whole state as JSON; Restore
	// turns it back into an algorithm.
	MarshalState() ([]byte, error)
}

// Config configures an algorithm. Start from DefaultConfig (JSON decoded
// over it keeps the defaults of fields the JSON leaves out).
type Config struct {
	// Seed seeds the algorithm's PCG.
	Seed uint64 `json:"seed"`
	// Population is evolution's P: the number of latest results the
	// population keeps, and the number of results before the first
	// mutation (until then proposals are random). Default 20 (nas.md's CPU
	// setting; Real et al. use 100).
	Population int `json:"population"`
	// Tournament is evolution's S: how many members are drawn, uniformly
	// with replacement as in Real et al.'s code, to pick a parent, the best
	// of them. Default 5 (Real et al. 25, PyGlove 10).
	Tournament int `json:"tournament"`
	// Baselines makes the first proposals the space's baselines: its
	// ResNet order, then SpineNet-49 when that is a member. Default false.
	Baselines bool `json:"baselines"`
	// ReuseDuplicates marks proposals whose architecture already has a
	// successful result (see the package doc). Default true.
	ReuseDuplicates bool `json:"reuse_duplicates"`
	// Dedupe makes random proposals (random search, and evolution before
	// its population is full) skip architectures already proposed, drawing
	// again up to DedupeRetries times before proposing a duplicate anyway
	// (the controller's samples are never redrawn: see Controller).
	// Default true, with 20 retries.
	Dedupe        bool `json:"dedupe"`
	DedupeRetries int  `json:"dedupe_retries"`

	// The RL controller ("ppo", "reinforce"; see Controller). The defaults
	// are NASNet's (Zoph et al. 2018, Appendix A; nas.md §1.3).

	// List is the list algorithm's architectures, proposed in order
	// (NameList); the other algorithms refuse it.
	List []space.Decisions `json:"list,omitempty"`

	// LSTMUnits is the width of the controller's one-layer LSTM and of its
	// action embeddings. Default 100.
	LSTMUnits int `json:"lstm_units"`
	// LearningRate is the controller's Adam learning rate. Default 3.5e-4.
	LearningRate float64 `json:"learning_rate"`
	// EntropyWeight weighs the entropy bonus of the policy loss. Default
	// 1e-5.
	EntropyWeight float64 `json:"entropy_weight"`
	// BaselineDecay is the decay of the reward baseline, an exponential
	// moving average of the rewards. Default 0.95.
	BaselineDecay float64 `json:"baseline_decay"`
	// PPOClip is PPO's ε: the probability ratio is clipped to [1−ε, 1+ε].
	// Default 0.2.
	PPOClip float64 `json:"ppo_clip"`
	// PPOEpochs is the number of Adam steps PPO takes over each batch
	// (REINFORCE takes one). Default 4.
	PPOEpochs int `json:"ppo_epochs"`
	// UpdateBatch is B: the policy is updated each time B new successful
	// results of its samples have arrived. Default 8, the number of child
	// networks each of Zoph & Le's controller replicas trained per update.
	UpdateBatch int `json:"update_batch"`
	// MaxStaleness is K: a sample made by a policy more than K versions
	// older than the one being updated is left out of the update (its
	// reward still moves the baseline). Default 4; with W trials in flight
	// a result is about W/B versions old, so keep K·B above W.
	MaxStaleness int `json:"max_staleness"`
}

// DefaultConfig returns the defaults: seed 1, P = 20, S = 5, no baselines,
// ReuseDuplicates, Dedupe with 20 retries; for the controller 100 LSTM
// units, Adam at 3.5e-4, entropy weight 1e-5, baseline decay 0.95, PPO clip
// 0.2 over 4 epochs, B = 8 and K = 4.
func DefaultConfig() Config {
	return Config{Seed: 1, Population: 20, Tournament: 5, ReuseDuplicates: true, Dedupe: true, DedupeRetries: 20,
		LSTMUnits: 100, LearningRate: 3.5e-4, EntropyWeight: 1e-5, BaselineDecay: 0.95, PPOClip: 0.2, PPOEpochs: 4,
		UpdateBatch: 8, MaxStaleness: 4}
}

// ConfigError reports a Config field that cannot be used.
type ConfigError struct {
	Field, Reason string
}

// Error names the field and what was expected.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("search algorithm config: %s: %s", e.Field, e.Reason)
}

// Validate checks the fields: 2 ≤ population ≤ 1,000,000, 1 ≤ tournament ≤
// population, 0 ≤ dedupe_retries ≤ 10,000; 1 ≤ lstm_units ≤ 1024,
// 0 < learning_rate ≤ 1, 0 ≤ entropy_weight ≤ 1, 0 ≤ baseline_decay < 1,
// 0 < ppo_clip < 1, 1 ≤ ppo_epochs ≤ 100, 1 ≤ update_batch ≤ 100,000 and
// 0 ≤ max_staleness ≤ 1,000,000. Every algorithm checks every field.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if c.Population < 2 || c.Population > 1_000_000 {
		return bad("population", "%d, want 2..1000000", c.Population)
	}
	if c.Tournament < 1 || c.Tournament > c.Population {
		return bad("tournament", "%d, want 1..population (%d)", c.Tournament, c.Population)
	}
	if c.DedupeRetries < 0 || c.DedupeRetries > 10_000 {
		return bad("dedupe_retries", "%d, want 0..10000", c.DedupeRetries)
	}
	if c.LSTMUnits < 1 || c.LSTMUnits > 1024 {
		return bad("lstm_units", "%d, want 1..1024", c.LSTMUnits)
	}
	if !(c.LearningRate > 0 && c.LearningRate <= 1) {
		return bad("learning_rate", "%v, want a number in (0, 1] (NASNet: 3.5e-4)", c.LearningRate)
	}
	if !(c.EntropyWeight >= 0 && c.EntropyWeight <= 1) {
		return bad("entropy_weight", "%v, want a number in [0, 1] (NASNet: 1e-5)", c.EntropyWeight)
	}
	if !(c.BaselineDecay >= 0 && c.BaselineDecay < 1) {
		return bad("baseline_decay", "%v, want a number in [0, 1) (NASNet: 0.95)", c.BaselineDecay)
	}
	if !(c.PPOClip > 0 && c.PPOClip < 1) {
		return bad("ppo_clip", "%v, want a number in (0, 1) (NASNet: 0.2)", c.PPOClip)
	}
	if c.PPOEpochs < 1 || c.PPOEpochs > 100 {
		return bad("ppo_epochs", "%d, want 1..100", c.PPOEpochs)
	}
	if c.UpdateBatch < 1 || c.UpdateBatch > 100_000 {
		return bad("update_batch", "%d, want 1..100000", c.UpdateBatch)
	}
	if c.MaxStaleness < 0 || c.MaxStaleness > 1_000_000 {
		return bad("max_staleness", "%d, want 0..1000000", c.MaxStaleness)
	}
	return nil
}

// The algorithm names New and Restore know.
const (
	NameRandom    = "random"
	NameEvolution = "evolution"
	NamePPO       = "ppo"
	NameReinforce = "reinforce"
)

// Names lists the algorithms New knows.
func Names() []string { return []string{NameRandom, NameEvolution, NamePPO, NameReinforce} }

// ErrUnknownAlgorithm is returned (wrapped) by New and Restore for an
// algorithm name they do not know.
var ErrUnknownAlgorithm = errors.New("unknown search algorithm")

// New returns the named algorithm ("random", "evolution", "ppo" or
// "reinforce") over sp. It validates sp and cfg.
func New(name string, sp *space.Space, cfg Config) (Algorithm, error) {
	switch strings.ToLower(name) {
	case NameRandom:
		return NewRandom(sp, cfg)
	case NameEvolution:
		return NewEvolution(sp, cfg)
	case NamePPO, NameReinforce:
		return NewController(strings.ToLower(name), sp, cfg)
	case NameList:
		return NewList(sp, cfg)
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownAlgorithm, name, strings.Join(Names(), ", "))
}

// ObserveError reports a Result that Observe refuses.
type ObserveError struct {
	// Index is the result's position in the batch, Seq its Seq.
	Index  int
	Seq    int64
	Reason string
}

// Error names the result and the reason.
func (e *ObserveError) Error() string {
	return fmt.Sprintf("observe: result %d (seq %d): %s", e.Index, e.Seq, e.Reason)
}

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// clonePending copies proposals with their decisions.
func clonePending(ps []Proposal) []Proposal {
	out := make([]Proposal, len(ps))
	for i, p := range ps {
		out[i] = p
		out[i].Decisions = p.Decisions.Clone()
	}
	return out
}

// spaceSum fingerprints a space's configuration (SHA-256 of its JSON), so
// that a state is not restored over a space that changed since.
func spaceSum(sp *space.Space) (string, error) {
	b, err := json.Marshal(sp)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
