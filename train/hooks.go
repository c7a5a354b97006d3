package train

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Outputs describe the usual run directory: checkpoint.safetensors,
// model.safetensors, metrics.jsonl and curves.png, with a progress bar.
type Outputs struct {
	Dir string
	// CheckpointEvery writes a checkpoint every this many steps (0: only
	// at the end or on interruption).
	CheckpointEvery int
	// EvalEvery evaluates every this many steps (0: only at the end).
	EvalEvery int
	// Title labels the plot.
	Title string
	// Progress receives the progress bar (nil: none).
	Progress io.Writer
}

// Hooks returns the hooks that write o, in the order they must run: the
// evaluation comes before the metrics log (which records it and is closed
// at End), the checkpoint, the weights (which keep its recalibrated
// batch-norm statistics) and the plot.
func (o Outputs) Hooks() []Hook {
	var hooks []Hook
	if o.Progress != nil {
		hooks = append(hooks, ProgressBar(o.Progress))
	}
	metrics := filepath.Join(o.Dir, MetricsFile)
	return append(hooks,
		Evaluation(o.EvalEvery),
		WriteMetrics(metrics),
		Checkpoints(filepath.Join(o.Dir, CheckpointFile), o.CheckpointEvery),
		SaveWeights(filepath.Join(o.Dir, WeightsFile)),
		PlotCurves(filepath.Join(o.Dir, PlotFile), metrics, o.Title),
	)
}

// mkdirFor creates the directory of path.
func mkdirFor(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("train: output directory: %w", err)
	}
	return nil
}

// finished reports whether a run ended by completing or by interruption
// (the two ends after which the state is worth writing).
func finished(l *Loop, cause error) bool { return cause == nil || l.Interrupted() }

// Evaluation evaluates (Loop.Evaluate) every every steps (0: never during
// the run; not at the last step, nor once the context is done) and at the
// end of a completed run. An evaluation that the context stops interrupts
// the run at that step (the checkpoint is written as for any interruption);
// a resumed run goes on from the next step and does not redo it.
func Evaluation(every int) Hook {
	return Hook{
		AfterStep: func(l *Loop, _ StepResult) error {
			if every > 0 && l.Step()%every == 0 && l.Step() < l.Steps() && l.Context().Err() == nil {
				_, err := l.Evaluate()
				return err
			}
			return nil
		},
		End: func(l *Loop, cause error) error {
			if cause != nil {
				return nil
			}
			_, err := l.Evaluate()
			return err
		},
	}
}

// Checkpoints writes the run's checkpoint to path (atomically) every every
// steps (0: never during the run), after the last step (before any final
// evaluation touches the batch-norm statistics or the random generator, so
// a longer run can continue from it exactly), and at the step reached when
// the run is interrupted. A run resumed with no steps left writes its state
// at Begin. A failed run leaves the last checkpoint intact.
func Checkpoints(path string, every int) Hook {
	return Hook{
		Begin: func(l *Loop) error {
			if err := mkdirFor(path); err != nil {
				return err
			}
			if l.Step() >= l.Steps() {
				return l.SaveCheckpoint(path)
			}
			return nil
		},
		AfterStep: func(l *Loop, _ StepResult) error {
			if l.Step() == l.Steps() || every > 0 && l.Step()%every == 0 {
				return l.SaveCheckpoint(path)
			}
			return nil
		},
		End: func(l *Loop, _ error) error {
			if !l.Interrupted() {
				return nil
			}
			if err := l.SaveCheckpoint(path); err != nil {
				return err
			}
			l.Logf("step %d: interrupted; checkpoint written to %s", l.Step(), path)
			return nil
		},
	}
}

// SaveWeights writes the final weights (with the task's metadata) to path
// at the end of a completed run, after Loop.PreciseBN.
func SaveWeights(path string) Hook {
	return Hook{
		Begin: func(*Loop) error { return mkdirFor(path) },
		End: func(l *Loop, cause error) error {
			if cause != nil {
				return nil
			}
			if err := l.PreciseBN(); err != nil {
				return err
			}
			return l.Graph().SaveWeights(path, l.Metadata())
		},
	}
}

