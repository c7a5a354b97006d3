package algo

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/spinenet-go/spinenet/search/space"
)

// oracle is a synthetic reward: the fraction of the 70 per-block decision
// components (base level, shift, type, each parent) that agree with a hidden
// architecture drawn from the space, plus a little Gaussian noise. Its
// optimum, 1, is the hidden architecture.
type oracle struct {
	target space.Decisions
	noise  *rand.Rand
	sd     float64
}

func newOracle(sp *space.Space, seed uint64, sd float64) *oracle {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	return &oracle{target: sp.Sample(rng), noise: rand.New(rand.NewPCG(seed, 0x0015e)), sd: sd}
}

// score is the noise-free reward in [0, 1].
func (o *oracle) score(d space.Decisions) float64 {
	match, total := 0, 0
	for j, b := range d.Blocks {
		t := o.target.Blocks[j]
		total += 4
		if b.Base == t.Base {
			match++
		}
		if b.Type == t.Type {
			match++
		}
		for _, p := range b.Parents {
			if p == t.Parents[0] || p == t.Parents[1] {
				match++
			}
		}
		if !b.Output {
			total++
			if b.Shift == t.Shift {
				match++
			}
		}
	}
	return float64(match) / float64(total)
}

// reward is the score with noise.
func (o *oracle) reward(d space.Decisions) float64 { return o.score(d) + o.sd*o.noise.NormFloat64() }

// evalsTo runs alg for budget evaluations, proposing batch at a time and
// observing each batch in reverse order, and returns the number of
// evaluations until the first whose noise-free score reaches thr (budget+1
// when none does) and the best score.
func evalsTo(alg Algorithm, o *oracle, budget, batch int, thr float64) (int, float64, error) {
	hit, best, n := budget+1, 0.0, 0
	for n < budget {
		ps, err := alg.Propose(min(batch, budget-n))
		if err != nil {
			return 0, 0, err
		}
		rs := make([]Result, 0, len(ps))
		for _, p := range ps {
			n++
			s := o.score(p.Decisions)
			if s >= thr && hit > budget {
				hit = n
			}
			best = max(best, s)
			rs = append(rs, Result{Seq: p.Seq, Hash: p.Hash, Reward: s + o.sd*o.noise.NormFloat64()})
		}
		slices.Reverse(rs) // results arrive in another order than proposed
		if err := alg.Observe(rs); err != nil {
			return 0, 0, err
		}
	}
	return hit, best, nil
}

// wilcoxonGreater is the exact one-sided p-value of the Wilcoxon
// signed-rank test that the differences d tend to be positive: zeros are
// dropped, equal magnitudes get mid-ranks, and the null distribution of W+
// (the rank sum of the positive differences) is enumerated over all 2^n
// sign patterns by dynamic programming on doubled ranks. It returns p and
// the number of non-zero differences.
func wilcoxonGreater(d []float64) (float64, int) {
	var nz []float64
	for _, x := range d {
		if x != 0 {
			nz = append(nz, x)
		}
	}
	n := len(nz)
	if n == 0 {
		return 1, 0
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return math.Abs(nz[idx[a]]) < math.Abs(nz[idx[b]]) })
	rank2 := make([]int, n) // twice the mid-rank, an integer
	for i := 0; i < n; {
		j := i
		for j+1 < n && math.Abs(nz[idx[j+1]]) == math.Abs(nz[idx[i]]) {
			j++
		}
		for k := i; k <= j; k++ {
			rank2[idx[k]] = i + j + 2 // (i+1 + j+1)
		}
		i = j + 1
	}
	w, total := 0, 0
	for i, x := range nz {
		total += rank2[i]
		if x > 0 {
			w += rank2[i]
		}
	}
	count := make([]float64, total+1) // count[s]: sign patterns with W+ = s
	count[0] = 1
	for _, r := range rank2 {
		for s := total; s >= r; s-- {
			count[s] += count[s-r]
		}
	}
	tail := 0.0
	for s := w; s <= total; s++ {
		tail += count[s]
	}
	return tail / math.Pow(2, float64(n)), n
}

// signGreater is the exact one-sided sign-test p-value that d tends to be
// positive (zeros dropped).
func signGreater(d []float64) float64 {
	k, n := 0, 0
	for _, x := range d {
		if x != 0 {
			n++
			if x > 0 {
				k++
			}
		}
	}
	p := 0.0
	for i := k; i <= n; i++ {
		p += binom(n, i)
	}
	return p / math.Pow(2, float64(n))
}

func binom(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}
