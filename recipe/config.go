// Package recipe reads training configuration files and turns them into
// runnable tasks: a RetinaNet detection task or a classification task, each
// implementing train.Task, so `spinenet train --config FILE` and
// `spinenet eval` work the same way for both.
//
// A config file is YAML or JSON in the spirit of the official SpineNet
// yamls (see configs/ in the repository for complete examples):
//
//	task: detection
//	model: {id: 49S, filter_size_scale: 0.5, activation: swish}
//	data:  {format: voc, train_annotations: …, train_images: …, val_count: 40}
//	input: {size: 320, scale_min: 0.8, scale_max: 1.25, flip: true}
//	train: {batch: 8, epochs: 60, lr: {type: cosine, base_lr: 0.08, warmup_steps: 200}}
//
// Unknown keys are errors naming the key, so a typo cannot silently fall
// back to a default.
package recipe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/spinenet-go/spinenet/internal/readlimit"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/spinenet"
	"go.yaml.in/yaml/v3"
)

// TaskInstanceSegmentation is the task of Mask R-CNN recipes.
const TaskInstanceSegmentation = "instance_segmentation"

// Config is a training recipe.
type Config struct {
	// Task is "detection" (RetinaNet), "instance_segmentation" (Mask
	// R-CNN) or "classification".
	Task  string      `json:"task" yaml:"task"`
	Model ModelConfig `json:"model" yaml:"model"`
	Data  DataConfig  `json:"data" yaml:"data"`
	Input InputConfig `json:"input" yaml:"input"`
	Train TrainConfig `json:"train" yaml:"train"`
	// Dir is the directory of the config file; relative data paths are
	// resolved against it. It is not read from the file.
	Dir string `json:"-" yaml:"-"`
}

// ModelConfig picks the architecture and overrides its scaling.
type ModelConfig struct {
	// ID is a built-in model id (49S, 49, 96, 143, 143L, 190, mobile-49XS,
	// mobile-49S, mobile-49); Arch is an architecture file instead.
	ID   string `json:"id" yaml:"id"`
	Arch string `json:"arch" yaml:"arch"`
	// Architecture is an architecture a program supplies (a search
	// trial's candidate) instead of ID or Arch; it is not read from files.
	Architecture *spinenet.Arch `json:"-" yaml:"-"`
	// Overrides of the scaling map (0 keeps the model's value).
	FilterSizeScale     float64 `json:"filter_size_scale" yaml:"filter_size_scale"`
	ResampleAlpha       float64 `json:"resample_alpha" yaml:"resample_alpha"`
	EndpointsNumFilters int     `json:"endpoints_num_filters" yaml:"endpoints_num_filters"`
	BlockRepeats        int     `json:"block_repeats" yaml:"block_repeats"`
	// Activation: relu, swish or hard_swish (default swish; hard_swish for
	// mobile-49/49S).
	Activation      string  `json:"activation" yaml:"activation"`
	StochasticDepth float64 `json:"stochastic_depth" yaml:"stochastic_depth"`
	BNMomentum      float32 `json:"bn_momentum" yaml:"bn_momentum"`
	BNEpsilon       float32 `json:"bn_epsilon" yaml:"bn_epsilon"`
	Pooling         string  `json:"pooling" yaml:"pooling"`
	Padding         string  `json:"padding" yaml:"padding"`
	// Detection head overrides (0 keeps the model's head).
	HeadFilters int     `json:"head_filters" yaml:"head_filters"`
	HeadConvs   int     `json:"head_convs" yaml:"head_convs"`
	AnchorSize  float64 `json:"anchor_size" yaml:"anchor_size"`
	// Classification head.
	Dropout        float64 `json:"dropout" yaml:"dropout"`
	LabelSmoothing float64 `json:"label_smoothing" yaml:"label_smoothing"`
	// InputChannels is 3 (RGB) or 1 (grayscale stem); 0 means 3.
	InputChannels int `json:"input_channels" yaml:"input_channels"`
	// StemFilters is the stem convolution's width, a proxy departure from
	// the paper's 64 (0 keeps 64; ResNet-block models only): search proxies
	// narrow it so a small model's time goes to the searched blocks.
	StemFilters int `json:"stem_filters" yaml:"stem_filters"`
	// Init is a weights file to start from (transfer learning): a
	// model.safetensors of any run, a checkpoint, or an imported file;
	// empty means random initialisation. Every tensor whose name and shape
	// match is loaded; a tensor the file cannot fill is an error unless
	// InitSkip or InitScope lets it keep its fresh initialisation. The run
	// log and metrics.jsonl list what was loaded and re-initialised, and
	// the schedule is scaled by train.finetune.
	Init string `json:"init" yaml:"init"`
	// InitSkip names the parts (models.PartStem …: class_head, head, …)
	// that may keep their fresh initialisation when Init lacks them or
	// holds another shape, e.g. [class_head] for another class count (the
	// fresh class bias is the focal-loss prior).
	InitSkip []string `json:"init_skip" yaml:"init_skip"`
	// InitScope is "all" (the default) or "backbone": load only the stem,
	// blocks and endpoints from Init and keep the head fresh.
	InitScope string `json:"init_scope" yaml:"init_scope"`
}

