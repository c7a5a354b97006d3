// Package replay benchmarks search algorithms offline (nas.md §3.3 item 3,
// §5 "replay"): a k-nearest-neighbour surrogate fitted on every measured
// (architecture → reward) pair of real searches stands in for the proxy
// task, and each algorithm runs many seeds against it in milliseconds per
// trial, so that best-so-far curves get confidence bands that a live
// 2-core search (one seed) cannot give.
//
// The surrogate answers an architecture it has measured with that
// measurement (the mean over repeats) and any other with the
// distance-weighted mean of its k nearest measured neighbours. Distance
// compares canonical decisions block by block: level difference, block
// type and parents (Distance). How well that generalises is measured, not
// assumed: LeaveOneOut gives the rank correlation between each measured
// reward and the surrogate's prediction without it, and a report should
// quote it beside the curves — they are surrogate results, not proxy
// results.
package replay

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/spinenet-go/spinenet/internal/stats"
	"github.com/spinenet-go/spinenet/search/algo"
	"github.com/spinenet-go/spinenet/search/space"
)

// Sample is one measured architecture.
type Sample struct {
	Decisions space.Decisions
	Reward    float64
}

// point is a measured architecture in canonical form with its mean reward.
type point struct {
	d      space.Decisions
	reward float64
}

// Surrogate predicts the reward of any architecture of a space from
// measured samples.
type Surrogate struct {
	sp     *space.Space
	k      int
	points []point
	byHash map[string]int // canonical hash → index in points
}

// DefaultK is the surrogate's default neighbour count.
const DefaultK = 5

// NewSurrogate fits a k-nearest-neighbour surrogate (k ≤ 0: DefaultK) on
// samples of sp; repeats of an architecture are averaged. It needs at
// least two distinct architectures, with finite rewards.
func NewSurrogate(sp *space.Space, samples []Sample, k int) (*Surrogate, error) {
	if k <= 0 {
		k = DefaultK
	}
	s := &Surrogate{sp: sp, k: k, byHash: map[string]int{}}
	count := []int{}
	for i, smp := range samples {
		if math.IsNaN(smp.Reward) || math.IsInf(smp.Reward, 0) {
			return nil, fmt.Errorf("replay: sample %d: reward %v, want a finite number", i, smp.Reward)
		}
		c, err := sp.Canonical(smp.Decisions)
		if err != nil {
			return nil, fmt.Errorf("replay: sample %d: %w", i, err)
		}
		h, err := sp.Hash(c)
		if err != nil {
			return nil, fmt.Errorf("replay: sample %d: %w", i, err)
		}
		if j, ok := s.byHash[h]; ok {
			count[j]++
			s.points[j].reward += (smp.Reward - s.points[j].reward) / float64(count[j])
			continue
		}
		s.byHash[h] = len(s.points)
		s.points = append(s.points, point{c, smp.Reward})
		count = append(count, 1)
	}
	if len(s.points) < 2 {
		return nil, fmt.Errorf("replay: %d distinct measured architectures, want at least 2", len(s.points))
	}
	return s, nil
}

// Len is the number of distinct measured architectures.
func (s *Surrogate) Len() int { return len(s.points) }

// Predict returns the surrogate reward of d: its measurement if it has
// one, else the inverse-distance-weighted mean of its k nearest
// neighbours.
func (s *Surrogate) Predict(d space.Decisions) (float64, error) {
	c, err := s.sp.Canonical(d)
	if err != nil {
		return 0, err
	}
	h, err := s.sp.Hash(c)
	if err != nil {
		return 0, err
	}
	if j, ok := s.byHash[h]; ok {
		return s.points[j].reward, nil
	}
	return s.knn(c, -1), nil
}

// knn is the weighted mean of the k nearest points to canonical c, point
// skip left out.
func (s *Surrogate) knn(c space.Decisions, skip int) float64 {
	type nb struct{ dist, reward float64 }
	nbs := make([]nb, 0, len(s.points))
	for i, p := range s.points {
		if i != skip {
			nbs = append(nbs, nb{Distance(c, p.d), p.reward})
		}
	}
	sort.Slice(nbs, func(i, j int) bool { return nbs[i].dist < nbs[j].dist })
	var sw, sr float64
	for _, n := range nbs[:min(s.k, len(nbs))] {
		w := 1 / (n.dist + 1e-3)
		sw += w
		sr += w * n.reward
	}
	return sr / sw
}

// LeaveOneOut predicts every measured architecture from the others and
// returns the Spearman rank correlation of prediction and measurement,
// with the predictions (in the surrogate's point order) and the
// measurements.
func (s *Surrogate) LeaveOneOut() (rho float64, predicted, measured []float64) {
	predicted = make([]float64, len(s.points))
	measured = make([]float64, len(s.points))
	for i, p := range s.points {
		predicted[i] = s.knn(p.d, i)
		measured[i] = p.reward
	}
	return stats.Spearman(predicted, measured), predicted, measured
}

