package recipe

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// Set settings replace or add any recipe key, in YAML and JSON files;
// bad settings are errors naming the key.
func TestOverridesSet(t *testing.T) {
	raw, err := os.ReadFile("testdata/shapes-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseWith(raw, false, Overrides{Init: "w.safetensors", Set: []string{
		"train.lr.base_lr=0.01", "model.init_skip=[class_head]", "train.finetune.lr_scale=0.5", "data.synthetic_classes=1",
		"train.freeze=[stem, 'blocks<6']", "model.id=49", "train.momentum=0.8",
	}})
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if c.Train.LR.BaseLR != 0.01 || !slices.Equal(c.Model.InitSkip, []string{"class_head"}) || *c.Train.Finetune.LRScale != 0.5 ||
		c.Data.SyntheticClasses != 1 || !slices.Equal(c.Train.Freeze, []string{"stem", "blocks<6"}) || c.Model.ID != "49" ||
		*c.Train.Momentum != 0.8 || c.Model.Init != filepath.Join(wd, "w.safetensors") || c.Train.LR.WarmupSteps != 10 || c.Input.Size != 96 {
		t.Errorf("got %+v", c)
	}
	js := []byte(`{"task": "detection", "data": {"format": "synthetic"}, "input": {"size": 64}, "train": {"steps": 5, "output": "o", "lr": {"base_lr": 0.1}}}`)
	if c, err := ParseWith(js, true, Overrides{Set: []string{"train.batch=4"}}); err != nil || c.Train.Batch != 4 || c.Train.LR.BaseLR != 0.1 {
		t.Errorf("JSON: %v %+v", err, c)
	}
	for _, tc := range []struct{ set, key, want string }{
		{"train.lr.bse_lr=0.1", "train.lr.bse_lr", `unknown key "bse_lr" in train.lr; want one of base_lr`},
		{"trian.batch=2", "trian.batch", `unknown key "trian" in the recipe`},
		{"train.batch.size=2", "train.batch.size", "train.batch holds a value"},
		{"train.batch", "train.batch", "key=value"},
		{"train.batch=[1", "train.batch", "not YAML"},
	} {
		_, err := ParseWith(raw, false, Overrides{Set: []string{tc.set}})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.set, err)
		}
	}
	if _, err := ParseWith(raw, false, Overrides{Set: []string{"train.batch=many"}}); err == nil || !strings.Contains(err.Error(), "many") {
		t.Errorf("a value of the wrong type: %v", err)
	}
}
