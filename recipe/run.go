package recipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/train"
)

// RunOptions returns the train.Options of the config for a task with
// stepsPerEpoch batches per epoch (total steps from train.steps or
// train.epochs, the schedule and SGD settings, the thread budget
// train.threads; resume continues from the
// run directory's checkpoint) and the hooks writing the run directory
// train.output (train.Outputs): a checkpoint every epoch (or every
// train.checkpoint_every steps), an evaluation every train.eval_every
// epochs and at the end, the weights, metrics log and plot titled title,
// and a progress bar on progress (nil: none).
func (c *Config) RunOptions(stepsPerEpoch int, title string, resume bool, progress, log io.Writer) (train.Options, []train.Hook, error) {
	total := c.TotalSteps(stepsPerEpoch)
	sched, err := c.Schedule(total)
	if err != nil {
		return train.Options{}, nil, err
	}
	ck := c.Train.CheckpointEvery
	if ck == 0 {
		ck = stepsPerEpoch
	}
	opt := train.Options{
		Steps: total, Schedule: sched, SGD: c.SGD(), Seed: c.Train.Seed, Threads: c.Train.Threads,
		Log: log, Config: c, PreciseBN: c.Train.PreciseBN, FreezeBN: c.Train.FreezeBN,
	}
	if resume {
		opt.Resume = filepath.Join(c.Train.Output, train.CheckpointFile)
	}
	out := train.Outputs{Dir: c.Train.Output, CheckpointEvery: ck, EvalEvery: c.Train.EvalEvery * stepsPerEpoch, Title: title, Progress: progress}
	return opt, out.Hooks(), nil
}

// modelName is the model id, or the architecture file, for titles.
func (c *Config) modelName() string {
	if c.Model.Arch != "" {
		return c.Model.Arch
	}
	return "SpineNet-" + c.Model.ID
}

// TrainDetection loads the data, builds the RetinaNet and trains it as c
// describes (train.Run: checkpoints, resume, progress bar, metrics log,
// plot), writing to c.Train.Output. Cancelling ctx stops it between steps
// with a checkpoint (see train.Run).
func TrainDetection(ctx context.Context, c *Config, resume bool, progress, log io.Writer) (*train.Summary, error) {
	t, err := NewDetectionTask(c)
	if err != nil {
		return nil, err
	}
	opt, hooks, err := t.RunOptions(resume, progress, log)
	if err != nil {
		return nil, err
	}
	if log != nil {
		acc, err := t.Graph().Account(c.Input.Size, c.Input.Size)
		if err != nil {
			return nil, err
		}
		t.logStart(log, "detection", acc, "", opt.Steps)
	}
	t.Transfer.log(log, c)
	sum, err := train.Run(ctx, t, opt, hooks...)
	t.logEnd(log)
	return sum, c.keptWeights(err)
}

// logStart writes a detection-data run's first lines: the data, the model's
// size and cost at the input size (with note), the schedule, and the data
// problems found when loading.
func (t *detectionData) logStart(log io.Writer, kind string, acc *nn.Accounting, note string, steps int) {
	c := t.cfg
	fmt.Fprintf(log, "%s: %d training / %d validation images, %d classes, input %d×%d, %d parameters, %.2f B multiply-adds per image%s, %d steps (%d per epoch)\n",
		kind, len(t.Train.Samples), len(t.Val.Samples), len(t.Train.Classes), c.Input.Size, c.Input.Size, acc.TrainableParams, float64(acc.MACs)/1e9, note, steps, t.StepsPerEpoch())
	if t.Report.Problems() > 0 {
		fmt.Fprintf(log, "data problems (skipped or clipped, by reason; data.strict: true makes them fatal):\n%s", t.Report.String())
	}
}

// logEnd reports the images the last training epoch could not read.
func (t *detectionData) logEnd(log io.Writer) {
	if log != nil && t.LoaderReport.Problems() > 0 {
		fmt.Fprintf(log, "images skipped while training (the last epoch):\n%s", t.LoaderReport.String())
	}
}

// keptWeights adds to a failed final evaluation that the trained weights
// were written all the same, and where, so that the user fixes the
// validation data and scores them instead of training again.
func (c *Config) keptWeights(err error) error {
	var ee *train.EvalError
	if !errors.As(err, &ee) || !ee.Final {
		return err
	}
	path := filepath.Join(c.Train.Output, train.WeightsFile)
	if _, serr := os.Stat(path); serr != nil {
		return err
	}
	return fmt.Errorf("%w\nthe trained weights are saved in %s: fix the validation data named above, then score them with `spinenet eval --config CONFIG --weights %s`", err, path, path)
}

// loaderBatches adapts a data loader to train.Batches. The first Next ties
// the loader to the run's context: cancelling it closes the loader, which
// unblocks a Next waiting for its workers, and Next then reports the
// context's error rather than the end of the epoch.
type loaderBatches[B any] struct {
	next func() (B, bool, error) // the loader's next batch; ok false at the end of the epoch
	// halt stops the loader from any goroutine (it unblocks next) and may
	// be called more than once; close ends the epoch on the run's
	// goroutine (collecting reports, then halting).
	halt, close func() error
	stop        func() bool // unregisters the cancellation
}

// Next returns the next batch, or the context's error once it is done.
func (b *loaderBatches[B]) Next(ctx context.Context) (B, bool, error) {
	var zero B
	if err := ctx.Err(); err != nil {
		return zero, false, err
	}
	if b.stop == nil {
		b.stop = context.AfterFunc(ctx, func() { b.halt() })
	}
	batch, ok, err := b.next()
	if cerr := ctx.Err(); cerr != nil {
		return zero, false, cerr
	}
	return batch, ok, err
}

// Close stops the loader.
func (b *loaderBatches[B]) Close() error {
	if b.stop != nil {
		b.stop()
	}
	return b.close()
}
