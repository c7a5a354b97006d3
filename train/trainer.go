// Package train runs training loops for every task in this module. The loop
// (Run) is next batch → Step → hooks, with SGD on a learning-rate schedule,
// exact resume from a checkpoint, optional batch-norm recalibration and
// freezing, a stop naming the step when the loss or a gradient is not
// finite, and cancellation through a context between steps.
//
// Everything a run writes comes from hooks, each optional: atomic
// checkpoints (Checkpoints), evaluation (Evaluation), the final weights
// (SaveWeights), a JSON-lines metrics log (WriteMetrics), a PNG plot of the
// loss and evaluation curves (PlotCurves) and a progress bar (ProgressBar).
// Outputs assembles the usual set for a run directory; a run with no hooks
// writes nothing to disk.
//
// A task (detection, classification) supplies the model graph, its data and
// its loss through the Task interface; Stepper is the training step that
// Run, RecalibrateBN and the training benchmark share.
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/tensor"
)

// Options configure the training itself; the outputs are hooks.
type Options struct {
	// Steps is the total number of optimizer steps.
	Steps    int
	Schedule optim.Schedule
	SGD      optim.SGDConfig
	// Seed seeds the tape's stochastic-depth/dropout generator.
	Seed uint64
	// Threads is the run's thread budget: the training steps, batch-norm
	// recalibration and evaluation run their kernels on a device of this
	// many threads, with worker threads of its own (0: all cores, on
	// tensor.DefaultCPU()). Runs side by side in one process, each with
	// its own budget, do not share worker threads; the weights a run
	// computes do not depend on its budget.
	Threads int
	// LogEvery closes a logging window (Hook.Window) every this many
	// steps and at the last step (default 10).
	LogEvery int
	// Resume, when set, is the checkpoint to continue from.
	Resume string
	// Log receives one-line messages (resume, evaluations, batch-norm
	// freezing, interruption); nil: none.
	Log io.Writer
	// PreciseBN, when positive, recomputes the batch-norm statistics over
	// this many training batches before every evaluation and before the
	// final weights are saved (see RecalibrateBN and Loop.PreciseBN).
	PreciseBN int
	// FreezeBN, when positive, recalibrates the batch-norm statistics (over
	// PreciseBN batches, or 50) when FreezeBN steps remain and trains those
	// last steps with the statistics frozen (Keras trainable=False
	// semantics), so the final model is trained with exactly the statistics
	// it is evaluated with. Small batches on small inputs need it: the
	// coarsest levels have only a few positions per image, and a model
	// trained on batch statistics there does not transfer to the moving ones.
	FreezeBN int
	// Freeze, when set, picks the tensors (state-dict names, nn.Graph
	// StateDict) the run does not train, for fine-tuning: a frozen
	// parameter is neither updated nor decayed, and a batch norm whose
	// moving statistics are frozen normalises with them in training too
	// and never changes them (detectron2's FrozenBatchNorm), through
	// recalibrations included. A frozen part therefore computes the
	// function it was loaded with.
	Freeze func(name string) bool
	// Init, when set, reports how the weights were initialised from a
	// file before the run (nn.Graph.InitFrom); a run that starts at step 0
	// logs it and records it in the metrics log with the frozen tensors.
	Init *nn.InitReport
	// Config is the run's configuration, stored in checkpoints.
	Config any
}

// InitRecord is how a run's weights started: the transfer-learning report
// (nil when the weights were freshly initialised) and the tensors
// Options.Freeze keeps fixed, sorted.
type InitRecord struct {
	*nn.InitReport
	Frozen []string `json:"frozen,omitempty"`
}

// Summary is the outcome of a run.
type Summary struct {
	Steps     int
	Elapsed   time.Duration
	ImagesPS  float64 // training images per second (median over log windows)
	FinalLoss float64 // mean loss of the last log window
	Eval      Metrics // the last evaluation (nil: none)
}

// Files of a run directory (Outputs).
const (
	CheckpointFile = "checkpoint.safetensors"
	WeightsFile    = "model.safetensors"
	MetricsFile    = "metrics.jsonl"
	PlotFile       = "curves.png"
)

// InterruptedError reports a run stopped by its context between steps. It
// unwraps to the context's error, so errors.Is(err, context.Canceled)
// holds after a cancel.
type InterruptedError struct {
	Step, Steps int // steps done, steps asked for
	Err         error
}

