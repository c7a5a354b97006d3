package toy

import (
	"testing"
)

// The core learns end to end: on the synthetic 4-class task the mean
// training loss of the last 25 steps must be at most a quarter of the first
// 25 steps' (it starts near ln 4 ≈ 1.39), and held-out accuracy must be well
// above chance (25 %).
func TestTinyConvNetLearns(t *testing.T) {
	steps := 300
	if testing.Short() {
		steps = 200
	}
	_, res, err := Train(Config{Steps: steps, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.3f → %.3f, held-out accuracy %.1f%%", res.FirstLoss, res.LastLoss, 100*res.Accuracy)
	if res.LastLoss > res.FirstLoss/4 {
		t.Errorf("loss fell from %.3f to %.3f, want at least 4×", res.FirstLoss, res.LastLoss)
	}
	if res.Accuracy < 0.8 {
		t.Errorf("held-out accuracy %.3f, want ≥ 0.8", res.Accuracy)
	}
}
