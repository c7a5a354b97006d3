package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spinenet-go/spinenet/data/mosaic"
	"github.com/spinenet-go/spinenet/models"
	"github.com/spinenet-go/spinenet/recipe"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/train"
)

// RunOptions are the settings of one trial that are not the preset's.
type RunOptions struct {
	// Seed seeds the weight initialisation, the batch order and the
	// augmentation (0: 1). The data of a synthetic preset does not depend
	// on it (Data.Seed fixes it).
	Seed uint64
	// Threads is the trial's thread budget (0: all cores); the result does
	// not depend on it.
	Threads int
	// Dir, when set, receives the run directory's files (train.Outputs:
	// checkpoint, weights, metrics log, plot); empty: the trial writes
	// nothing.
	Dir string
	// DataDir is the directory the COCO paths of a coco preset are
	// relative to (the paper preset needs it), or the directory holding
	// Fashion-MNIST's IDX files for an fmnist-mosaic preset (empty:
	// mosaic.DefaultDir).
	DataDir string
}

// Result is what one trial measured.
type Result struct {
	// AP, AP50, APs, APm and APl are the COCO box metrics on the held-out
	// set (cocoeval), in [0, 1].
	AP   float64 `json:"ap"`
	AP50 float64 `json:"ap50"`
	APs  float64 `json:"aps"`
	APm  float64 `json:"apm"`
	APl  float64 `json:"apl"`
	// MACs is the forward multiply-adds per image at the preset's input
	// size and Params the trainable parameters, counted on a shape-only
	// build of the same model.
	MACs   int64 `json:"macs"`
	Params int   `json:"params"`
	// TrainSeconds is the training time, batch-norm recalibration
	// included; EvalSeconds the evaluation's.
	TrainSeconds float64 `json:"train_seconds"`
	EvalSeconds  float64 `json:"eval_seconds"`
	// Steps is the optimizer steps run, ImagesPerSecond the median
	// training rate, FinalLoss the mean loss of the last log window.
	Steps           int     `json:"steps"`
	ImagesPerSecond float64 `json:"images_per_second"`
	FinalLoss       float64 `json:"final_loss"`
}

// Reasons of a TrialError.
const (
	// ReasonInvalidArch: the architecture does not validate or build.
	ReasonInvalidArch = "invalid-arch"
	// ReasonNonFinite: a loss or gradient became NaN or Inf.
	ReasonNonFinite = "non-finite"
	// ReasonTimeout: the context's deadline passed during the trial.
	ReasonTimeout = "timeout"
)

// TrialError reports a trial that failed because of its candidate (or ran
// out of time), which a search records as a failed trial rather than
// stopping: Reason is one of the Reason constants. Other errors (a bad
// preset, missing data, cancellation) are returned as they are.
type TrialError struct {
	Reason string
	Err    error
}

// Error formats the error as "proxy: trial failed (<reason>): <err>".
func (e *TrialError) Error() string {
	return fmt.Sprintf("proxy: trial failed (%s): %v", e.Reason, e.Err)
}

// Unwrap returns the underlying error.
func (e *TrialError) Unwrap() error { return e.Err }

// ErrNeedsData is returned (wrapped) for a coco preset run without
// RunOptions.DataDir or with its files missing.
var ErrNeedsData = errors.New("the preset needs data files")

// trialConfig is what a trial's checkpoint records as its configuration.
type trialConfig struct {
	Preset Preset         `json:"preset"`
	Arch   *spinenet.Arch `json:"arch"`
	Seed   uint64         `json:"seed"`
}

// Describe resolves the trial's model: a with the preset's scaling, head,
// anchors and activation (models.Resolve on a copy of a). An invalid
// architecture is a *TrialError with ReasonInvalidArch.
func (p Preset) Describe(a *spinenet.Arch, seed uint64) (*models.Description, error) {
	if a == nil {
		return nil, &TrialError{Reason: ReasonInvalidArch, Err: errors.New("no architecture")}
	}
	d, err := models.Resolve(models.Request{Arch: a,
		FilterSizeScale: p.FilterSizeScale, ResampleAlpha: p.ResampleAlpha, EndpointsNumFilters: p.EndpointsNumFilters,
		BlockRepeats: p.BlockRepeats, StemFilters: p.StemFilters, Activation: p.Activation, Seed: seed,
		HeadFilters: p.HeadFilters, HeadConvs: p.HeadConvs, AnchorSize: p.AnchorSize})
	if err != nil {
		return nil, &TrialError{Reason: ReasonInvalidArch, Err: err}
	}
	return d, nil
}

// classes is the number of classes the preset's model predicts.
func (p Preset) classes() int {
	switch p.Data.Format {
	case "synthetic":
		return p.Data.Classes
	case "fmnist-mosaic":
		if p.Data.Classes == 1 {
			return 1
		}
		return len(mosaic.FashionClasses)
	}
	return 80
}

// CountCost counts the trial model's forward multiply-adds per image and its
// trainable parameters on a shape-only build (nothing allocated for the
// weights). An invalid architecture is a *TrialError.
func (p Preset) CountCost(a *spinenet.Arch) (macs int64, params int, err error) {
	d, err := p.Describe(a, 1)
	if err != nil {
		return 0, 0, err
	}
	return countCost(d, p.classes(), p.Size)
}