// Error names the step reached and the context's error.
func (e *InterruptedError) Error() string {
	return fmt.Sprintf("train: interrupted at step %d of %d: %v", e.Step, e.Steps, e.Err)
}

// Unwrap returns the context's error.
func (e *InterruptedError) Unwrap() error { return e.Err }

// EvalError reports an evaluation that failed (Loop.Evaluate). After a
// failed final evaluation (Final) of a completed run, the SaveWeights hook
// still writes the weights.
type EvalError struct {
	Step  int  // the step it evaluated
	Final bool // the evaluation after the last step
	Err   error
}

// Error names the step and the evaluation's error.
func (e *EvalError) Error() string {
	return fmt.Sprintf("train: evaluation at step %d: %v", e.Step, e.Err)
}

// Unwrap returns the evaluation's error.
func (e *EvalError) Unwrap() error { return e.Err }

// Window is the mean over the steps of a logging window (Options.LogEvery).
type Window struct {
	Step  int     // steps done at the end of the window
	Epoch float64 // fractional epoch at the end of the window
	LR    float64 // learning rate of the last step
	Steps int     // steps in the window
	Loss  float64
	// Parts are the means of the task's loss parts, valid during the
	// Window call.
	Parts           []LossPart
	ImagesPerSecond float64
	Elapsed         time.Duration // since the start of the run
}

// Hook is a set of callbacks the loop calls, in the order the hooks are
// given, from its own goroutine; a nil field is skipped. Hooks that react
// to an evaluation must come after the hook that triggers it when they
// also act at End (Outputs.Hooks gives the usual order).
type Hook struct {
	// Begin is called once, after a resume has restored the state and
	// before the first step.
	Begin func(l *Loop) error
	// Window is called when a logging window closes, before AfterStep of
	// the same step.
	Window func(l *Loop, w Window) error
	// AfterStep is called after every optimizer step.
	AfterStep func(l *Loop, s StepResult) error
	// Evaluated is called by Loop.Evaluate with the results.
	Evaluated func(l *Loop, m Metrics) error
	// End is called once for every hook whose Begin succeeded, whatever
	// the way the run ends: cause is nil when every step ran, an
	// *InterruptedError (l.Interrupted()) when the context stopped it, or
	// the error that failed it. Every End runs even when one fails.
	End func(l *Loop, cause error) error
}

// Loop is a run in progress as its hooks see it.
type Loop struct {
	ctx           context.Context
	opt           Options
	graph         *nn.Graph
	tape          *autograd.Tape
	sgd           *optim.SGD
	st            State
	stepsPerEpoch int
	meta          map[string]string
	start         time.Time
	frozen        bool
	calibratedAt  int // step of the last PreciseBN recalibration (-1: none)
	interrupted   bool
	hooks         []Hook
	sum           Summary
	rates         []float64
	win           window
	evaluate      func() (Metrics, error)
	recalibrate   func(batches int) error
	clearLine     []func() // called before a log line (the progress bar)
}

// Init returns how the run's weights started (Options.Init and the
// tensors Options.Freeze picks), or nil when neither is set.
func (l *Loop) Init() *InitRecord {
	if l.opt.Init == nil && l.opt.Freeze == nil {
		return nil
	}
	r := &InitRecord{InitReport: l.opt.Init}
	for name := range l.graph.StateDict() {
		if l.opt.Freeze != nil && l.opt.Freeze(name) {
			r.Frozen = append(r.Frozen, name)
		}
	}
	slices.Sort(r.Frozen)
	return r
}

// window accumulates the steps of a logging window.
type window struct {
	loss   float64
	parts  []LossPart // sums
	means  []LossPart
	images int
	steps  int
	start  time.Time
}

// Context is the run's context.
func (l *Loop) Context() context.Context { return l.ctx }

// Step is the number of optimizer steps done.
func (l *Loop) Step() int { return l.st.Step }

// Steps is the number of steps the run is asked for.
func (l *Loop) Steps() int { return l.opt.Steps }

// Epoch is the fractional epoch reached.
func (l *Loop) Epoch() float64 {
	return float64(l.st.Epoch) + float64(l.st.Batch)/float64(max(l.stepsPerEpoch, 1))
}

// Elapsed is the time since the first step began.
func (l *Loop) Elapsed() time.Duration { return time.Since(l.start) }

// Graph is the model being trained.
func (l *Loop) Graph() *nn.Graph { return l.graph }

// Metadata is the task's model metadata (Task.Metadata).
func (l *Loop) Metadata() map[string]string { return l.meta }

