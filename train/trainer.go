// Package train runs training loops for every task in this module: SGD with
// a learning-rate schedule, atomic checkpoints that resume exactly, a
// progress bar, a JSON-lines metrics log with a PNG plot of the loss and
// evaluation curves, and a stop with a message naming the step when the
// loss or a gradient is not finite.
//
// A task (detection, classification) supplies the model graph, its data and
// its loss through the Task interface; Run owns everything else.
package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/optim"
)

// Batches iterates over the training batches of one epoch.
type Batches interface {
	// Next returns the next batch, or ok = false at the end of the epoch.
	Next() (batch any, ok bool, err error)
	Close() error
}

// Task is what Run needs from a training task.
type Task interface {
	// Graph is the model being trained.
	Graph() *nn.Graph
	// StepsPerEpoch is the number of batches in one epoch.
	StepsPerEpoch() int
	// Epoch returns the batches of an epoch, skipping the first skip (when
	// resuming mid-epoch). The order must depend only on the epoch (and the
	// task's seed), so a resumed run sees the same batches.
	Epoch(epoch, skip int) (Batches, error)
	// Loss builds the loss of a batch on the tape. It returns the scalar to
	// minimise, named parts to log (e.g. "class", "box") and the number of
	// images in the batch.
	Loss(t *autograd.Tape, batch any) (loss *autograd.Var, parts map[string]float64, images int, err error)
	// Evaluate measures the current model on held-out data; the keys of
	// EvalKeys are plotted, the first one is the headline metric.
	Evaluate() (map[string]float64, error)
	EvalKeys() []string
	// Metadata describes the model for the weights file written at the end.
	Metadata() (map[string]string, error)
}

// Options configure a run.
type Options struct {
	// OutDir receives checkpoint.safetensors, model.safetensors,
	// metrics.jsonl and curves.png.
	OutDir string
	// Steps is the total number of optimizer steps.
	Steps    int
	Schedule optim.Schedule
	SGD      optim.SGDConfig
	// Seed seeds the tape's stochastic-depth/dropout generator.
	Seed uint64
	// EvalEvery evaluates every this many steps (0: only at the end).
	EvalEvery int
	// CheckpointEvery writes a checkpoint every this many steps (0: only at
	// the end).
	CheckpointEvery int
	// LogEvery writes a training record every this many steps (default 10).
	LogEvery int
	// Resume continues from OutDir/checkpoint.safetensors.
	Resume bool
	// Progress receives the progress bar (nil: none). Log receives one-line
	// messages (evaluations, checkpoints).
	Progress io.Writer
	Log      io.Writer
	// PreciseBN, when positive, recomputes the batch-norm statistics over
	// this many training batches before every evaluation and before the
	// final weights are saved (see RecalibrateBN).
	PreciseBN int
	// FreezeBN, when positive, recalibrates the batch-norm statistics (over
	// PreciseBN batches, or 50) when FreezeBN steps remain and trains those
	// last steps with the statistics frozen (Keras trainable=False
	// semantics), so the final model is trained with exactly the statistics
	// it is evaluated with. Small batches on small inputs need it: the
	// coarsest levels have only a few positions per image, and a model
	// trained on batch statistics there does not transfer to the moving ones.
	FreezeBN int
	// Title labels the plot.
	Title string
	// Config is the run's configuration, stored in checkpoints.
	Config any
}

// Summary is the outcome of a run.
type Summary struct {
	Steps     int
	Elapsed   time.Duration
	ImagesPS  float64            // training images per second (median over log windows)
	FinalLoss float64            // mean loss of the last log window
	Eval      map[string]float64 // the last evaluation
	OutDir    string
}

// Paths inside OutDir.
const (
	CheckpointFile = "checkpoint.safetensors"
	WeightsFile    = "model.safetensors"
	MetricsFile    = "metrics.jsonl"
	PlotFile       = "curves.png"
)

// NonFiniteError reports a NaN or Inf that stopped training.
type NonFiniteError struct {
	Step  int
	What  string // "loss" or "gradient of <param>"
	Value float64
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("train: step %d: %s is %v; stopping (the last checkpoint is intact). Lower the learning rate, enable gradient clipping, or check the data", e.Step, e.What, e.Value)
}