// DataConfig locates the data.
type DataConfig struct {
	// Format: coco, voc, synthetic or fmnist-mosaic (detection); idx or
	// imagefolder (classification).
	Format           string `json:"format" yaml:"format"`
	TrainAnnotations string `json:"train_annotations" yaml:"train_annotations"`
	TrainImages      string `json:"train_images" yaml:"train_images"`
	ValAnnotations   string `json:"val_annotations" yaml:"val_annotations"`
	ValImages        string `json:"val_images" yaml:"val_images"`
	// ValCount holds out the last ValCount training samples for evaluation
	// when no validation set is given (e.g. raccoon's fixed 160/40 split).
	ValCount int `json:"val_count" yaml:"val_count"`
	// ValIsTrain evaluates on the training set itself (an overfitting
	// check, e.g. COCO128).
	ValIsTrain bool `json:"val_is_train" yaml:"val_is_train"`
	// Classes fixes the class list (VOC, ImageFolder); empty means taken
	// from the data.
	Classes []string `json:"classes" yaml:"classes"`
	// Synthetic set sizes.
	SyntheticTrain int `json:"synthetic_train" yaml:"synthetic_train"`
	SyntheticVal   int `json:"synthetic_val" yaml:"synthetic_val"`
	// SyntheticClasses uses the first SyntheticClasses shape classes
	// (1..4; 0: all 4).
	SyntheticClasses int `json:"synthetic_classes" yaml:"synthetic_classes"`
	// SyntheticMinSide and SyntheticMaxSide bound a shape's side in pixels
	// (0: input.size/8 and input.size/2.5).
	SyntheticMinSide float64 `json:"synthetic_min_side" yaml:"synthetic_min_side"`
	SyntheticMaxSide float64 `json:"synthetic_max_side" yaml:"synthetic_max_side"`
	// SyntheticLogUniform draws shape sides log-uniformly, as many objects
	// per octave of size (per pyramid level); otherwise uniformly.
	SyntheticLogUniform bool `json:"synthetic_log_uniform" yaml:"synthetic_log_uniform"`
	// SyntheticSeed fixes the synthetic images (0: train.seed), so trials
	// with different training seeds can share one data set.
	SyntheticSeed int64 `json:"synthetic_seed" yaml:"synthetic_seed"`
	// MosaicDir is the directory holding Fashion-MNIST's IDX files for
	// fmnist-mosaic (empty: /usr/share/datasets/fashion-mnist, where
	// Debian's dataset-fashion-mnist installs them; relative to the
	// config file's directory).
	MosaicDir string `json:"mosaic_dir" yaml:"mosaic_dir"`
	// MosaicTrain and MosaicVal are the mosaic set sizes (0: 512 and 64);
	// training mosaics paste items from the training file, validation
	// mosaics from t10k.
	MosaicTrain int `json:"mosaic_train" yaml:"mosaic_train"`
	MosaicVal   int `json:"mosaic_val" yaml:"mosaic_val"`
	// MosaicMinSide and MosaicMaxSide bound an item's long side in pixels,
	// drawn log-uniformly (0: input.size/8 and input.size/2.5).
	MosaicMinSide float64 `json:"mosaic_min_side" yaml:"mosaic_min_side"`
	MosaicMaxSide float64 `json:"mosaic_max_side" yaml:"mosaic_max_side"`
	// MosaicItems is the most items a mosaic gets, 1..MosaicItems drawn
	// uniformly (0: 4).
	MosaicItems int `json:"mosaic_items" yaml:"mosaic_items"`
	// MosaicTint is the probability that an item is drawn in a random
	// colour rather than gray (0..1).
	MosaicTint float64 `json:"mosaic_tint" yaml:"mosaic_tint"`
	// MosaicMerge names the class of each Fashion-MNIST label 0..9 (ten
	// names; labels sharing a name are one class); empty: the ten classes.
	MosaicMerge []string `json:"mosaic_merge" yaml:"mosaic_merge"`
	// MosaicSeed fixes the mosaics (0: train.seed).
	MosaicSeed int64 `json:"mosaic_seed" yaml:"mosaic_seed"`
	// Limit uses only the first Limit training samples (0: all).
	Limit int `json:"limit" yaml:"limit"`
	// Strict makes a corrupt image or bad annotation fatal instead of
	// skipped and counted.
	Strict bool `json:"strict" yaml:"strict"`
}