// Interrupted reports whether the context stopped the run.
func (l *Loop) Interrupted() bool { return l.interrupted }

// Logf writes a line to Options.Log (nothing when it is nil).
func (l *Loop) Logf(format string, args ...any) {
	if l.opt.Log == nil {
		return
	}
	for _, c := range l.clearLine {
		c()
	}
	fmt.Fprintf(l.opt.Log, format+"\n", args...)
}

// SaveCheckpoint writes the run's state (weights, batch-norm statistics,
// optimizer, step, epoch, random-generator state, config) to path
// atomically; Options.Resume continues from it exactly.
func (l *Loop) SaveCheckpoint(path string) error {
	rs, err := l.tape.RandState()
	if err != nil {
		return err
	}
	st := l.st
	st.BNFrozen = l.frozen
	return SaveCheckpoint(path, l.graph, l.sgd.State(), st, rs, l.meta)
}

// PreciseBN recalibrates the batch-norm statistics as Options.PreciseBN
// asks, unless that is off, the statistics are frozen, or they were
// already recalibrated at this step.
func (l *Loop) PreciseBN() error {
	if l.opt.PreciseBN <= 0 || l.frozen || l.calibratedAt == l.st.Step {
		return nil
	}
	if err := l.recalibrate(l.opt.PreciseBN); err != nil {
		return fmt.Errorf("train: batch-norm recalibration at step %d: %w", l.st.Step, err)
	}
	l.calibratedAt = l.st.Step
	return nil
}

// Evaluate measures the current model (after PreciseBN), keeps the result
// for the Summary, passes it to every hook's Evaluated and logs the
// primary metrics.
func (l *Loop) Evaluate() (Metrics, error) {
	t0 := time.Now()
	if err := l.PreciseBN(); err != nil {
		return nil, err
	}
	ev, err := l.evaluate()
	if err != nil {
		return nil, &EvalError{Step: l.st.Step, Final: l.st.Step == l.opt.Steps, Err: err}
	}
	l.sum.Eval = ev
	for _, h := range l.hooks {
		if h.Evaluated != nil {
			if err := h.Evaluated(l, ev); err != nil {
				return ev, err
			}
		}
	}
	var parts []string
	for _, m := range ev {
		if !m.Secondary {
			parts = append(parts, fmt.Sprintf("%s %.4f", m.Name, m.Value))
		}
	}
	l.Logf("step %d: eval %v (%.1f s)", l.st.Step, parts, time.Since(t0).Seconds())
	return ev, nil
}

