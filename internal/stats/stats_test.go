package stats

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// The expected values are worked by hand: ρ = 1 − 6·Σd²/(n(n²−1)) for
// untied ranks, τ-b = (C − D)/√(pairs untied in x · pairs untied in y).
func TestRankCorrelations(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	y := []float64{2, 1, 4, 3, 6, 5, 8, 7, 10, 9}
	if r := Spearman(x, y); !near(r, 0.9393939, 1e-6) {
		t.Errorf("Spearman %v, want 0.939394", r)
	}
	if k := Kendall(x, y); !near(k, 0.7777778, 1e-6) {
		t.Errorf("Kendall %v, want 0.777778", k)
	}
	// Ties: ρ = 4.5/√(4.5·5) = 0.9486833, τ-b = 5/√(5·6) = 0.9128709.
	a, b := []float64{1, 2, 2, 3}, []float64{1, 3, 2, 4}
	if r := Spearman(a, b); !near(r, 0.9486833, 1e-6) {
		t.Errorf("tied Spearman %v", r)
	}
	if k := Kendall(a, b); !near(k, 0.9128709, 1e-6) {
		t.Errorf("tied Kendall %v", k)
	}
	if r := Spearman([]float64{1, 1, 1}, []float64{1, 2, 3}); !math.IsNaN(r) {
		t.Errorf("constant sample: %v, want NaN", r)
	}
	if r := Ranks([]float64{3, 1, 3, 2}); r[0] != 3.5 || r[1] != 1 || r[2] != 3.5 || r[3] != 2 {
		t.Errorf("Ranks %v", r)
	}
}

func TestPermutationTest(t *testing.T) {
	// n = 5, perfectly concordant: 2 of 120 orderings reach |τ| = 1.
	x := []float64{1, 2, 3, 4, 5}
	c := PermutationTest(x, x, Kendall)
	if c.Value != 1 || !near(c.P, 2.0/120, 1e-12) {
		t.Errorf("exact: %+v, want τ 1, p 1/60", c)
	}
	// n = 10 by Monte Carlo: the exact p of 5 inversions is 2·(1+9+44+155+
	// 440+1068)/10! = 0.000946 (Mahonian numbers); the estimate must be near.
	x10 := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	y10 := []float64{2, 1, 4, 3, 6, 5, 8, 7, 10, 9}
	if c := PermutationTest(x10, y10, Kendall); !near(c.P, 0.000946, 0.0003) {
		t.Errorf("Monte Carlo: %+v, want p ≈ 0.000946", c)
	}
	// An unrelated pair is not significant.
	if c := PermutationTest(x10, []float64{5, 9, 1, 7, 3, 10, 2, 8, 4, 6}, Spearman); c.P < 0.2 {
		t.Errorf("unrelated: %+v", c)
	}
}

func TestMeanCI(t *testing.T) {
	m, sd, h := MeanCI([]float64{1, 2, 3, 4})
	// mean 2.5, sd 1.2909944, qt(0.975, 3) = 3.182446 → 3.182446·1.2909944/2 = 2.054260.
	if m != 2.5 || !near(sd, 1.2909944, 1e-6) || !near(h, 2.054260, 1e-5) {
		t.Errorf("MeanCI = %v %v %v", m, sd, h)
	}
	if _, _, h := MeanCI([]float64{1}); !math.IsNaN(h) {
		t.Errorf("one value: half-width %v, want NaN", h)
	}
}
