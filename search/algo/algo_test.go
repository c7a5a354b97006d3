package algo

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/spinenet"
)

func named(t testing.TB, name string) *space.Space {
	t.Helper()
	sp, err := space.Named(name)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func newAlg(t *testing.T, name string, sp *space.Space, cfg Config) Algorithm {
	t.Helper()
	a, err := New(name, sp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func propose(t *testing.T, a Algorithm, n int) []Proposal {
	t.Helper()
	ps, err := a.Propose(n)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != n {
		t.Fatalf("Propose(%d) gave %d proposals", n, len(ps))
	}
	return ps
}

func observe(t *testing.T, a Algorithm, rs ...Result) {
	t.Helper()
	if err := a.Observe(rs); err != nil {
		t.Fatal(err)
	}
}

// The statistics helpers against hand-computed cases.
func TestWilcoxonAndSign(t *testing.T) {
	if p, n := wilcoxonGreater([]float64{1, 2, 3, 4, 5, 0}); n != 5 || p != 1.0/32 {
		t.Errorf("all positive: p = %v over %d, want 1/32 over 5", p, n)
	}
	// Ranks 1, 2, 3; W+ = 1 + 3 = 4; sums ≥ 4 of subsets of {1,2,3}: {1,3}, {2,3}, {1,2,3}.
	if p, _ := wilcoxonGreater([]float64{1, -2, 3}); p != 3.0/8 {
		t.Errorf("{1,-2,3}: p = %v, want 3/8", p)
	}
	// Ties: |d| = 2, 2 share mid-rank 1.5; W+ = 1.5; patterns with W+ ≥ 1.5: three of four.
	if p, _ := wilcoxonGreater([]float64{2, -2}); p != 3.0/4 {
		t.Errorf("{2,-2}: p = %v, want 3/4", p)
	}
	if p := signGreater([]float64{1, 1, 1, -1, 0}); p != 5.0/16 {
		t.Errorf("sign test 3 of 4: p = %v, want 5/16", p)
	}
}

// Over 20 seeds on a synthetic oracle, regularized evolution reaches a
// high score in fewer evaluations than random search (nas.md §5, "How tests
// stay fast"), by a one-sided paired Wilcoxon signed-rank test at p < 0.05.
//
// The oracle rewards agreement with a hidden architecture (70 decision
// components; optimum 1) plus noise of sd 0.005. 90% of the optimum is out
// of reach of both in 300 evaluations (evolution gets to about 0.7), so the
// target is a fixed high score, 37 of 70 components, about the 0.999
// quantile of a uniform sample. Both algorithms use the same seed, so they
// share their first 20 (random) proposals; two proposals are in flight at a
// time and results come back in reverse order.
func TestEvolutionBeatsRandomOnOracle(t *testing.T) {
	sp := named(t, "spinenet49")
	const seeds, budget = 20, 300
	thr := 37.0/70 - 1e-9

	// The threshold is a high quantile of the uniform score.
	o := newOracle(sp, 1, 0)
	rng := rand.New(rand.NewPCG(7, 7))
	above := 0
	const draws = 10000
	for range draws {
		if o.score(sp.Sample(rng)) >= thr {
			above++
		}
	}
	if frac := float64(above) / draws; frac > 0.005 {
		t.Fatalf("%.4f of uniform samples reach the threshold, want a high quantile (≤ 0.005)", frac)
	}

	var diff []float64
	var sumRS, sumRE, bestRS, bestRE float64
	censRS, censRE := 0, 0
	for seed := uint64(1); seed <= seeds; seed++ {
		cfg := DefaultConfig()
		cfg.Seed = seed
		var hits [2]int
		for i, name := range []string{NameRandom, NameEvolution} {
			hit, best, err := evalsTo(newAlg(t, name, sp, cfg), newOracle(sp, seed, 0.005), budget, 2, thr)
			if err != nil {
				t.Fatal(err)
			}
			hits[i] = hit
			if i == 0 {
				sumRS, bestRS = sumRS+float64(hit), bestRS+best
				if hit > budget {
					censRS++
				}
			} else {
				sumRE, bestRE = sumRE+float64(hit), bestRE+best
				if hit > budget {
					censRE++
				}
			}
		}
		diff = append(diff, float64(hits[0]-hits[1]))
	}
	p, n := wilcoxonGreater(diff)
	t.Logf("evaluations to score ≥ 37/70 (%d = not within %d): random mean %.1f (%d censored), evolution mean %.1f (%d censored)",
		budget+1, budget, sumRS/seeds, censRS, sumRE/seeds, censRE)
	t.Logf("best score in %d: random mean %.3f, evolution mean %.3f", budget, bestRS/seeds, bestRE/seeds)
	t.Logf("one-sided Wilcoxon signed-rank p = %.2g over %d non-zero pairs; sign test p = %.2g", p, n, signGreater(diff))
	if p >= 0.05 {
		t.Errorf("evolution not faster than random search: p = %.3g ≥ 0.05 (differences %v)", p, diff)
	}
}

// results gives each proposal an oracle reward; every fifth fails. The
// batch is shuffled by rng.
func results(o *oracle, rng *rand.Rand, ps []Proposal) []Result {
	rs := make([]Result, len(ps))
	for i, p := range ps {
		rs[i] = Result{Seq: p.Seq, Hash: p.Hash, Reward: o.score(p.Decisions)}
		if p.Seq%5 == 0 {
			rs[i] = Result{Seq: p.Seq, Failed: true, Reason: "out of memory"}
		}
	}
	rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	return rs
}

// A controller restored from its checkpoint, mid-search with proposals
// pending, proposes bitwise the same next trials as the one that wrote it,
// given the same results in the same order.
func TestRestoreProposesTheSame(t *testing.T) {
	sp := named(t, "spinenet49")
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Seed, cfg.Population, cfg.Tournament, cfg.Baselines = 42, 6, 3, true
			o := newOracle(sp, 3, 0)
			a := newAlg(t, name, sp, cfg)
			rng := rand.New(rand.NewPCG(1, 2))
			for range 4 {
				ps := propose(t, a, 5)
				rs := results(o, rng, ps)
				observe(t, a, rs[:3]...) // two of each batch stay pending
			}
			if a.Stats().Pending != 8 {
				t.Fatalf("%d pending, want 8", a.Stats().Pending)
			}
			if c, ok := a.(*Controller); ok {
				if st := c.ControllerStats(); st.Updates < 1 || st.Buffered == 0 {
					t.Fatalf("controller stats %+v: want an update done and results buffered at the checkpoint", st)
				}
			}
			state, err := a.MarshalState()
			if err != nil {
				t.Fatal(err)
			}
			b, err := Restore(sp, state)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := b.MarshalState()
			if !bytes.Equal(state, again) {
				t.Fatalf("restored state marshals differently:\n%s\n%s", state, again)
			}
			fresh := newAlg(t, name, sp, cfg) // a control: same config, no state
			pending := a.Pending()
			rngA, rngB := rand.New(rand.NewPCG(9, 9)), rand.New(rand.NewPCG(9, 9))
			var differs bool
			for round := range 6 {
				pa, pb := propose(t, a, 4), propose(t, b, 4)
				ja, _ := json.Marshal(pa)
				jb, _ := json.Marshal(pb)
				if !bytes.Equal(ja, jb) {
					t.Fatalf("round %d: proposals differ after restore:\n%s\n%s", round, ja, jb)
				}
				jf, _ := json.Marshal(propose(t, fresh, 4))
				differs = differs || !bytes.Equal(ja, jf)
				batch := append(pa, pending...)
				pending = nil
				observe(t, a, results(o, rngA, batch)...)
				observe(t, b, results(o, rngB, batch)...)
			}
			if !differs {
				t.Error("a fresh algorithm proposes the same as the restored ones: the check cannot tell")
			}
			sa, _ := a.MarshalState()
			sb, _ := b.MarshalState()
			if !bytes.Equal(sa, sb) {
				t.Error("final states differ")
			}
			if name == NameEvolution && len(a.(*Evolution).Population()) != cfg.Population {
				t.Errorf("population %d, want %d", len(a.(*Evolution).Population()), cfg.Population)
			}
		})
	}
}