// InputConfig describes preprocessing and augmentation.
type InputConfig struct {
	// Size is the square network input (long side resized to it, padded).
	Size int `json:"size" yaml:"size"`
	// Scale jitter range (detection); 1,1 disables it.
	ScaleMin float64 `json:"scale_min" yaml:"scale_min"`
	ScaleMax float64 `json:"scale_max" yaml:"scale_max"`
	Flip     bool    `json:"flip" yaml:"flip"`
	// CropPad pads by this many pixels and crops back at random
	// (classification).
	CropPad int `json:"crop_pad" yaml:"crop_pad"`
}

// TrainConfig is the optimisation schedule.
type TrainConfig struct {
	Batch int `json:"batch" yaml:"batch"`
	// Epochs or Steps (Steps wins when both are set).
	Epochs int                  `json:"epochs" yaml:"epochs"`
	Steps  int                  `json:"steps" yaml:"steps"`
	LR     optim.ScheduleConfig `json:"lr" yaml:"lr"`
	// Momentum, WeightDecay and ClipNorm default to the SpineNet recipe
	// (0.9, 4e-5 detection / 1e-4 classification, 10) when absent.
	Momentum    *float64 `json:"momentum" yaml:"momentum"`
	WeightDecay *float64 `json:"weight_decay" yaml:"weight_decay"`
	ClipNorm    *float64 `json:"clip_norm" yaml:"clip_norm"`
	Seed        uint64   `json:"seed" yaml:"seed"`
	Workers     int      `json:"workers" yaml:"workers"`
	// Threads is the run's compute thread budget (train.Options.Threads;
	// 0, the default: all cores). Runs side by side in one process, each
	// with its own budget, do not share worker threads.
	Threads int `json:"threads" yaml:"threads"`
	// EvalEvery evaluates every this many epochs (0: only at the end).
	EvalEvery int `json:"eval_every" yaml:"eval_every"`
	// CheckpointEvery writes a checkpoint every this many steps (default:
	// every epoch).
	CheckpointEvery int `json:"checkpoint_every" yaml:"checkpoint_every"`
	// PreciseBN recomputes the batch-norm statistics over this many
	// training batches before each evaluation and the final save (0: off).
	// Short runs with small batches need it: the moving averages lag the
	// weights, and the coarse levels of small inputs have few positions.
	PreciseBN int `json:"precise_bn" yaml:"precise_bn"`
	// FreezeBN trains the last FreezeBN steps with recalibrated, frozen
	// batch-norm statistics (0: off); see train.Options.FreezeBN.
	FreezeBN int `json:"freeze_bn" yaml:"freeze_bn"`
	// Freeze names the parts that are not trained (models.PartStem …:
	// stem, blocks<6, endpoints, backbone, bn, head, …): their parameters
	// keep their values and their batch norms normalise with, and keep,
	// their moving statistics.
	Freeze []string `json:"freeze" yaml:"freeze"`
	// Finetune scales the schedule of a run that starts from model.init
	// (defaults: learning rates × 0.25, warm-up × 0.25).
	Finetune FinetuneConfig `json:"finetune" yaml:"finetune"`
	// Output is the run directory (relative to the working directory).
	Output string `json:"output" yaml:"output"`
}