// Distance is the dissimilarity of two canonical decisions of one space,
// in [0, 1]: per block, the level difference over 5, a type change and
// half the parents not shared, each weighted a third, averaged over the
// blocks.
func Distance(a, b space.Decisions) float64 {
	n := min(len(a.Blocks), len(b.Blocks))
	if n == 0 {
		return 1
	}
	var d float64
	for i := range n {
		x, y := a.Blocks[i], b.Blocks[i]
		d += math.Min(math.Abs(float64(x.Level()-y.Level()))/5, 1) / 3
		if x.Type != y.Type {
			d += 1.0 / 3
		}
		shared := 0
		for _, p := range x.Parents {
			if slices.Contains(y.Parents[:], p) {
				shared++
			}
		}
		d += float64(2-shared) / 2 / 3
	}
	return d/float64(n) + float64(max(len(a.Blocks), len(b.Blocks))-n)
}

// Options configure one simulated search.
type Options struct {
	// Trials is the budget: proposals run to a result (reused duplicates
	// count, as in the engine).
	Trials int
	// Parallel is how many proposals are in flight: the algorithm proposes
	// a batch this size and observes its results together (default 1).
	Parallel int
	// NoiseSD adds Gaussian noise of this σ to each observed reward (the
	// proxy's seed-to-seed noise floor); 0 gives the surrogate's mean.
	NoiseSD float64
	// Seed seeds the noise (the algorithm's seed is its Config's).
	Seed uint64
}

// Trace is one simulated search: per trial in result order, the reward the
// algorithm observed and the surrogate's noise-free reward of the trial's
// architecture.
type Trace struct {
	Observed, Mean []float64
}

// Incumbent returns, after each trial, the noise-free reward of the
// architecture the search would pick then: the best observed so far (the
// earliest among equals).
func (t *Trace) Incumbent() []float64 { return t.TopK(1) }

// TopK returns, after each trial, the mean noise-free reward of the k
// architectures observed best so far (of all so far while fewer than k).
func (t *Trace) TopK(k int) []float64 {
	out := make([]float64, len(t.Observed))
	var top []int // indices of the best observed, best first
	for i, obs := range t.Observed {
		j := sort.Search(len(top), func(j int) bool { return t.Observed[top[j]] < obs })
		top = slices.Insert(top, j, i)
		if len(top) > k {
			top = top[:k]
		}
		var s float64
		for _, x := range top {
			s += t.Mean[x]
		}
		out[i] = s / float64(len(top))
	}
	return out
}

// Run simulates the algorithm name with cfg on the surrogate.
func Run(name string, s *Surrogate, cfg algo.Config, opt Options) (*Trace, error) {
	if opt.Trials < 1 {
		return nil, errors.New("replay: trials must be ≥ 1")
	}
	if opt.Parallel < 1 {
		opt.Parallel = 1
	}
	a, err := algo.New(name, s.sp, cfg)
	if err != nil {
		return nil, err
	}
	noise := rand.New(rand.NewPCG(opt.Seed, 0x5eed))
	tr := &Trace{}
	for len(tr.Observed) < opt.Trials {
		ps, err := a.Propose(min(opt.Parallel, opt.Trials-len(tr.Observed)))
		if err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			return nil, fmt.Errorf("replay: %s proposed nothing after %d trials", name, len(tr.Observed))
		}
		rs := make([]algo.Result, 0, len(ps))
		for _, p := range ps {
			mean, err := s.Predict(p.Decisions)
			if err != nil {
				return nil, fmt.Errorf("replay: %s proposal %d: %w", name, p.Seq, err)
			}
			obs := mean + opt.NoiseSD*noise.NormFloat64()
			if p.Known {
				obs = p.KnownReward
			}
			tr.Observed = append(tr.Observed, obs)
			tr.Mean = append(tr.Mean, mean)
			// A reused result is observed too, as the engine does.
			rs = append(rs, algo.Result{Seq: p.Seq, Hash: p.Hash, Reward: obs})
		}
		if err := a.Observe(rs); err != nil {
			return nil, err
		}
	}
	return tr, nil
}

// Benchmark runs each algorithm for seeds 1..seeds (the algorithm's seed
// and the noise seed) with cfg otherwise, and returns the traces by
// algorithm, in seed order.
func Benchmark(names []string, s *Surrogate, cfg algo.Config, seeds int, opt Options) (map[string][]*Trace, error) {
	if seeds < 1 {
		return nil, errors.New("replay: seeds must be ≥ 1")
	}
	out := map[string][]*Trace{}
	for _, name := range names {
		for seed := 1; seed <= seeds; seed++ {
			c, o := cfg, opt
			c.Seed, o.Seed = uint64(seed), uint64(seed)
			tr, err := Run(name, s, c, o)
			if err != nil {
				return nil, fmt.Errorf("replay: %s seed %d: %w", name, seed, err)
			}
			out[name] = append(out[name], tr)
		}
	}
	return out, nil
}