// Failed results do not enter the population, the known rewards or the
// best, whatever Reward they carry.
func TestFailedResultsStayOut(t *testing.T) {
	sp := named(t, "spinenet49")
	cfg := DefaultConfig()
	cfg.Population, cfg.Tournament = 4, 2
	a, err := NewEvolution(sp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ps := propose(t, a, 8)
	var rs []Result
	for i, p := range ps {
		if i%2 == 1 {
			rs = append(rs, Result{Seq: p.Seq, Reward: 100, Failed: true, Reason: "diverged"})
		} else {
			rs = append(rs, Result{Seq: p.Seq, Hash: p.Hash, Reward: float64(i)})
		}
	}
	observe(t, a, rs...)
	pop := a.Population()
	if len(pop) != 4 {
		t.Fatalf("population %d, want the 4 successful results", len(pop))
	}
	for i, m := range pop {
		if m.Seq != ps[2*i].Seq || m.Reward != float64(2*i) {
			t.Errorf("member %d: seq %d reward %v, want seq %d reward %d", i, m.Seq, m.Reward, ps[2*i].Seq, 2*i)
		}
	}
	for i, p := range ps {
		if _, ok := a.Known(p.Hash); ok != (i%2 == 0) {
			t.Errorf("proposal %d: Known = %v, want %v", i, ok, i%2 == 0)
		}
	}
	st := a.Stats()
	if st.Failed != 4 || st.Observed != 4 || st.Pending != 0 || st.Best == nil || st.Best.Reward != 6 {
		t.Errorf("stats %+v, want 4 failed, 4 observed, best reward 6", st)
	}
	// Children come from successful members only.
	for _, p := range propose(t, a, 20) {
		if p.Origin != OriginMutation || p.ParentSeq%2 == 0 {
			t.Fatalf("proposal %+v, want a mutation of an odd seq (the successful ones)", p)
		}
	}
	// While every result fails, evolution keeps proposing random samples.
	b, _ := NewEvolution(sp, cfg)
	for range 3 {
		for _, p := range propose(t, b, 4) {
			if p.Origin != OriginRandom {
				t.Fatalf("origin %q with an empty population, want random", p.Origin)
			}
			observe(t, b, Result{Seq: p.Seq, Failed: true})
		}
	}
}

// Aging: the oldest member leaves, not the worst; age is the order of
// Observe, not of Seq.
func TestAgingRemovesOldest(t *testing.T) {
	sp := named(t, "spinenet49")
	cfg := DefaultConfig()
	cfg.Population, cfg.Tournament = 3, 3
	a, _ := NewEvolution(sp, cfg)
	ps := propose(t, a, 3)
	// Recorded in the order seq 3, 1, 2: seq 3 is the oldest and the best.
	observe(t, a, Result{Seq: ps[2].Seq, Reward: 10}, Result{Seq: ps[0].Seq, Reward: 1}, Result{Seq: ps[1].Seq, Reward: 2})
	child := propose(t, a, 1)[0]
	if child.Origin != OriginMutation {
		t.Fatalf("origin %q with a full population, want mutation", child.Origin)
	}
	observe(t, a, Result{Seq: child.Seq, Reward: -5}) // the worst
	var seqs []int64
	for _, m := range a.Population() {
		seqs = append(seqs, m.Seq)
	}
	want := []int64{ps[0].Seq, ps[1].Seq, child.Seq}
	if len(seqs) != 3 || seqs[0] != want[0] || seqs[1] != want[1] || seqs[2] != want[2] {
		t.Errorf("population seqs %v, want %v (the oldest, best, member gone; the worst kept)", seqs, want)
	}
	if st := a.Stats(); st.Best == nil || st.Best.Seq != ps[2].Seq {
		t.Errorf("best %+v, want seq %d: leaving the population does not forget the best", st.Best, ps[2].Seq)
	}
}

// The tournament picks the best of S: with S = P and many draws, the
// parent is nearly always the best member.
func TestTournamentPicksBest(t *testing.T) {
	sp := named(t, "spinenet49")
	cfg := DefaultConfig()
	cfg.Population, cfg.Tournament = 4, 1
	for _, s := range []int{1, 4} {
		cfg.Tournament = s
		a, _ := NewEvolution(sp, cfg)
		ps := propose(t, a, 4)
		for i, p := range ps {
			observe(t, a, Result{Seq: p.Seq, Reward: float64(i)})
		}
		best := 0
		const n = 400
		for _, p := range propose(t, a, n) {
			if p.ParentSeq == ps[3].Seq {
				best++
			}
		}
		// P(best parent) = 1 − (3/4)^S: 0.25 for S = 1, 0.68 for S = 4.
		want := 1 - math.Pow(0.75, float64(s))
		if got := float64(best) / n; math.Abs(got-want) > 0.08 {
			t.Errorf("S = %d: best member is the parent %.2f of the time, want about %.2f", s, got, want)
		}
	}
}

// Every proposal decodes to a valid Arch with the recorded hash, and the
// origins follow the algorithm: baselines, random until the population is
// full, then mutations of members.
func TestProposalsDecode(t *testing.T) {
	for _, spaceName := range []string{"spinenet49", "r35-sp18", "r0-sp53"} {
		sp := named(t, spaceName)
		base := Baselines(sp)
		if want := map[string]int{"spinenet49": 2, "r35-sp18": 1, "r0-sp53": 1}[spaceName]; len(base) != want {
			t.Errorf("%s: %d baselines, want %d", spaceName, len(base), want)
		}
		for _, name := range Names() {
			controller := name == NamePPO || name == NameReinforce
			cfg := DefaultConfig()
			cfg.Baselines, cfg.Population, cfg.LSTMUnits = true, 10, 16
			a := newAlg(t, name, sp, cfg)
			o := newOracle(sp, 5, 0.01)
			rng := rand.New(rand.NewPCG(5, 5))
			members := map[int64]bool{}
			var seq int64
			for range 40 {
				ps := propose(t, a, 3)
				for _, p := range ps {
					seq++
					if p.Seq != seq {
						t.Fatalf("seq %d, want %d", p.Seq, seq)
					}
					arch, err := sp.Decode(p.Decisions)
					if err != nil {
						t.Fatalf("%s/%s seq %d: %v", spaceName, name, p.Seq, err)
					}
					if err := arch.Validate(); err != nil {
						t.Fatal(err)
					}
					if h := space.HashArch(arch); h != p.Hash {
						t.Fatalf("seq %d: hash %s, decodes to %s", p.Seq, p.Hash, h)
					}
					switch {
					case int(p.Seq) <= len(base):
						if p.Origin != OriginBaseline || !p.Decisions.Equal(base[p.Seq-1]) {
							t.Errorf("%s/%s seq %d: origin %q, want baseline %d", spaceName, name, p.Seq, p.Origin, p.Seq)
						}
					case p.Origin == OriginMutation:
						if name != NameEvolution || !members[p.ParentSeq] || p.ParentHash == "" || p.Mutation == "" {
							t.Errorf("%s/%s: mutation %+v without a member parent or operator", spaceName, name, p)
						}
					case p.Origin == OriginController:
						if !controller || p.PolicyVersion < 1 || p.LogProb > 0 || !finite(p.LogProb) {
							t.Errorf("%s/%s seq %d: controller sample with policy version %d, log-probability %v",
								spaceName, name, p.Seq, p.PolicyVersion, p.LogProb)
						}
					case p.Origin != OriginRandom || controller:
						t.Errorf("%s/%s seq %d: origin %q", spaceName, name, p.Seq, p.Origin)
					}
					if p.Origin != OriginController && (p.PolicyVersion != 0 || p.LogProb != 0) {
						t.Errorf("policy fields set by %s on a %s proposal", name, p.Origin)
					}
				}
				rs := results(o, rng, ps)
				for _, r := range rs {
					if !r.Failed {
						members[r.Seq] = true
					}
				}
				observe(t, a, rs...)
			}
			if st := a.Stats(); st.Proposed != 120 || st.Observed+st.Failed != 120 {
				t.Errorf("stats %+v, want 120 proposed and observed", st)
			}
		}
	}
}

// tinySpace has few architectures, so duplicates are common.
func tinySpace() *space.Space {
	return &space.Space{Name: "tiny", Intermediate: map[int]int{2: 1, 3: 1}, OutputLevels: []int{3, 4},
		StemLevels: [4]int{2, 0, 0, 0}, Window: 2, Types: []spinenet.BlockType{spinenet.Bottleneck},
		MinBlockLevel: 2, MaxBlockLevel: 7, FilterSizeScale: 0.25, ResampleAlpha: 0.5, BlockRepeats: 1,
		EndpointsNumFilters: 16}
}

// Duplicates: DuplicateOf names the first proposal of a hash; under
// ReuseDuplicates a proposal of a measured hash is Known with its first
// reward, and without it nothing is marked.
func TestDuplicates(t *testing.T) {
	sp := tinySpace()
	distinct := int(sp.Counts().Architectures.Int64())
	if distinct < 10 || distinct > 500 {
		t.Fatalf("tiny space has %d architectures, want a few dozen", distinct)
	}
	for _, reuse := range []bool{true, false} {
		cfg := DefaultConfig()
		cfg.ReuseDuplicates, cfg.Dedupe, cfg.Population, cfg.Tournament = reuse, false, 4, 2
		a, _ := NewEvolution(sp, cfg)
		first := map[string]int64{}
		reward := map[string]float64{}
		known := 0
		for range 100 {
			p := propose(t, a, 1)[0]
			if f, ok := first[p.Hash]; ok != (p.DuplicateOf != 0) || (ok && p.DuplicateOf != f) {
				t.Fatalf("seq %d: DuplicateOf %d, want %d", p.Seq, p.DuplicateOf, f)
			}
			if _, ok := first[p.Hash]; !ok {
				first[p.Hash] = p.Seq
			}
			r, measured := reward[p.Hash]
			if p.Known != (measured && reuse) || (p.Known && p.KnownReward != r) {
				t.Fatalf("reuse %v, seq %d: Known %v (%v), want %v (%v)", reuse, p.Seq, p.Known, p.KnownReward, measured && reuse, r)
			}
			if got, ok := a.Known(p.Hash); ok != measured || got != r {
				t.Fatalf("Known(%.8s) = %v, %v; want %v, %v", p.Hash, got, ok, r, measured)
			}
			if p.Known {
				known++
			}
			rew := float64(p.Seq) // a different reward every time: the first one is kept
			if !measured {
				reward[p.Hash] = rew
			}
			observe(t, a, Result{Seq: p.Seq, Reward: rew})
		}
		if reuse && known == 0 {
			t.Error("no proposal was marked Known in a tiny space")
		}
	}
}

// Dedupe: random search skips architectures already proposed, and without
// it repeats them.
func TestRandomDedupe(t *testing.T) {
	sp := tinySpace()
	distinct := int(sp.Counts().Architectures.Int64())
	for _, dedupe := range []bool{true, false} {
		cfg := DefaultConfig()
		cfg.Dedupe, cfg.DedupeRetries = dedupe, 1000
		a, _ := NewRandom(sp, cfg)
		seen := map[string]bool{}
		for _, p := range propose(t, a, distinct/2) {
			seen[p.Hash] = true
		}
		if all := len(seen) == distinct/2; all != dedupe {
			t.Errorf("dedupe %v: %d distinct of %d proposals", dedupe, len(seen), distinct/2)
		}
	}
	// Past the space's size, retries run out and duplicates are proposed.
	cfg := DefaultConfig()
	cfg.DedupeRetries = 3
	a, _ := NewRandom(sp, cfg)
	dups := 0
	for _, p := range propose(t, a, distinct+5) {
		if p.DuplicateOf != 0 {
			dups++
		}
	}
	if dups < 5 {
		t.Errorf("%d of %d proposals in a space of %d marked duplicates, want at least 5", dups, distinct+5, distinct)
	}
}

func TestConfigAndNameErrors(t *testing.T) {
	sp := named(t, "spinenet49")
	if _, err := New("annealing", sp, DefaultConfig()); !errors.Is(err, ErrUnknownAlgorithm) ||
		!strings.Contains(err.Error(), "random, evolution, ppo, reinforce") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := New("Evolution", sp, DefaultConfig()); err != nil {
		t.Errorf("names are case-insensitive: %v", err)
	}
	for _, c := range []struct {
		edit  func(*Config)
		field string
	}{
		{func(c *Config) { c.Population = 1 }, "population"},
		{func(c *Config) { c.Tournament = 0 }, "tournament"},
		{func(c *Config) { c.Tournament = 21 }, "tournament"},
		{func(c *Config) { c.DedupeRetries = -1 }, "dedupe_retries"},
		{func(c *Config) { c.LSTMUnits = 0 }, "lstm_units"},
		{func(c *Config) { c.LearningRate = 0 }, "learning_rate"},
		{func(c *Config) { c.LearningRate = math.NaN() }, "learning_rate"},
		{func(c *Config) { c.EntropyWeight = -1e-5 }, "entropy_weight"},
		{func(c *Config) { c.BaselineDecay = 1 }, "baseline_decay"},
		{func(c *Config) { c.PPOClip = 0 }, "ppo_clip"},
		{func(c *Config) { c.PPOEpochs = 0 }, "ppo_epochs"},
		{func(c *Config) { c.UpdateBatch = 0 }, "update_batch"},
		{func(c *Config) { c.MaxStaleness = -1 }, "max_staleness"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		_, err := New(NameRandom, sp, cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("%+v: error %v, want one naming %s", cfg, err, c.field)
		}
	}
	if _, err := New(NameRandom, nil, DefaultConfig()); err == nil {
		t.Error("nil space accepted")
	}
	bad := *sp
	bad.Window = 1
	if _, err := New(NameRandom, &bad, DefaultConfig()); err == nil || !strings.Contains(err.Error(), "window") {
		t.Errorf("invalid space: %v", err)
	}
	a, _ := New(NameRandom, sp, DefaultConfig())
	if _, err := a.Propose(-1); err == nil {
		t.Error("Propose(-1) accepted")
	}
	if ps, err := a.Propose(0); err != nil || len(ps) != 0 {
		t.Errorf("Propose(0) = %v, %v", ps, err)
	}
	// Config JSON decoded over the defaults keeps what it leaves out.
	cfg := DefaultConfig()
	if err := json.Unmarshal([]byte(`{"population":50,"tournament":10}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Population != 50 || cfg.Tournament != 10 || !cfg.ReuseDuplicates || !cfg.Dedupe || cfg.DedupeRetries != 20 {
		t.Errorf("config %+v", cfg)
	}
}

// Observe checks the whole batch and changes nothing on an error.
func TestObserveErrors(t *testing.T) {
	sp := named(t, "spinenet49")
	a, _ := NewEvolution(sp, DefaultConfig())
	ps := propose(t, a, 3)
	observe(t, a, Result{Seq: ps[0].Seq, Reward: 1})
	before, _ := a.MarshalState()
	for _, c := range []struct {
		r    Result
		want string
	}{
		{Result{Seq: ps[0].Seq, Reward: 1}, "has a result already"},
		{Result{Seq: 99, Reward: 1}, "no such proposal"},
		{Result{Seq: 0, Reward: 1}, "no such proposal"},
		{Result{Seq: ps[1].Seq, Hash: ps[2].Hash, Reward: 1}, "hash"},
		{Result{Seq: ps[1].Seq, Reward: math.NaN()}, "finite"},
		{Result{Seq: ps[1].Seq, Reward: math.Inf(1)}, "finite"},
	} {
		err := a.Observe([]Result{{Seq: ps[2].Seq, Reward: 5}, c.r})
		var oe *ObserveError
		if !errors.As(err, &oe) || oe.Index != 1 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want result 1 and %q", c.r, err, c.want)
		}
	}
	if err := a.Observe([]Result{{Seq: ps[1].Seq, Reward: 1}, {Seq: ps[1].Seq, Reward: 2}}); err == nil ||
		!strings.Contains(err.Error(), "twice") {
		t.Errorf("seq twice in a batch: %v", err)
	}
	after, _ := a.MarshalState()
	if !bytes.Equal(before, after) {
		t.Error("a refused batch changed the state")
	}
	// A failed result needs no finite reward.
	observe(t, a, Result{Seq: ps[1].Seq, Reward: math.NaN(), Failed: true})
}

func TestRestoreRefuses(t *testing.T) {
	sp := named(t, "spinenet49")
	cfg := DefaultConfig()
	cfg.Population, cfg.Tournament = 3, 2
	a, _ := NewEvolution(sp, cfg)
	ps := propose(t, a, 5)
	observe(t, a, Result{Seq: ps[0].Seq, Reward: 1}, Result{Seq: ps[1].Seq, Reward: 2}, Result{Seq: ps[2].Seq, Reward: 3})
	state, _ := a.MarshalState()
	if _, err := Restore(sp, state); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(state, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	other := named(t, "spinenet49")
	other.Window = 4
	for _, c := range []struct {
		name  string
		sp    *space.Space
		state []byte
		want  string
	}{
		{"other space", named(t, "r0-sp53"), state, "space"},
		{"changed space", other, state, "space_sum"},
		{"version", sp, edit(func(m map[string]any) { m["v"] = 2 }), "v:"},
		{"algorithm", sp, edit(func(m map[string]any) { m["algorithm"] = "annealing" }), "unknown search algorithm"},
		{"controller on evolution", sp, edit(func(m map[string]any) { m["controller"] = map[string]any{} }), "controller"},
		{"policy fields on evolution", sp, edit(func(m map[string]any) {
			m["pending"].([]any)[0].(map[string]any)["policy_version"] = 3
		}), "policy"},
		{"unknown field", sp, edit(func(m map[string]any) { m["extra"] = 1 }), "unknown field"},
		{"rng", sp, edit(func(m map[string]any) { m["rng"] = "AAAA" }), "rng"},
		{"counts", sp, edit(func(m map[string]any) { m["observed"] = 7 }), "observed/failed"},
		{"config", sp, edit(func(m map[string]any) { m["config"].(map[string]any)["tournament"] = 9 }), "tournament"},
		{"pending hash", sp, edit(func(m map[string]any) {
			m["pending"].([]any)[0].(map[string]any)["hash"] = strings.Repeat("0", 64)
		}), "pending"},
		{"population size", sp, edit(func(m map[string]any) {
			pop := m["population"].([]any)
			m["population"] = append(pop, pop[0])
		}), "population"},
	} {
		if _, err := Restore(c.sp, c.state); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
