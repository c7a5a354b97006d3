package report

import (
	"math"
	"slices"
	"testing"
)

func TestMeanCI(t *testing.T) {
	nan := math.NaN()
	runs := [][]float64{{1, nan, 5, nan}, {2, 4, 5, nan}, {3, nan, 5, nan}}
	mean, lo, hi, err := meanCI(runs)
	if err != nil {
		t.Fatal(err)
	}
	// Trial 1: mean 2, s = 1, n = 3: half-width t(0.975, 2)·s/√3 with
	// t(0.975, 2) = 4.302652729911275 (Student's t table).
	half := 4.302652729911275 / math.Sqrt(3)
	if math.Abs(mean[0]-2) > 1e-12 || math.Abs(lo[0]-(2-half)) > 1e-9 || math.Abs(hi[0]-(2+half)) > 1e-9 {
		t.Errorf("trial 1: mean %v, CI [%v, %v], want 2 ± %v", mean[0], lo[0], hi[0], half)
	}
	// Trial 2: one value, no band; trial 3: no spread; trial 4: no value.
	if mean[1] != 4 || !math.IsNaN(lo[1]) || !math.IsNaN(hi[1]) {
		t.Errorf("trial 2: mean %v, CI [%v, %v], want 4 and no band", mean[1], lo[1], hi[1])
	}
	if mean[2] != 5 || lo[2] != 5 || hi[2] != 5 || !math.IsNaN(mean[3]) {
		t.Errorf("trials 3, 4: mean %v %v, CI [%v, %v]", mean[2], mean[3], lo[2], hi[2])
	}
	// The band breaks at trial 2: one polygon for trial 1, one for 3.
	if bands := segments(lo, hi); len(bands) != 2 || len(bands[0]) != 2 || bands[1][0].X != 3 {
		t.Errorf("segments %v, want two, over trials 1 and 3", bands)
	}
	if _, _, _, err := meanCI(nil); err == nil {
		t.Error("no runs accepted")
	}
}

func TestIntegerTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   []float64
	}{
		{0.5, 6.5, []float64{1, 2, 3, 4, 5, 6}},
		{0.5, 13.5, []float64{2, 4, 6, 8, 10, 12}},
		{-3, 38, []float64{0, 10, 20, 30}},
		{-3, 36, []float64{0, 5, 10, 15, 20, 25, 30, 35}},
		{0, 1000, []float64{0, 200, 400, 600, 800, 1000}},
	} {
		var got []float64
		for _, tk := range (integerTicks{}).Ticks(c.lo, c.hi) {
			got = append(got, tk.Value)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Ticks(%v, %v) = %v, want %v", c.lo, c.hi, got, c.want)
		}
	}
	if l := (integerTicks{}).Ticks(-3, 36)[0].Label; l != "0" {
		t.Errorf("tick at zero labelled %q, want 0", l)
	}
}
