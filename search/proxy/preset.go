// Package proxy trains one search candidate on a small proxy task and
// scores it (issue 10, shared spec nas.md §1.4, §3.1, §3.2, §5): a named
// Preset fixes the data, the input size, the model's scaling and head, and
// the training schedule; Run replaces a candidate Arch's scaling fields by
// the preset's, trains the RetinaNet with a thread budget and returns the
// held-out COCO box AP with the cost (MACs, parameters, seconds).
//
// The CPU presets (unit, fast, demo) train on synthetic multi-scale shapes
// generated from a fixed seed (data.GenerateShapesWith), so every trial of
// a preset sees the same training and validation images; the trial's seed
// sets the weight initialisation and the batch order. The fmnist preset is
// fast's model on a second data source, Fashion-MNIST items pasted on
// textured canvases (data/mosaic), to check that rankings transfer. The paper preset is
// the paper's proxy (fs 0.25, α 0.25, head 64×4, 512 px, 5 epochs, COCO
// with 7,392 held-out images): a configuration for a GPU cluster that
// needs the COCO files.
package proxy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spinenet-go/spinenet/data/mosaic"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/recipe"
	"github.com/spinenet-go/spinenet/spinenet"
)

// Preset is a proxy task as data. Presets returns the named ones; a caller
// may copy one and change fields (Recipe validates the result).
type Preset struct {
	// Name is the preset's name ("fast"); Use says what it is for.
	Name string `json:"name"`
	Use  string `json:"use"`
	// Size is the square input side in pixels.
	Size int `json:"size"`

	// FilterSizeScale, ResampleAlpha, EndpointsNumFilters and BlockRepeats
	// replace the candidate Arch's scaling fields (models.Request).
	FilterSizeScale     float64 `json:"filter_size_scale"`
	ResampleAlpha       float64 `json:"resample_alpha"`
	EndpointsNumFilters int     `json:"endpoints_num_filters"`
	BlockRepeats        int     `json:"block_repeats"`
	// StemFilters is the width of the stem's 7×7 convolution
	// (spinenet.Options.StemFilters; 0: the paper's 64, which the filter
	// scale does not narrow). A proxy departure: at filter scale 1/16 the
	// paper's stem would be most of a trial's multiply-adds and the same
	// for every candidate.
	StemFilters int `json:"stem_filters"`
	// HeadFilters × HeadConvs is the RetinaNet head's towers.
	HeadFilters int `json:"head_filters"`
	HeadConvs   int `json:"head_convs"`
	// AnchorSize multiplies the level stride to give the base anchor side
	// (3 in RetinaNet; 2 at 128 px so small boxes still match at L3,
	// nas.md §3.2).
	AnchorSize float64 `json:"anchor_size"`
	// Activation is relu, swish or hard_swish.
	Activation string `json:"activation"`

	// Data is the training and validation data.
	Data Data `json:"data"`

	// Batch, Epochs and LR are the training schedule (SGD with the
	// recipe's defaults: momentum 0.9, clipping at 10, weight decay 4e-5).
	Batch  int                  `json:"batch"`
	Epochs int                  `json:"epochs"`
	LR     optim.ScheduleConfig `json:"lr"`
	// ScaleMin, ScaleMax and Flip are the training augmentation.
	ScaleMin float64 `json:"scale_min"`
	ScaleMax float64 `json:"scale_max"`
	Flip     bool    `json:"flip"`
	// PreciseBN and FreezeBN are train.Options' (batch-norm statistics
	// recalibrated over PreciseBN batches; the last FreezeBN steps trained
	// with them frozen).
	PreciseBN int `json:"precise_bn"`
	FreezeBN  int `json:"freeze_bn"`

	// Cost calibrates EstimateSeconds.
	Cost Cost `json:"cost"`
}