// MaxConfigBytes bounds the size of a recipe file Load reads; real
// recipes are a few hundred bytes.
const MaxConfigBytes = 1 << 20

// Load reads a YAML (.yaml, .yml) or JSON (.json) config file.
func Load(path string) (*Config, error) { return LoadWith(path, Overrides{}) }

// Overrides are settings given outside the recipe (command-line flags) that
// replace the file's before it is validated, so a recipe may leave out what
// they supply (e.g. train.output when --output is given). Zero fields
// override nothing.
type Overrides struct {
	// Output replaces train.output.
	Output string
	// Steps replaces train.steps.
	Steps int
	// Epochs replaces train.epochs and clears train.steps.
	Epochs int
	// Threads replaces train.threads.
	Threads int
	// Init replaces model.init (a path relative to the working directory
	// or absolute: the command line's, not the recipe's directory).
	Init string
	// Set are "key=value" settings applied to the file's text before it is
	// decoded: a dotted recipe key (train.lr.base_lr, model.init_skip) and
	// a YAML value as the file would hold it (0.01, [class_head]). They
	// come before the other overrides; relative paths in values resolve
	// against the recipe's directory, as in the file.
	Set []string
	// ScaleSchedule, with Epochs or Steps, scales the schedule's step
	// counts (lr warmup_steps, piecewise boundaries, freeze_bn) by the new
	// length over the recipe's, so that a shortened (or lengthened) run
	// keeps the recipe's schedule shape. It applies when the recipe gives
	// its length in the same unit as the override; otherwise the counts
	// stay as written.
	ScaleSchedule bool
}

func (o Overrides) apply(c *Config) {
	if o.Output != "" {
		c.Train.Output = o.Output
	}
	if o.Init != "" {
		if abs, err := filepath.Abs(o.Init); err == nil {
			c.Model.Init = abs
		} else {
			c.Model.Init = o.Init
		}
	}
	ratio := 0.0
	switch {
	case o.Epochs != 0 && c.Train.Steps == 0 && c.Train.Epochs > 0:
		ratio = float64(o.Epochs) / float64(c.Train.Epochs)
	case o.Steps != 0 && o.Epochs == 0 && c.Train.Steps > 0:
		ratio = float64(o.Steps) / float64(c.Train.Steps)
	}
	if o.Steps != 0 {
		c.Train.Steps = o.Steps
	}
	if o.Epochs != 0 {
		c.Train.Epochs, c.Train.Steps = o.Epochs, 0
	}
	if o.ScaleSchedule && ratio > 0 {
		scale := func(n int) int { return int(math.Round(float64(n) * ratio)) }
		lr := &c.Train.LR
		lr.WarmupSteps, c.Train.FreezeBN = scale(lr.WarmupSteps), scale(c.Train.FreezeBN)
		for i, b := range lr.Boundaries {
			lr.Boundaries[i] = scale(b)
		}
	}
	if o.Threads != 0 {
		c.Train.Threads = o.Threads
	}
}