// WriteMetrics logs how the weights started (kind "init", when the run
// starts from a weights file or freezes tensors: Loop.Init), every window
// (kind "train": the mean loss and loss parts, learning rate, images per
// second) and every evaluation (kind "eval": every metric) to the
// JSON-lines file at path. A resumed run keeps
// the records up to its checkpoint's step. List it after Evaluation: it is
// closed at End.
func WriteMetrics(path string) Hook {
	var m *MetricsLog
	return Hook{
		Begin: func(l *Loop) error {
			if err := mkdirFor(path); err != nil {
				return err
			}
			var err error
			if m, err = OpenMetricsLog(path, l.Step()); err != nil {
				return err
			}
			if ir := l.Init(); ir != nil && l.Step() == 0 {
				return m.Add(Record{Kind: "init", Init: ir})
			}
			return nil
		},
		Window: func(l *Loop, w Window) error {
			vals := make(map[string]float64, len(w.Parts)+1)
			vals["loss"] = w.Loss
			for _, p := range w.Parts {
				vals[p.Name] = p.Value
			}
			return m.Add(Record{Kind: "train", Step: w.Step, Epoch: w.Epoch, LR: w.LR, Images: w.ImagesPerSecond, Seconds: w.Elapsed.Seconds(), Values: vals})
		},
		Evaluated: func(l *Loop, ev Metrics) error {
			if m.f == nil {
				return fmt.Errorf("train: metrics log %s: an evaluation after it was closed (list Evaluation before WriteMetrics)", path)
			}
			return m.Add(Record{Kind: "eval", Step: l.Step(), Epoch: l.Epoch(), Seconds: l.Elapsed().Seconds(), Values: ev.Map()})
		},
		End: func(*Loop, error) error {
			err := m.Close()
			m.f = nil
			return err
		},
	}
}

// PlotCurves draws the records of the metrics log at metricsPath (written
// by a WriteMetrics hook listed before it) into a PNG at path: after every
// evaluation, with the primary metrics of the latest one, and at the end
// of a completed or interrupted run if anything was logged since.
func PlotCurves(path, metricsPath, title string) Hook {
	var keys []string
	dirty, plotted := false, false
	plot := func() error {
		recs, err := ReadRecords(metricsPath)
		if err != nil {
			return err
		}
		dirty, plotted = false, true
		return PlotRecords(recs, path, title, "loss", keys)
	}
	return Hook{
		Begin:  func(*Loop) error { return mkdirFor(path) },
		Window: func(*Loop, Window) error { dirty = true; return nil },
		Evaluated: func(_ *Loop, ev Metrics) error {
			keys = ev.Primary()
			return plot()
		},
		End: func(l *Loop, cause error) error {
			if finished(l, cause) && (dirty || !plotted) {
				return plot()
			}
			return nil
		},
	}
}

// ProgressBar draws a progress bar on w, described with the latest
// window's loss, learning rate and throughput. Log lines clear it first.
func ProgressBar(w io.Writer) Hook {
	var bar *progressbar.ProgressBar
	return Hook{
		Begin: func(l *Loop) error {
			bar = progressbar.NewOptions(l.Steps(),
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription("training"),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionSetWidth(24),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
			)
			bar.Set(l.Step())
			l.clearLine = append(l.clearLine, func() { bar.Clear() })
			return nil
		},
		Window: func(_ *Loop, win Window) error {
			bar.Describe(fmt.Sprintf("loss %.4f  lr %.4g  %.1f img/s", win.Loss, win.LR, win.ImagesPerSecond))
			return nil
		},
		AfterStep: func(l *Loop, _ StepResult) error {
			bar.Set(l.Step())
			return nil
		},
		End: func(_ *Loop, cause error) error {
			if cause == nil {
				return bar.Finish()
			}
			return bar.Exit()
		},
	}
}