// Run trains task as opt describes, calling the hooks around every step,
// and returns a summary. The context is checked between steps (and handed
// to the batch iterator): when it is done, the hooks' End runs (a
// Checkpoints hook writes the step reached) and Run returns the summary so
// far with an *InterruptedError. On any other error the summary is nil.
func Run[B any](ctx context.Context, task Task[B], opt Options, hooks ...Hook) (*Summary, error) {
	if opt.Steps < 1 || opt.Schedule == nil {
		return nil, errors.New("train: Options need Steps ≥ 1 and a Schedule")
	}
	if opt.LogEvery < 1 {
		opt.LogEvery = 10
	}
	if opt.FreezeBN < 0 || opt.FreezeBN >= opt.Steps {
		return nil, fmt.Errorf("train: FreezeBN %d must be in [0, Steps=%d)", opt.FreezeBN, opt.Steps)
	}
	if opt.Threads < 0 {
		return nil, fmt.Errorf("train: Threads %d, want ≥ 0 (0: all cores)", opt.Threads)
	}
	g := task.Graph()
	sgd, err := optim.NewSGD(g.Params(), opt.SGD)
	if err != nil {
		return nil, err
	}
	cfgJSON, err := json.Marshal(opt.Config)
	if err != nil {
		return nil, fmt.Errorf("train: config: %w", err)
	}
	dev := tensor.DefaultCPU()
	if opt.Threads > 0 {
		dev = tensor.NewCPU(opt.Threads)
		defer dev.Close()
	}
	tape := autograd.NewTape(opt.Seed)
	tape.SetDevice(dev)
	l := &Loop{ctx: ctx, opt: opt, graph: g, tape: tape, sgd: sgd,
		st: State{Config: cfgJSON}, stepsPerEpoch: task.StepsPerEpoch(), calibratedAt: -1, hooks: hooks}
	resumedFrozen := false
	if opt.Resume != "" {
		if resumedFrozen, err = l.resume(opt.Resume); err != nil {
			return nil, err
		}
	}
	if l.meta, err = task.Metadata(); err != nil {
		return nil, err
	}
	l.evaluate = func() (Metrics, error) { return task.Evaluate(l.Context(), dev) }
	l.recalibrate = func(batches int) error {
		// Not cancellable: a half-done recalibration would leave the
		// statistics and the tape's generator where no checkpoint can
		// reproduce them.
		_, err := RecalibrateBN(context.WithoutCancel(ctx), task, l.tape, l.st.Epoch, batches)
		return err
	}
	defer freezeParams(g, opt.Freeze)()
	setFrozen(g, false, opt.Freeze)
	if opt.FreezeBN > 0 && l.st.Step < opt.Steps && (resumedFrozen || l.st.Step > opt.Steps-opt.FreezeBN) {
		setFrozen(g, true, opt.Freeze) // resumed inside the frozen phase: the checkpoint holds the frozen statistics
		l.frozen = true
	}
	defer setFrozen(g, false, nil)
	l.start = time.Now()
	begun := 0
	for _, h := range hooks {
		if h.Begin != nil {
			if err = h.Begin(l); err != nil {
				break
			}
		}
		begun++
	}
	if err == nil {
		l.win.start = time.Now()
		s := &Stepper[B]{Tape: l.tape, SGD: sgd, Schedule: opt.Schedule, LossFn: task.Loss}
		err = trainSteps(l, task, s)
	}
	var endErrs []error
	for _, h := range hooks[:begun] {
		if h.End != nil {
			if e := h.End(l, err); e != nil {
				endErrs = append(endErrs, e)
			}
		}
	}
	if err == nil && len(endErrs) > 0 {
		err = errors.Join(endErrs...)
	} else if err != nil && len(endErrs) > 0 {
		err = errors.Join(append([]error{err}, endErrs...)...)
	}
	sum := l.sum
	sum.Steps, sum.Elapsed = l.st.Step, time.Since(l.start)
	if len(l.rates) > 0 {
		r := slices.Clone(l.rates)
		slices.Sort(r)
		sum.ImagesPS = r[len(r)/2]
	}
	if err != nil && !l.interrupted {
		return nil, err
	}
	return &sum, err
}

// resume restores the state of the checkpoint at path and reports whether
// it was written with frozen batch-norm statistics.
func (l *Loop) resume(path string) (bool, error) {
	ck, err := LoadCheckpoint(path)
	if err != nil {
		return false, fmt.Errorf("train: resume: %w", err)
	}
	if err := l.graph.LoadStateDict(ck.Model, path); err != nil {
		return false, err
	}
	if err := l.sgd.LoadState(ck.Optim); err != nil {
		return false, fmt.Errorf("train: resume %s: %w", path, err)
	}
	if err := l.tape.SetRandState(ck.TapeRand); err != nil {
		return false, fmt.Errorf("train: resume %s: %w", path, err)
	}
	l.st.Step, l.st.Epoch, l.st.Batch = ck.State.Step, ck.State.Epoch, ck.State.Batch
	l.Logf("resumed from %s at step %d (epoch %d, batch %d)", path, l.st.Step, l.st.Epoch, l.st.Batch)
	return ck.State.BNFrozen, nil
}

// trainSteps runs epochs until every step is done.
func trainSteps[B any](l *Loop, task Task[B], s *Stepper[B]) error {
	for l.st.Step < l.opt.Steps {
		exhausted, err := trainEpoch(l, task, s)
		if err != nil {
			return err
		}
		if exhausted || l.st.Batch >= l.stepsPerEpoch {
			l.st.Epoch++
			l.st.Batch = 0
		}
	}
	return nil
}

