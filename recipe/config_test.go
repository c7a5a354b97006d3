package recipe

import (
	"testing"

	"github.com/spinenet-go/spinenet/configs"
)

// ScaleSchedule scales warmup, boundaries and freeze_bn with a shorter
// run; without it they stay as written.
func TestOverridesScaleSchedule(t *testing.T) {
	raw, err := configs.FS.ReadFile("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseWith(raw, false, Overrides{Epochs: 1, ScaleSchedule: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.Epochs != 1 || c.Train.LR.WarmupSteps != 3 || c.Train.FreezeBN != 7 {
		t.Errorf("epochs %d, warmup %d, freeze_bn %d; want 1, 40/12 → 3, 80/12 → 7", c.Train.Epochs, c.Train.LR.WarmupSteps, c.Train.FreezeBN)
	}
	if c, err := ParseWith(raw, false, Overrides{Epochs: 1}); err != nil || c.Train.LR.WarmupSteps != 40 {
		t.Errorf("without ScaleSchedule the warmup changed (or %v)", err)
	}
	pw := []byte("task: classification\nmodel: {id: '49S'}\ndata: {format: idx, train_images: a, train_annotations: b}\ninput: {size: 28}\ntrain: {output: out, steps: 1000, lr: {type: piecewise, base_lr: 0.1, boundaries: [600, 900], values: [0.1, 0.01, 0.001]}}\n")
	c, err = ParseWith(pw, false, Overrides{Steps: 100, ScaleSchedule: true})
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Train.LR.Boundaries; len(b) != 2 || b[0] != 60 || b[1] != 90 {
		t.Errorf("boundaries %v, want [60 90]", b)
	}
}