func countCost(d *models.Description, classes, size int) (int64, int, error) {
	shape := *d
	shape.Options.ShapeOnly = true
	m, err := shape.NewRetinaNet(classes)
	if err != nil {
		return 0, 0, &TrialError{Reason: ReasonInvalidArch, Err: err}
	}
	acc, err := m.Graph().Account(size, size)
	if err != nil {
		return 0, 0, &TrialError{Reason: ReasonInvalidArch, Err: err}
	}
	return acc.MACs, acc.TrainableParams, nil
}

// Run trains the candidate a on preset p and evaluates it on the preset's
// held-out set. The result depends only on (p, a, opt.Seed), not on the
// thread budget. A candidate that cannot be built, a non-finite loss and a
// passed deadline are *TrialErrors; cancelling ctx stops the trial between
// steps with ctx's error.
func Run(ctx context.Context, p Preset, a *spinenet.Arch, opt RunOptions) (Result, error) {
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	if opt.Threads < 0 {
		return Result{}, fmt.Errorf("proxy: RunOptions.Threads %d, want ≥ 0 (0: all cores)", opt.Threads)
	}
	c, err := p.Recipe(a, opt.DataDir, opt.Dir)
	if err != nil {
		return Result{}, err
	}
	c.Train.Seed, c.Train.Threads = opt.Seed, opt.Threads
	desc, err := p.Describe(a, opt.Seed)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if res.MACs, res.Params, err = countCost(desc, p.classes(), p.Size); err != nil {
		return Result{}, err
	}
	t, err := newTask(p, c, opt)
	if err != nil {
		return Result{}, err
	}
	ropt, outHooks, err := c.RunOptions(t.StepsPerEpoch(), fmt.Sprintf("%s on proxy %s", desc.Name(), p.Name), false, nil, nil)
	if err != nil {
		return Result{}, err
	}
	ropt.Config = trialConfig{Preset: p, Arch: desc.Arch, Seed: opt.Seed}
	var trainDone time.Duration
	timer := train.Hook{End: func(l *train.Loop, cause error) error {
		if cause != nil {
			return nil
		}
		err := l.PreciseBN() // the final recalibration counts as training
		trainDone = l.Elapsed()
		return err
	}}
	hooks := []train.Hook{timer, train.Evaluation(0)}
	if opt.Dir != "" {
		hooks = append([]train.Hook{timer}, outHooks...) // their Evaluation(0) evaluates at the end
	}
	sum, err := train.Run(ctx, t, ropt, hooks...)
	if err != nil {
		var nf *train.NonFiniteError
		switch {
		case errors.As(err, &nf):
			return Result{}, &TrialError{Reason: ReasonNonFinite, Err: err}
		case errors.Is(err, context.DeadlineExceeded):
			return Result{}, &TrialError{Reason: ReasonTimeout, Err: err}
		}
		return Result{}, err
	}
	if sum.Eval == nil {
		return Result{}, errors.New("proxy: the run ended without an evaluation")
	}
	res.AP, _ = sum.Eval.Value("AP")
	res.AP50, _ = sum.Eval.Value("AP50")
	res.APs, _ = sum.Eval.Value("APs")
	res.APm, _ = sum.Eval.Value("APm")
	res.APl, _ = sum.Eval.Value("APl")
	res.TrainSeconds = trainDone.Seconds()
	res.EvalSeconds = (sum.Elapsed - trainDone).Seconds()
	res.Steps, res.ImagesPerSecond, res.FinalLoss = sum.Steps, sum.ImagesPS, sum.FinalLoss
	return res, nil
}

// newTask builds the recipe's detection task for the trial; the paper
// preset first checks that its COCO files are there.
func newTask(p Preset, c *recipe.Config, opt RunOptions) (*recipe.DetectionTask, error) {
	if p.Data.Format == "coco" {
		if opt.DataDir == "" {
			return nil, fmt.Errorf("proxy: preset %q trains on COCO: %w: set RunOptions.DataDir (--data) to a directory holding %s and %s/",
				p.Name, ErrNeedsData, p.Data.TrainAnnotations, p.Data.TrainImages)
		}
		for _, f := range []string{p.Data.TrainAnnotations, p.Data.TrainImages} {
			if _, err := os.Stat(filepath.Join(opt.DataDir, f)); err != nil {
				return nil, fmt.Errorf("proxy: preset %q: %w: %v", p.Name, ErrNeedsData, err)
			}
		}
	}
	return recipe.NewDetectionTask(c)
}

// EstimateSeconds estimates a trial's wall time on the project's 2-core
// machine from the model's forward MACs per image (Result.MACs or
// CountCost): training images × MACs at the preset's measured training
// rate, plus validation images × MACs at its evaluation rate, plus a fixed
// overhead. It is an estimate, calibrated from `spinenet search
// bench-trial` runs (Preset.Cost), meant for per-trial timeouts with a
// generous margin, not a measurement.
func EstimateSeconds(p Preset, macs int64) float64 {
	nTrain, nVal := p.Data.Train, p.Data.Val
	if p.Data.Format == "coco" {
		nTrain, nVal = 110895, p.Data.ValCount
	}
	imgs := float64(p.Epochs*(nTrain/p.Batch)*p.Batch + p.PreciseBN*p.Batch)
	s := p.Cost.OverheadSeconds
	if p.Cost.TrainMACsPerSecond > 0 {
		s += imgs * float64(macs) / p.Cost.TrainMACsPerSecond
	}
	if p.Cost.EvalMACsPerSecond > 0 {
		s += float64(nVal) * float64(macs) / p.Cost.EvalMACsPerSecond
	}
	return s
}