// trainEpoch runs the steps of the current epoch (from the current batch)
// until the epoch or the run ends; the batches are closed on every return.
func trainEpoch[B any](l *Loop, task Task[B], s *Stepper[B]) (exhausted bool, err error) {
	it, err := task.Epoch(l.st.Epoch, l.st.Batch)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("train: closing the batches of epoch %d: %w", l.st.Epoch, cerr)
		}
	}()
	for l.st.Step < l.opt.Steps {
		if cerr := l.ctx.Err(); cerr != nil {
			return false, l.interrupt(cerr)
		}
		if l.opt.FreezeBN > 0 && !l.frozen && l.st.Step == l.opt.Steps-l.opt.FreezeBN {
			if err := l.freeze(); err != nil {
				return false, err
			}
		}
		b, ok, err := it.Next(l.ctx)
		if err != nil {
			if cerr := l.ctx.Err(); cerr != nil && errors.Is(err, cerr) {
				return false, l.interrupt(cerr)
			}
			return false, fmt.Errorf("train: epoch %d, batch %d: %w", l.st.Epoch, l.st.Batch, err)
		}
		if !ok {
			return true, nil
		}
		res, err := s.Step(l.st.Step, b)
		if err != nil {
			return false, err
		}
		l.st.Step++
		l.st.Batch++
		if err := l.afterStep(res); err != nil {
			// A hook (an evaluation) that stopped because the context
			// is done interrupts the run like a cancelled Next.
			if cerr := l.ctx.Err(); cerr != nil && errors.Is(err, cerr) {
				return false, l.interrupt(cerr)
			}
			return false, err
		}
	}
	return false, nil
}

func (l *Loop) interrupt(cause error) error {
	l.interrupted = true
	return &InterruptedError{Step: l.st.Step, Steps: l.opt.Steps, Err: cause}
}

// freeze recalibrates the batch-norm statistics and freezes them for the
// remaining steps (Options.FreezeBN).
func (l *Loop) freeze() error {
	n := l.opt.PreciseBN
	if n <= 0 {
		n = 50
	}
	if err := l.recalibrate(n); err != nil {
		return fmt.Errorf("train: batch-norm recalibration at step %d: %w", l.st.Step, err)
	}
	setFrozen(l.graph, true, l.opt.Freeze)
	l.frozen = true
	l.Logf("step %d: batch-norm statistics recalibrated and frozen for the last %d steps", l.st.Step, l.opt.Steps-l.st.Step)
	return nil
}

// afterStep adds a step to the logging window, closes the window when it
// is full, and calls the hooks.
func (l *Loop) afterStep(res StepResult) error {
	w := &l.win
	w.loss += res.Loss
	for i, p := range res.Parts {
		if i < len(w.parts) && w.parts[i].Name == p.Name {
			w.parts[i].Value += p.Value
			continue
		}
		if j := slices.IndexFunc(w.parts, func(q LossPart) bool { return q.Name == p.Name }); j >= 0 {
			w.parts[j].Value += p.Value
		} else {
			w.parts = append(w.parts, p)
		}
	}
	w.images += res.Images
	w.steps++
	if l.st.Step%l.opt.LogEvery == 0 || l.st.Step == l.opt.Steps {
		secs := time.Since(w.start).Seconds()
		n := float64(w.steps)
		w.means = w.means[:0]
		for _, p := range w.parts {
			w.means = append(w.means, LossPart{Name: p.Name, Value: p.Value / n})
		}
		win := Window{Step: l.st.Step, Epoch: l.Epoch(), LR: res.LR, Steps: w.steps, Loss: w.loss / n, Parts: w.means,
			ImagesPerSecond: float64(w.images) / secs, Elapsed: time.Since(l.start)}
		l.rates = append(l.rates, win.ImagesPerSecond)
		l.sum.FinalLoss = win.Loss
		for _, h := range l.hooks {
			if h.Window != nil {
				if err := h.Window(l, win); err != nil {
					return err
				}
			}
		}
		w.loss, w.images, w.steps, w.start = 0, 0, 0, time.Now()
		w.parts = w.parts[:0]
	}
	for _, h := range l.hooks {
		if h.AfterStep != nil {
			if err := h.AfterStep(l, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// setFrozen freezes or unfreezes every batch norm of g, but for those
// whose moving statistics keep accepts, which stay frozen.
func setFrozen(g *nn.Graph, frozen bool, keep func(string) bool) {
	for _, s := range g.BatchNormStats() {
		s.Stats.Frozen = frozen || keep != nil && keep(s.Name+"/"+nn.MovingMean)
	}
}

// freezeParams stops the optimizer from training the parameters of g that
// freeze accepts (nil: none) and returns the function that lets it train
// them again.
func freezeParams(g *nn.Graph, freeze func(string) bool) (restore func()) {
	var frozen []*autograd.Var
	for _, p := range g.Params() {
		if freeze != nil && freeze(p.Name) && p.RequiresGrad() {
			p.SetRequiresGrad(false)
			frozen = append(frozen, p)
		}
	}
	return func() {
		for _, p := range frozen {
			p.SetRequiresGrad(true)
		}
	}
}