// Data is a preset's data: synthetic shapes, Fashion-MNIST mosaics, or
// COCO files under the directory RunOptions.DataDir names.
type Data struct {
	// Format is "synthetic", "fmnist-mosaic" or "coco".
	Format string `json:"format"`
	// Train and Val are the synthetic or mosaic set sizes.
	Train int `json:"train"`
	Val   int `json:"val"`
	// Classes is the number of shape classes (1..4); for Fashion-MNIST
	// mosaics 0 keeps the ten labels and 1 merges them into one class,
	// "item".
	Classes int `json:"classes"`
	// MinSide and MaxSide bound a shape's side in pixels, drawn
	// log-uniformly when LogUniform (data.ShapesConfig); for
	// fmnist-mosaic, an item's long side, always log-uniform.
	MinSide    float64 `json:"min_side"`
	MaxSide    float64 `json:"max_side"`
	LogUniform bool    `json:"log_uniform"`
	// Seed fixes the synthetic images (the same for every trial).
	Seed int64 `json:"seed"`
	// Items is the most Fashion-MNIST items a mosaic gets, and Tint the
	// probability that one is drawn in a random colour (fmnist-mosaic,
	// mosaic.Config's MaxItems and Tint; the IDX files are read from
	// RunOptions.DataDir, or mosaic.DefaultDir when it is empty).
	Items int     `json:"items"`
	Tint  float64 `json:"tint"`

	// TrainAnnotations and TrainImages are the COCO files, relative to
	// RunOptions.DataDir; the last ValCount images are held out as the
	// validation set.
	TrainAnnotations string `json:"train_annotations"`
	TrainImages      string `json:"train_images"`
	ValCount         int    `json:"val_count"`
}

// Cost is a preset's measured speed, from `spinenet search bench-trial`
// on the project's 2-core machine; EstimateSeconds uses it.
type Cost struct {
	// TrainMACsPerSecond is forward multiply-adds per second of wall time
	// while training (the backward pass included: forward MACs × images /
	// training seconds).
	TrainMACsPerSecond float64 `json:"train_macs_per_second"`
	// EvalMACsPerSecond is the same for evaluation (inference, post-
	// processing and COCO scoring).
	EvalMACsPerSecond float64 `json:"eval_macs_per_second"`
	// OverheadSeconds is the fixed cost of a trial: data generation, model
	// construction, batch-norm recalibration.
	OverheadSeconds float64 `json:"overhead_seconds"`
}

