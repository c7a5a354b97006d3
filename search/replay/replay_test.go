package replay

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/spinenet-go/spinenet/search/algo"
	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/spinenet"
)

// score is a smooth made-up reward: the share of bottleneck blocks plus
// how high the intermediate blocks' levels are.
func score(d space.Decisions) float64 {
	var s float64
	for _, b := range d.Blocks {
		if b.Type == spinenet.Bottleneck {
			s += 1
		}
		if !b.Output {
			s += float64(b.Level()) / 7
		}
	}
	return s / float64(len(d.Blocks))
}

func samples(t *testing.T, sp *space.Space, n int) []Sample {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	out := make([]Sample, n)
	for i := range out {
		d := sp.Sample(rng)
		out[i] = Sample{d, score(d)}
	}
	return out
}

func TestSurrogate(t *testing.T) {
	sp, err := space.Named("spinenet49")
	if err != nil {
		t.Fatal(err)
	}
	smp := samples(t, sp, 120)
	s, err := NewSurrogate(sp, append(smp, smp[0]), 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 120 {
		t.Errorf("%d points, want 120 (a repeat is averaged in)", s.Len())
	}
	if r, err := s.Predict(smp[5].Decisions); err != nil || r != smp[5].Reward {
		t.Errorf("a measured architecture predicts %v (%v), want its measurement %v", r, err, smp[5].Reward)
	}
	rho, pred, meas := s.LeaveOneOut()
	if len(pred) != 120 || len(meas) != 120 || !(rho > 0.3) {
		t.Errorf("leave-one-out ρ %.3f over %d points: the surrogate does not generalise a smooth reward", rho, len(pred))
	}
	if _, err := NewSurrogate(sp, smp[:1], 0); err == nil {
		t.Error("one architecture fitted a surrogate")
	}
	if _, err := NewSurrogate(sp, []Sample{smp[0], {smp[1].Decisions, math.NaN()}}, 0); err == nil {
		t.Error("a NaN reward was accepted")
	}
	a, err := sp.Decode(smp[0].Decisions)
	if err != nil {
		t.Fatal(err)
	}
	f := Features(a)
	var blocks, edges float64
	for _, v := range f[:6] {
		blocks += v
	}
	for _, v := range f[7:16] {
		edges += v
	}
	if int(blocks) != sp.NumIntermediate() || int(edges) != 2*len(a.Blocks) || f[6] > float64(len(a.Blocks)) {
		t.Errorf("features %v: %v intermediate blocks (want %d), %v parent edges (want %d)", f, blocks, sp.NumIntermediate(), edges, 2*len(a.Blocks))
	}
}

func TestRunAndBenchmark(t *testing.T) {
	sp, _ := space.Named("spinenet49")
	s, err := NewSurrogate(sp, samples(t, sp, 60), 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := algo.DefaultConfig()
	cfg.Population, cfg.Tournament = 10, 3
	cfg.UpdateBatch = 4
	res, err := Benchmark(algo.Names(), s, cfg, 3, Options{Trials: 40, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range algo.Names() {
		trs := res[name]
		if len(trs) != 3 {
			t.Fatalf("%s: %d traces, want 3", name, len(trs))
		}
		for _, tr := range trs {
			if len(tr.Observed) != 40 || len(tr.Mean) != 40 {
				t.Fatalf("%s: trace lengths %d, %d", name, len(tr.Observed), len(tr.Mean))
			}
			// Without noise the incumbent's value is the best observed so
			// far, and the top-5 mean is that of the 5 best so far.
			inc, top := tr.Incumbent(), tr.TopK(5)
			for i := range inc {
				so := slices.Sorted(slices.Values(tr.Observed[:i+1]))
				slices.Reverse(so)
				var m float64
				for _, v := range so[:min(5, len(so))] {
					m += v
				}
				m /= float64(min(5, len(so)))
				if inc[i] != so[0] || math.Abs(top[i]-m) > 1e-12 {
					t.Fatalf("%s: after %d trials incumbent %v top-5 %v, want %v and %v", name, i+1, inc[i], top[i], so[0], m)
				}
			}
		}
		if slices.Equal(trs[0].Observed, trs[1].Observed) {
			t.Errorf("%s: seeds 1 and 2 gave the same trace", name)
		}
	}
	again, err := Run(algo.NameEvolution, s, func() algo.Config { c := cfg; c.Seed = 2; return c }(), Options{Trials: 40, Parallel: 2, Seed: 2})
	if err != nil || !slices.Equal(again.Observed, res[algo.NameEvolution][1].Observed) {
		t.Errorf("a rerun with the same seed differs (%v)", err)
	}
	noisy, err := Run(algo.NameRandom, s, cfg, Options{Trials: 20, NoiseSD: 0.05, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(noisy.Observed, res[algo.NameRandom][0].Observed[:20]) {
		t.Error("noise changed nothing")
	}
}
