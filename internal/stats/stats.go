// Package stats holds the few statistics the search results need: rank
// correlations (Spearman ρ, Kendall τ-b) with permutation p-values, and
// means with Student-t confidence intervals.
package stats

import (
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// Ranks returns the mid-ranks (1-based, ties averaged) of x.
func Ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		mid := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = mid
		}
		i = j + 1
	}
	return r
}

// pearson is the Pearson correlation of x and y (NaN when either is
// constant).
func pearson(x, y []float64) float64 {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	return sxy / math.Sqrt(sxx*syy)
}

// Spearman is Spearman's ρ: the Pearson correlation of the mid-ranks. It
// is NaN for fewer than two pairs or a constant sample; x and y must have
// equal lengths.
func Spearman(x, y []float64) float64 {
	if len(x) != len(y) || len(x) < 2 {
		return math.NaN()
	}
	return pearson(Ranks(x), Ranks(y))
}

// Kendall is Kendall's τ-b (ties in either sample corrected for, as
// scipy.stats.kendalltau does). It is NaN for fewer than two pairs or a
// constant sample.
func Kendall(x, y []float64) float64 {
	if len(x) != len(y) || len(x) < 2 {
		return math.NaN()
	}
	var conc, tx, ty float64 // Σ sign products, pairs not tied in x, in y
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			sx, sy := sign(x[i]-x[j]), sign(y[i]-y[j])
			conc += sx * sy
			tx += sx * sx
			ty += sy * sy
		}
	}
	return conc / math.Sqrt(tx*ty)
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// Correlation is a rank correlation with its two-sided p-value.
type Correlation struct {
	// Value is ρ or τ; P the probability, under independence, of a value
	// at least as far from 0.
	Value float64 `json:"value"`
	P     float64 `json:"p"`
}

// PermutationDraws is how many random permutations PermutationTest draws
// for samples too large to enumerate (n > 8).
const PermutationDraws = 100_000

// PermutationTest returns stat(x, y) and its two-sided permutation
// p-value: the share of orderings of y whose statistic is at least as far
// from 0, over all n! orderings for n ≤ 8 and otherwise over
// PermutationDraws random ones (seeded, so the p-value is reproducible)
// plus the observed one.
func PermutationTest(x, y []float64, stat func(x, y []float64) float64) Correlation {
	obs := stat(x, y)
	if math.IsNaN(obs) {
		return Correlation{obs, math.NaN()}
	}
	thr := math.Abs(obs) - 1e-12
	perm := append([]float64(nil), y...)
	var hit, total int
	if len(y) <= 8 {
		heap(perm, len(perm), func() {
			total++
			if math.Abs(stat(x, perm)) >= thr {
				hit++
			}
		})
		return Correlation{obs, float64(hit) / float64(total)}
	}
	rng := rand.New(rand.NewPCG(uint64(len(y)), 0x9e3779b97f4a7c15))
	for range PermutationDraws {
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		if math.Abs(stat(x, perm)) >= thr {
			hit++
		}
	}
	return Correlation{obs, float64(hit+1) / float64(PermutationDraws+1)}
}

// heap calls visit for every ordering of a[:k] (Heap's algorithm).
func heap(a []float64, k int, visit func()) {
	if k <= 1 {
		visit()
		return
	}
	for i := 0; i < k-1; i++ {
		heap(a, k-1, visit)
		if k%2 == 0 {
			a[i], a[k-1] = a[k-1], a[i]
		} else {
			a[0], a[k-1] = a[k-1], a[0]
		}
	}
	heap(a, k-1, visit)
}

// MeanCI returns the mean of x, its sample standard deviation and the
// half-width of the two-sided 95 % Student-t confidence interval of the
// mean (0 and NaN for fewer than two values).
func MeanCI(x []float64) (mean, sd, half float64) {
	n := float64(len(x))
	if len(x) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	for _, v := range x {
		mean += v
	}
	mean /= n
	if len(x) < 2 {
		return mean, math.NaN(), math.NaN()
	}
	for _, v := range x {
		sd += (v - mean) * (v - mean)
	}
	sd = math.Sqrt(sd / (n - 1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Quantile(0.975)
	return mean, sd, t * sd / math.Sqrt(n)
}