var presets = []Preset{
	{
		Name: "unit", Use: "tests: about a second",
		Size: 64, FilterSizeScale: 0.0625, ResampleAlpha: 0.25, EndpointsNumFilters: 16, BlockRepeats: 1, StemFilters: 16,
		HeadFilters: 16, HeadConvs: 1, AnchorSize: 2, Activation: "relu",
		Data:  Data{Format: "synthetic", Train: 200, Val: 32, Classes: 2, MinSide: 8, MaxSide: 40, LogUniform: true, Seed: 1},
		Batch: 4, Epochs: 1,
		LR:       optim.ScheduleConfig{Type: "cosine", BaseLR: 0.08, WarmupSteps: 5, WarmupInitLR: 0.008},
		ScaleMin: 1, ScaleMax: 1, PreciseBN: 4,
		Cost: Cost{TrainMACsPerSecond: 1.5e9, EvalMACsPerSecond: 1.5e9, OverheadSeconds: 0.3},
	},
	{
		Name: "fast", Use: "the CPU search proxy: about 30 s a trial on 2 cores",
		Size: 128, FilterSizeScale: 0.0625, ResampleAlpha: 0.25, EndpointsNumFilters: 32, BlockRepeats: 1, StemFilters: 16,
		HeadFilters: 32, HeadConvs: 2, AnchorSize: 2, Activation: "relu",
		// One class: the reward measures finding shapes of every size (the
		// multi-scale part the search changes), not telling them apart,
		// which a 30-second run at this width barely begins to learn
		// (docs/results/search/fast-proxy.md).
		Data:  Data{Format: "synthetic", Train: 1024, Val: 256, Classes: 1, MinSide: 10, MaxSide: 110, LogUniform: true, Seed: 1},
		Batch: 8, Epochs: 4,
		LR:       optim.ScheduleConfig{Type: "cosine", BaseLR: 0.04, WarmupSteps: 40, WarmupInitLR: 0.004},
		ScaleMin: 0.8, ScaleMax: 1.25, Flip: true, PreciseBN: 32, FreezeBN: 64,
		// bench-trial --threads 2 on the 2-core machine, the 16 noise-floor
		// trials (29.4–31.7 M MACs; load average 1.5–3 from another job):
		// median 4.8 G MAC/s training (4,352 images, 21.8–42.3 s), 1.0e10
		// evaluating 256 images (0.5–1.6 s).
		Cost: Cost{TrainMACsPerSecond: 4.8e9, EvalMACsPerSecond: 1e10, OverheadSeconds: 1},
	},
	{
		Name: "demo", Use: "promotion on CPU: fast's finalists at 256 px, wider and longer (2–4 min a trial)",
		Size: 256, FilterSizeScale: 0.125, ResampleAlpha: 0.25, EndpointsNumFilters: 32, BlockRepeats: 1, StemFilters: 16,
		HeadFilters: 32, HeadConvs: 2, AnchorSize: 3, Activation: "relu",
		Data:  Data{Format: "synthetic", Train: 2000, Val: 500, Classes: 1, MinSide: 16, MaxSide: 220, LogUniform: true, Seed: 1},
		Batch: 8, Epochs: 2,
		LR:       optim.ScheduleConfig{Type: "cosine", BaseLR: 0.04, WarmupSteps: 40, WarmupInitLR: 0.004},
		ScaleMin: 0.8, ScaleMax: 1.25, Flip: true, PreciseBN: 32, FreezeBN: 64,
		// bench-trial --threads 2 on the 2-core machine, 10 architectures
		// (150–185 M MACs; load average 0.8–4.3 from another job): 4,256
		// images trained in 94.9–224.2 s, median 3.6 G MAC/s; 500 evaluated
		// in 3.4–7.6 s, median 1.8e10; about 11 s to generate the data and
		// build the model.
		Cost: Cost{TrainMACsPerSecond: 3.6e9, EvalMACsPerSecond: 1.8e10, OverheadSeconds: 11},
	},
	{
		Name: "paper", Use: "the paper's proxy (§5.1), for a GPU cluster: needs COCO train2017",
		Size: 512, FilterSizeScale: 0.25, ResampleAlpha: 0.25, EndpointsNumFilters: 64, BlockRepeats: 1,
		HeadFilters: 64, HeadConvs: 4, AnchorSize: 3, Activation: "swish",
		Data: Data{Format: "coco", TrainAnnotations: "annotations/instances_train2017.json", TrainImages: "train2017",
			ValCount: 7392},
		Batch: 64, Epochs: 5,
		LR:       optim.ScheduleConfig{Type: "cosine", BaseLR: 0.08, WarmupSteps: 500, WarmupInitLR: 0.008},
		ScaleMin: 0.5, ScaleMax: 2, Flip: true, PreciseBN: 50,
		Cost: Cost{TrainMACsPerSecond: 1.5e9, EvalMACsPerSecond: 1.5e9, OverheadSeconds: 60},
	},
	{
		Name: "fmnist", Use: "rank transfer: fast's model and schedule on Fashion-MNIST mosaics (needs dataset-fashion-mnist)",
		Size: 128, FilterSizeScale: 0.0625, ResampleAlpha: 0.25, EndpointsNumFilters: 32, BlockRepeats: 1, StemFilters: 16,
		HeadFilters: 32, HeadConvs: 2, AnchorSize: 2, Activation: "relu",
		// One class, as fast: the reward measures finding items of every
		// size on a second kind of image (clothing on noise), not telling
		// the ten labels apart.
		Data:  Data{Format: "fmnist-mosaic", Train: 1024, Val: 256, Classes: 1, MinSide: 10, MaxSide: 110, Items: 4, Tint: 0.5, Seed: 1},
		Batch: 8, Epochs: 4,
		LR:       optim.ScheduleConfig{Type: "cosine", BaseLR: 0.04, WarmupSteps: 40, WarmupInitLR: 0.004},
		ScaleMin: 0.8, ScaleMax: 1.25, Flip: true, PreciseBN: 32, FreezeBN: 64,
		// Placeholder until timed: fast's rates, and 3 s more to read the
		// IDX files and draw the mosaics.
		Cost: Cost{TrainMACsPerSecond: 4.8e9, EvalMACsPerSecond: 1e10, OverheadSeconds: 4},
	},
}

// ErrUnknownPreset is returned (wrapped) by Named for a name that is not a
// preset.
var ErrUnknownPreset = errors.New("unknown proxy preset")