// Run trains task as configured and returns a summary. It writes the final
// checkpoint, the weights, the metrics log and the plot before returning.
func Run(task Task, opt Options) (*Summary, error) {
	if opt.Steps < 1 || opt.Schedule == nil || opt.OutDir == "" {
		return nil, errors.New("train: Options need Steps ≥ 1, a Schedule and an OutDir")
	}
	if opt.LogEvery < 1 {
		opt.LogEvery = 10
	}
	if opt.FreezeBN < 0 || opt.FreezeBN >= opt.Steps {
		return nil, fmt.Errorf("train: FreezeBN %d must be in [0, Steps=%d)", opt.FreezeBN, opt.Steps)
	}
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, format+"\n", args...)
		}
	}
	g := task.Graph()
	sgd, err := optim.NewSGD(g.Params(), opt.SGD)
	if err != nil {
		return nil, err
	}
	tape := autograd.NewTape(opt.Seed)
	cfgJSON, err := json.Marshal(opt.Config)
	if err != nil {
		return nil, fmt.Errorf("train: config: %w", err)
	}
	st := State{Config: cfgJSON}
	ckPath := filepath.Join(opt.OutDir, CheckpointFile)
	if opt.Resume {
		ck, err := LoadCheckpoint(ckPath)
		if err != nil {
			return nil, fmt.Errorf("train: resume: %w", err)
		}
		if err := g.LoadStateDict(ck.Model, ckPath); err != nil {
			return nil, err
		}
		if err := sgd.LoadState(ck.Optim); err != nil {
			return nil, fmt.Errorf("train: resume %s: %w", ckPath, err)
		}
		if err := tape.SetRandState(ck.TapeRand); err != nil {
			return nil, fmt.Errorf("train: resume %s: %w", ckPath, err)
		}
		st.Step, st.Epoch, st.Batch = ck.State.Step, ck.State.Epoch, ck.State.Batch
		logf("resumed from %s at step %d (epoch %d, batch %d)", ckPath, st.Step, st.Epoch, st.Batch)
	}
	meta, err := task.Metadata()
	if err != nil {
		return nil, err
	}
	metrics, err := OpenMetricsLog(filepath.Join(opt.OutDir, MetricsFile), st.Step)
	if err != nil {
		return nil, err
	}
	defer metrics.Close()

	var bar *progressbar.ProgressBar
	if opt.Progress != nil {
		bar = progressbar.NewOptions(opt.Steps,
			progressbar.OptionSetWriter(opt.Progress),
			progressbar.OptionSetDescription("training"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetWidth(24),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opt.Progress) }),
		)
		bar.Set(st.Step)
	}
	saveCheckpoint := func() error {
		rs, err := tape.RandState()
		if err != nil {
			return err
		}
		return SaveCheckpoint(ckPath, g, sgd.State(), st, rs, meta)
	}
	sum := &Summary{OutDir: opt.OutDir}
	frozen := false
	freeze := func() error {
		n := opt.PreciseBN
		if n <= 0 {
			n = 50
		}
		if _, err := RecalibrateBN(task, tape, st.Epoch, n); err != nil {
			return fmt.Errorf("train: batch-norm recalibration at step %d: %w", st.Step, err)
		}
		setFrozen(g, true)
		frozen = true
		logf("step %d: batch-norm statistics recalibrated and frozen for the last %d steps", st.Step, opt.Steps-st.Step)
		return nil
	}
	if opt.FreezeBN > 0 && st.Step >= opt.Steps-opt.FreezeBN && st.Step < opt.Steps {
		setFrozen(g, true) // resumed inside the frozen phase: the checkpoint holds the frozen statistics
		frozen = true
	}
	defer setFrozen(g, false)
	start := time.Now()
	evaluate := func() error {
		t0 := time.Now()
		if opt.PreciseBN > 0 && !frozen {
			if _, err := RecalibrateBN(task, tape, st.Epoch, opt.PreciseBN); err != nil {
				return fmt.Errorf("train: batch-norm recalibration at step %d: %w", st.Step, err)
			}
		}
		ev, err := task.Evaluate()
		if err != nil {
			return fmt.Errorf("train: evaluation at step %d: %w", st.Step, err)
		}
		sum.Eval = ev
		if err := metrics.Add(Record{Kind: "eval", Step: st.Step, Epoch: epochOf(st, task), Seconds: time.Since(start).Seconds(), Values: ev}); err != nil {
			return err
		}
		var parts []string
		for _, k := range task.EvalKeys() {
			parts = append(parts, fmt.Sprintf("%s %.4f", k, ev[k]))
		}
		if bar != nil {
			bar.Clear()
		}
		logf("step %d: eval %v (%.1f s)", st.Step, parts, time.Since(t0).Seconds())
		return nil
	}

	var window struct {
		loss   float64
		parts  map[string]float64
		images int
		steps  int
		start  time.Time
	}
	window.parts, window.start = map[string]float64{}, time.Now()
	var rates []float64
	for st.Step < opt.Steps {
		it, err := task.Epoch(st.Epoch, st.Batch)
		if err != nil {
			return nil, err
		}
		exhausted := false
		for st.Step < opt.Steps {
			if opt.FreezeBN > 0 && !frozen && st.Step == opt.Steps-opt.FreezeBN {
				if err := freeze(); err != nil {
					it.Close()
					return nil, err
				}
			}
			b, ok, err := it.Next()
			if err != nil {
				it.Close()
				return nil, err
			}
			if !ok {
				exhausted = true
				break
			}
			loss, parts, images, err := task.Loss(tape, b)
			if err != nil {
				it.Close()
				return nil, fmt.Errorf("train: step %d: %w", st.Step, err)
			}
			l := float64(loss.Value.Data()[0])
			if math.IsNaN(l) || math.IsInf(l, 0) {
				it.Close()
				return nil, &NonFiniteError{Step: st.Step, What: "loss", Value: l}
			}
			if err := tape.Backward(loss); err != nil {
				it.Close()
				return nil, err
			}
			lr := opt.Schedule.LR(st.Step)
			if _, err := sgd.Step(lr); err != nil {
				it.Close()
				var nf *optim.NonFiniteError
				if errors.As(err, &nf) {
					return nil, &NonFiniteError{Step: st.Step, What: "gradient of " + nf.Param, Value: math.NaN()}
				}
				return nil, fmt.Errorf("train: step %d: %w", st.Step, err)
			}
			tape.Reset()
			st.Step++
			st.Batch++
			window.loss += l
			for k, v := range parts {
				window.parts[k] += v
			}
			window.images += images
			window.steps++
			if st.Step%opt.LogEvery == 0 || st.Step == opt.Steps {
				secs := time.Since(window.start).Seconds()
				rate := float64(window.images) / secs
				rates = append(rates, rate)
				vals := map[string]float64{"loss": window.loss / float64(window.steps)}
				for k, v := range window.parts {
					vals[k] = v / float64(window.steps)
				}
				sum.FinalLoss = vals["loss"]
				if err := metrics.Add(Record{Kind: "train", Step: st.Step, Epoch: epochOf(st, task), LR: lr, Images: rate, Seconds: time.Since(start).Seconds(), Values: vals}); err != nil {
					it.Close()
					return nil, err
				}
				if bar != nil {
					bar.Describe(fmt.Sprintf("loss %.4f  lr %.4g  %.1f img/s", vals["loss"], lr, rate))
				}
				window.loss, window.images, window.steps, window.start = 0, 0, 0, time.Now()
				clear(window.parts)
			}
			if bar != nil {
				bar.Set(st.Step)
			}
			if opt.CheckpointEvery > 0 && st.Step%opt.CheckpointEvery == 0 && st.Step < opt.Steps {
				if err := saveCheckpoint(); err != nil {
					it.Close()
					return nil, err
				}
			}
			if opt.EvalEvery > 0 && st.Step%opt.EvalEvery == 0 && st.Step < opt.Steps {
				if err := evaluate(); err != nil {
					it.Close()
					return nil, err
				}
				if err := metrics.Plot(filepath.Join(opt.OutDir, PlotFile), opt.Title, "loss", task.EvalKeys()); err != nil {
					it.Close()
					return nil, err
				}
			}
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
		if exhausted || st.Batch >= task.StepsPerEpoch() {
			st.Epoch++
			st.Batch = 0
		}
	}
	if bar != nil {
		bar.Finish()
	}
	if err := saveCheckpoint(); err != nil {
		return nil, err
	}
	// Evaluate first: with PreciseBN it recalibrates the statistics that the
	// weights file then keeps.
	if err := evaluate(); err != nil {
		return nil, err
	}
	if err := g.SaveWeights(filepath.Join(opt.OutDir, WeightsFile), meta); err != nil {
		return nil, err
	}
	if err := metrics.Plot(filepath.Join(opt.OutDir, PlotFile), opt.Title, "loss", task.EvalKeys()); err != nil {
		return nil, err
	}
	sum.Steps, sum.Elapsed = st.Step, time.Since(start)
	if len(rates) > 0 {
		sort.Float64s(rates)
		sum.ImagesPS = rates[len(rates)/2]
	}
	return sum, nil
}

// setFrozen freezes or unfreezes every batch norm of g.
func setFrozen(g *nn.Graph, frozen bool) {
	for _, s := range g.BatchNormStats() {
		s.Stats.Frozen = frozen
	}
}

func epochOf(st State, task Task) float64 {
	return float64(st.Epoch) + float64(st.Batch)/float64(max(task.StepsPerEpoch(), 1))
}
