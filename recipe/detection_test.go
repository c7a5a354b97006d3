package recipe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/data/mosaic"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/models"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/train"
)

// A tiny RetinaNet trains end to end on synthetic shapes: the loss falls,
// the run directory holds the checkpoint, weights, metrics and plot, and
// the weights load back as a detector that evaluates.
func TestTinyDetectionTraining(t *testing.T) {
	c, err := Load("testdata/shapes-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Train.Output = t.TempDir()
	sum, err := TrainDetection(context.Background(), c, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ml, err := train.OpenMetricsLog(filepath.Join(c.Train.Output, train.MetricsFile), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Close()
	var losses []float64
	for _, r := range ml.Records() {
		if r.Kind == "train" {
			losses = append(losses, r.Values["loss"])
		}
	}
	t.Logf("losses %v, eval %v", losses, sum.Eval)
	if len(losses) < 3 || losses[len(losses)-1] > 0.75*losses[0] {
		t.Errorf("loss did not fall by 25%%: %v", losses)
	}
	for _, f := range []string{train.CheckpointFile, train.WeightsFile, train.MetricsFile, train.PlotFile} {
		if _, err := os.Stat(filepath.Join(c.Train.Output, f)); err != nil {
			t.Error(err)
		}
	}
	d, err := detection.LoadDetector(filepath.Join(c.Train.Output, train.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Classes) != 4 || d.InputSize != 96 {
		t.Errorf("detector classes %v, size %d", d.Classes, d.InputSize)
	}
}

// Errors from the layers below keep their type through recipe, and name
// the recipe key.
func TestConfigErrorsWrap(t *testing.T) {
	c := &Config{Task: "detection", Model: ModelConfig{ID: "49S", Activation: "gelu"}}
	_, err := c.Resolve()
	var ce *ConfigError
	var re *models.RequestError
	if !errors.As(err, &ce) || ce.Key != "model.activation" || !errors.As(err, &re) {
		t.Errorf("bad activation: %v", err)
	}
	c = &Config{Train: TrainConfig{LR: optim.ScheduleConfig{Type: "cosine", BaseLR: 0.1, WarmupInitLR: 0.01}}}
	_, err = c.Schedule(100)
	var se *optim.SettingError
	if !errors.As(err, &ce) || ce.Key != "train.lr.warmup_init_lr" || !errors.As(err, &se) {
		t.Errorf("bad schedule: %v", err)
	}
	c = &Config{Model: ModelConfig{ID: "50"}}
	if _, err = c.Resolve(); !errors.Is(err, spinenet.ErrUnknownModel) {
		t.Errorf("unknown id: %v", err)
	}
}

// Numbers YAML can spell but no recipe means (.nan, .inf) and sizes that
// would allocate without bound are refused with the key named.
func TestParseRefusesNonFinite(t *testing.T) {
	base := "task: detection\ndata: {format: coco, train_images: i, train_annotations: a.json}\ntrain: {batch: 2, steps: 1, output: out}\n"
	if _, err := Parse([]byte(base+"input: {size: 64}\nmodel: {id: 49S}\n"), false); err != nil {
		t.Fatalf("the base recipe: %v", err)
	}
	for _, c := range []struct{ extra, key string }{
		{"input: {size: 64, scale_min: .nan, scale_max: 1}\nmodel: {id: 49S}\n", "input.scale_min/scale_max"},
		{"input: {size: 64, scale_min: 0.5, scale_max: .inf}\nmodel: {id: 49S}\n", "input.scale_min/scale_max"},
		{"input: {size: 60000}\nmodel: {id: 49S}\n", "input.size"},
		{"input: {size: 64}\nmodel: {id: 49S, stochastic_depth: .nan}\n", "model.stochastic_depth"},
		{"input: {size: 64}\nmodel: {id: 49S, label_smoothing: -.inf}\n", "model.label_smoothing"},
		{"input: {size: 64}\nmodel: {id: 49S, stem_filters: -1}\n", "model.stem_filters"},
	} {
		_, err := Parse([]byte(base+c.extra), false)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%q: %v, want a ConfigError on %s", c.extra, err, c.key)
		}
	}
}

// model.stem_filters reaches the backbone options; the Mobile family, whose
// stem scales with filter_size_scale, refuses it with the key named.
func TestStemFiltersKey(t *testing.T) {
	base := "task: detection\ndata: {format: coco, train_images: i, train_annotations: a.json}\ntrain: {batch: 2, steps: 1, output: out}\ninput: {size: 64}\n"
	c, err := Parse([]byte(base+"model: {id: 49S, stem_filters: 16}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Resolve()
	if err != nil || d.Options.StemFilters != 16 {
		t.Fatalf("stem_filters 16: %v, options %+v", err, d)
	}
	c, err = Parse([]byte(base+"model: {id: mobile-49, stem_filters: 16}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	var ce *ConfigError
	if _, err := c.Resolve(); !errors.As(err, &ce) || ce.Key != "model.stem_filters" {
		t.Errorf("mobile-49 with stem_filters: %v, want a ConfigError on model.stem_filters", err)
	}
}

// The synthetic generator's keys reach the data, and bad values are refused
// with the key named; a program-given Architecture stands in for model.id.
func TestSyntheticKeysAndArchitecture(t *testing.T) {
	base := "task: detection\nmodel: {id: 49S}\ninput: {size: 64}\ntrain: {batch: 2, steps: 1, output: out}\n"
	for _, c := range []struct{ data, key string }{
		{"data: {format: synthetic, synthetic_classes: 5}\n", "data.synthetic_classes"},
		{"data: {format: synthetic, synthetic_min_side: 30, synthetic_max_side: 20}\n", "data.synthetic_min_side/synthetic_max_side"},
		{"data: {format: synthetic, synthetic_max_side: 100}\n", "data.synthetic_min_side/synthetic_max_side"},
		{"data: {format: synthetic, synthetic_min_side: .nan}\n", "data.synthetic_min_side/synthetic_max_side"},
	} {
		_, err := Parse([]byte(base+c.data), false)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%q: %v, want a ConfigError on %s", c.data, err, c.key)
		}
	}
	cfg, err := Parse([]byte(base+"data: {format: synthetic, synthetic_train: 4, synthetic_val: 2, synthetic_classes: 2, synthetic_seed: 7}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	a, err := spinenet.Lookup("49S")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Model.Architecture = a
	if _, err := cfg.Resolve(); err == nil || !strings.Contains(err.Error(), "name one") {
		t.Errorf("Architecture with model.id: %v", err)
	}
	cfg.Model.ID = ""
	task, err := NewDetectionTask(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Train.Classes) != 2 || len(task.Train.Samples) != 4 || len(task.Val.Samples) != 2 {
		t.Errorf("synthetic data: %d classes, %d/%d images; want 2 classes, 4/2", len(task.Train.Classes), len(task.Train.Samples), len(task.Val.Samples))
	}
}

// The fmnist-mosaic keys are validated with the key named; a directory
// without Fashion-MNIST is a ConfigError on data.mosaic_dir that says what
// to install; the installed set (skipped when absent) gives the counts and
// the merged classes asked for.
func TestMosaicKeys(t *testing.T) {
	base := "task: detection\nmodel: {id: 49S}\ninput: {size: 64}\ntrain: {batch: 2, steps: 1, output: out}\n"
	for _, c := range []struct{ data, key string }{
		{"data: {format: fmnist-mosaic, mosaic_train: -1}\n", "data.mosaic_train/mosaic_val"},
		{"data: {format: fmnist-mosaic, mosaic_min_side: 30, mosaic_max_side: 20}\n", "data.mosaic_min_side/mosaic_max_side"},
		{"data: {format: fmnist-mosaic, mosaic_max_side: 65}\n", "data.mosaic_min_side/mosaic_max_side"},
		{"data: {format: fmnist-mosaic, mosaic_min_side: 0.5}\n", "data.mosaic_min_side/mosaic_max_side"},
		{"data: {format: fmnist-mosaic, mosaic_min_side: .nan}\n", "data.mosaic_min_side/mosaic_max_side"},
		{"data: {format: fmnist-mosaic, mosaic_items: 65}\n", "data.mosaic_items"},
		{"data: {format: fmnist-mosaic, mosaic_tint: 1.5}\n", "data.mosaic_tint"},
		{"data: {format: fmnist-mosaic, mosaic_merge: [a, b]}\n", "data.mosaic_merge"},
		{"data: {format: fmnist-mosaic, mosaic_merge: [a, b, c, d, e, f, g, h, i, '']}\n", "data.mosaic_merge"},
		{"data: {format: mosaic}\n", "data.format"},
	} {
		_, err := Parse([]byte(base+c.data), false)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%q: %v, want a ConfigError on %s", c.data, err, c.key)
		}
	}
	cfg, err := Parse([]byte(base+"data: {format: fmnist-mosaic, mosaic_dir: "+t.TempDir()+"}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewDetectionTask(cfg)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "data.mosaic_dir" || !errors.Is(err, mosaic.ErrNoDataset) ||
		!strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") || !strings.Contains(err.Error(), mosaic.TrainImages) {
		t.Errorf("empty mosaic_dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mosaic.DefaultDir, mosaic.TrainImages)); err != nil {
		t.Skip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)")
	}
	cfg, err = Parse([]byte(base+"data: {format: fmnist-mosaic, mosaic_train: 4, mosaic_val: 3, mosaic_seed: 2, mosaic_min_side: 8, mosaic_max_side: 60, "+
		"mosaic_merge: [top, bottom, top, dress, top, shoe, top, shoe, bag, shoe]}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	task, err := NewDetectionTask(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(task.Train.Classes, ","); got != "top,bottom,dress,shoe,bag" || len(task.Train.Samples) != 4 || len(task.Val.Samples) != 3 {
		t.Errorf("mosaic data: classes %s, %d/%d images; want 5 classes, 4/3", got, len(task.Train.Samples), len(task.Val.Samples))
	}
	if task.Source == nil || task.ValGT == nil || len(task.ValGT.Images) != 3 {
		t.Errorf("source %v, val ground truth %v", task.Source, task.ValGT)
	}
}