// Names lists the presets' names in order: unit, fast, demo, paper, fmnist.
func Names() []string {
	n := make([]string, len(presets))
	for i, p := range presets {
		n[i] = p.Name
	}
	return n
}

// Presets returns a copy of every named preset.
func Presets() []Preset {
	out := make([]Preset, len(presets))
	for i, p := range presets {
		out[i] = p.clone()
	}
	return out
}

// Named returns a copy of the preset called name.
func Named(name string) (Preset, error) {
	for _, p := range presets {
		if p.Name == name {
			return p.clone(), nil
		}
	}
	return Preset{}, fmt.Errorf("%w %q: want one of %s", ErrUnknownPreset, name, strings.Join(Names(), ", "))
}

func (p Preset) clone() Preset {
	p.LR.Boundaries = slices.Clone(p.LR.Boundaries)
	p.LR.Values = slices.Clone(p.LR.Values)
	return p
}

// Recipe returns the preset as a validated recipe configuration (the
// recipe package's defaults filled in) for architecture a (its scaling
// replaced by the preset's), COCO paths resolved against dataDir (which may
// be empty for a configuration that is not run) and train.output set to
// output (or "unused").
func (p Preset) Recipe(a *spinenet.Arch, dataDir, output string) (*recipe.Config, error) {
	if output == "" {
		output = "unused"
	}
	if a == nil {
		return nil, &TrialError{Reason: ReasonInvalidArch, Err: errors.New("no architecture")}
	}
	c := recipe.Config{Task: "detection"}
	c.Model = recipe.ModelConfig{Architecture: a, FilterSizeScale: p.FilterSizeScale, ResampleAlpha: p.ResampleAlpha,
		EndpointsNumFilters: p.EndpointsNumFilters, BlockRepeats: p.BlockRepeats, StemFilters: p.StemFilters, Activation: p.Activation,
		HeadFilters: p.HeadFilters, HeadConvs: p.HeadConvs, AnchorSize: p.AnchorSize}
	switch p.Data.Format {
	case "synthetic":
		c.Data = recipe.DataConfig{Format: "synthetic", SyntheticTrain: p.Data.Train, SyntheticVal: p.Data.Val,
			SyntheticClasses: p.Data.Classes, SyntheticMinSide: p.Data.MinSide, SyntheticMaxSide: p.Data.MaxSide,
			SyntheticLogUniform: p.Data.LogUniform, SyntheticSeed: p.Data.Seed}
	case "fmnist-mosaic":
		c.Data = recipe.DataConfig{Format: "fmnist-mosaic", MosaicDir: dataDir, MosaicTrain: p.Data.Train, MosaicVal: p.Data.Val,
			MosaicMinSide: p.Data.MinSide, MosaicMaxSide: p.Data.MaxSide, MosaicItems: p.Data.Items, MosaicTint: p.Data.Tint,
			MosaicSeed: p.Data.Seed}
		switch p.Data.Classes {
		case 0:
		case 1:
			c.Data.MosaicMerge = slices.Repeat([]string{"item"}, len(mosaic.FashionClasses))
		default:
			return nil, fmt.Errorf("proxy: preset %q: data.Classes %d for Fashion-MNIST mosaics, want 0 (the ten labels) or 1 (one class)", p.Name, p.Data.Classes)
		}
	case "coco":
		c.Data = recipe.DataConfig{Format: "coco", TrainAnnotations: p.Data.TrainAnnotations, TrainImages: p.Data.TrainImages,
			ValCount: p.Data.ValCount}
	default:
		return nil, fmt.Errorf("proxy: preset %q: data format %q, want synthetic, fmnist-mosaic or coco", p.Name, p.Data.Format)
	}
	c.Input = recipe.InputConfig{Size: p.Size, ScaleMin: p.ScaleMin, ScaleMax: p.ScaleMax, Flip: p.Flip}
	c.Train = recipe.TrainConfig{Batch: p.Batch, Epochs: p.Epochs, LR: p.LR, PreciseBN: p.PreciseBN, FreezeBN: p.FreezeBN,
		Output: output}
	c.Dir = dataDir
	if err := c.Fill(); err != nil {
		return nil, fmt.Errorf("proxy: preset %q: %w", p.Name, err)
	}
	return &c, nil
}