// LoadWith reads a recipe file as Load does, applying o before validation.
func LoadWith(path string, o Overrides) (*Config, error) {
	data, err := readlimit.File(path, MaxConfigBytes, "a recipe file")
	if err != nil {
		return nil, err
	}
	c, err := ParseWith(data, strings.ToLower(filepath.Ext(path)) == ".json", o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Dir = filepath.Dir(path)
	return c, nil
}

// Parse decodes a config (JSON if isJSON, else YAML), rejecting unknown
// keys, fills defaults and validates it.
func Parse(data []byte, isJSON bool) (*Config, error) { return ParseWith(data, isJSON, Overrides{}) }

// ParseWith decodes a config as Parse does, applying o before validation.
func ParseWith(data []byte, isJSON bool, o Overrides) (*Config, error) {
	var c Config
	if len(o.Set) > 0 {
		var err error
		if data, err = applySets(data, o.Set); err != nil {
			return nil, err
		}
		isJSON = false // applySets returns YAML
	}
	if isJSON {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("recipe: %w", err)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && err != io.EOF {
			return nil, fmt.Errorf("recipe: %w", err)
		}
	}
	o.apply(&c)
	if err := c.Fill(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Fill fills in the defaults of a Config built in code and validates it,
// as Parse does for a file.
func (c *Config) Fill() error {
	c.defaults()
	return c.Validate()
}

func (c *Config) defaults() {
	if c.Model.ID == "" && c.Model.Arch == "" && c.Model.Architecture == nil {
		c.Model.ID = "49S"
	}
	if c.Input.ScaleMin == 0 && c.Input.ScaleMax == 0 {
		c.Input.ScaleMin, c.Input.ScaleMax = 1, 1
	}
	if c.Train.Batch == 0 {
		c.Train.Batch = 8
	}
	if c.Train.Seed == 0 {
		c.Train.Seed = 1
	}
	if c.Train.Workers == 0 {
		c.Train.Workers = 2
	}
	if c.Train.LR.Type == "" {
		c.Train.LR.Type = "cosine"
	}
	if c.Model.InputChannels == 0 {
		c.Model.InputChannels = 3
	}
}

// ConfigError names the offending key of a config. Err, when set, is the
// underlying error (errors.As reaches it through Unwrap).
type ConfigError struct {
	Key, Reason string
	Err         error
}

// Error formats the error as "recipe: <key>: <reason>".
func (e *ConfigError) Error() string { return fmt.Sprintf("recipe: %s: %s", e.Key, e.Reason) }

// Unwrap returns the underlying error, if any.
func (e *ConfigError) Unwrap() error { return e.Err }

// Validate checks the values that do not depend on the data.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)}
	}
	switch c.Task {
	case "detection", TaskInstanceSegmentation:
		if f := c.Data.Format; c.Task == TaskInstanceSegmentation && f != "coco" && f != "synthetic" {
			return bad("data.format", "%q, want coco or synthetic for instance_segmentation (the formats with masks)", f)
		}
		switch c.Data.Format {
		case "coco", "voc":
		case "synthetic":
			d := c.Data
			if d.SyntheticClasses < 0 || d.SyntheticClasses > 4 {
				return bad("data.synthetic_classes", "%d, want 1..4 (0: all 4)", d.SyntheticClasses)
			}
			if !(d.SyntheticMinSide >= 0 && d.SyntheticMaxSide >= 0 && d.SyntheticMaxSide <= float64(c.Input.Size)) ||
				(d.SyntheticMinSide > 0 && d.SyntheticMaxSide > 0 && d.SyntheticMinSide > d.SyntheticMaxSide) {
				return bad("data.synthetic_min_side/synthetic_max_side", "[%v, %v], want 0 ≤ min ≤ max ≤ input.size (0: the defaults)", d.SyntheticMinSide, d.SyntheticMaxSide)
			}
		case "fmnist-mosaic":
			d := c.Data
			if d.MosaicTrain < 0 || d.MosaicVal < 0 {
				return bad("data.mosaic_train/mosaic_val", "%d, %d, want ≥ 0 (0: 512 and 64)", d.MosaicTrain, d.MosaicVal)
			}
			if !(d.MosaicMinSide >= 0 && d.MosaicMaxSide >= 0 && d.MosaicMaxSide <= float64(c.Input.Size)) ||
				(d.MosaicMinSide > 0 && d.MosaicMinSide < 1) ||
				(d.MosaicMinSide > 0 && d.MosaicMaxSide > 0 && d.MosaicMinSide > d.MosaicMaxSide) {
				return bad("data.mosaic_min_side/mosaic_max_side", "[%v, %v], want 1 ≤ min ≤ max ≤ input.size (0: the defaults)", d.MosaicMinSide, d.MosaicMaxSide)
			}
			if d.MosaicItems < 0 || d.MosaicItems > 64 {
				return bad("data.mosaic_items", "%d, want 1..64 (0: 4)", d.MosaicItems)
			}
			if !(d.MosaicTint >= 0 && d.MosaicTint <= 1) {
				return bad("data.mosaic_tint", "%v, want 0..1", d.MosaicTint)
			}
			if len(d.MosaicMerge) > 0 {
				if len(d.MosaicMerge) != 10 {
					return bad("data.mosaic_merge", "%d names, want one for each of the 10 Fashion-MNIST labels", len(d.MosaicMerge))
				}
				if i := slices.Index(d.MosaicMerge, ""); i >= 0 {
					return bad("data.mosaic_merge", "name %d is empty", i)
				}
			}
		default:
			return bad("data.format", "%q, want coco, voc, synthetic or fmnist-mosaic for detection", c.Data.Format)
		}
	case "classification":
		switch c.Data.Format {
		case "idx", "imagefolder":
		default:
			return bad("data.format", "%q, want idx or imagefolder for classification", c.Data.Format)
		}
	default:
		return bad("task", "%q, want detection, instance_segmentation or classification", c.Task)
	}
	if c.Input.Size < 16 || c.Input.Size > 8192 {
		return bad("input.size", "%d, want 16..8192", c.Input.Size)
	}
	if !(c.Input.ScaleMin > 0 && c.Input.ScaleMin <= c.Input.ScaleMax && c.Input.ScaleMax <= 16) {
		return bad("input.scale_min/scale_max", "[%v, %v], want 0 < min ≤ max ≤ 16", c.Input.ScaleMin, c.Input.ScaleMax)
	}
	if c.Train.Batch < 1 {
		return bad("train.batch", "%d, want ≥ 1", c.Train.Batch)
	}
	if c.Train.Epochs < 1 && c.Train.Steps < 1 {
		return bad("train.epochs", "set train.epochs or train.steps")
	}
	if c.Train.Workers < 1 {
		return bad("train.workers", "%d, want ≥ 1", c.Train.Workers)
	}
	if c.Train.Threads < 0 {
		return bad("train.threads", "%d, want ≥ 0 (0: all cores)", c.Train.Threads)
	}
	if c.Train.Output == "" {
		return bad("train.output", "the run directory is required")
	}
	if c.Model.InputChannels != 1 && c.Model.InputChannels != 3 {
		return bad("model.input_channels", "%d, want 1 or 3", c.Model.InputChannels)
	}
	if c.Model.StemFilters < 0 || c.Model.StemFilters > spinenet.MaxStemFilters {
		return bad("model.stem_filters", "%d, want 1..%d (0: the paper's 64)", c.Model.StemFilters, spinenet.MaxStemFilters)
	}
	if !(c.Model.LabelSmoothing >= 0 && c.Model.LabelSmoothing < 1) {
		return bad("model.label_smoothing", "%v, want [0, 1)", c.Model.LabelSmoothing)
	}
	if !(c.Model.StochasticDepth >= 0 && c.Model.StochasticDepth < 1) {
		return bad("model.stochastic_depth", "%v, want [0, 1)", c.Model.StochasticDepth)
	}
	return c.validateTransfer()
}

// Path resolves a data path relative to the config file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}
