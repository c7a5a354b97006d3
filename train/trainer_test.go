package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/spinenet-go/spinenet/internal/racebuild"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/tensor"
)

// toyTask: classify the sign of the mean of a 4×4×2 image with a conv net.
type toyTask struct {
	g      *nn.Graph
	logits int
	batch  int
	steps  int
	nanAt  int // step at which the input becomes NaN (0: never)
	seen   int
	// block, when set, makes Next block until the context is done at the
	// batches it selects, closing blocked first.
	block   func(epoch, index int) bool
	blocked chan struct{}
	epochs  int // iterators opened
	closes  int // iterators closed
	size    int // image side (0: 4)
	// evalBlocks, when set, makes Evaluate close blocked and wait until
	// the context is done, then return its error.
	evalBlocks bool
	// lossThreads and evalThreads record the thread budgets of the
	// devices Loss and Evaluate were last given.
	lossThreads, evalThreads int
	wakeups                  int64 // worker wake-ups of the Loss device so far
}

func (t *toyTask) side() int {
	if t.size == 0 {
		return 4
	}
	return t.size
}

func newToyTask() *toyTask {
	g := nn.NewGraph()
	s := nn.NewScope(g, 3)
	x := s.Input("image", 2)
	h := s.Act(s.BatchNorm(s.Conv(x, "conv1", nn.ConvSpec{K: 3, Out: 8, Stride: 1, Pad: tensor.PadSame}), "bn1"), tensor.ActReLU)
	h = s.StochasticDepth(h, 0.3)
	h = s.GlobalAvgPool(h, "pool")
	h = s.Dense(h, "dense", 2, true, nil, nil)
	g.MarkOutput(h, "logits")
	return &toyTask{g: g, batch: 8, steps: 5}
}

// toyBatch is an image batch with its labels.
type toyBatch struct {
	x      *tensor.Tensor
	labels []int32
}

type toyBatches struct {
	t            *toyTask
	epoch, index int
}

func (b *toyBatches) Next(ctx context.Context) (toyBatch, bool, error) {
	if b.index >= b.t.steps {
		return toyBatch{}, false, nil
	}
	if b.t.block != nil && b.t.block(b.epoch, b.index) {
		close(b.t.blocked)
		<-ctx.Done() // a loader waiting on slow input until the run is cancelled
		return toyBatch{}, false, ctx.Err()
	}
	rng := rand.New(rand.NewPCG(uint64(b.epoch), uint64(b.index)))
	b.index++
	side := b.t.side()
	x := tensor.New(b.t.batch, side, side, 2)
	labels := make([]int32, b.t.batch)
	per := side * side * 2
	for i := range b.t.batch {
		sign := float32(1)
		if rng.IntN(2) == 0 {
			sign, labels[i] = -1, 1
		}
		for j := range per {
			x.Data()[i*per+j] = sign*0.5 + float32(rng.NormFloat64())
		}
	}
	return toyBatch{x, labels}, true, nil
}
func (b *toyBatches) Close() error {
	b.t.closes++
	return nil
}

func (t *toyTask) Graph() *nn.Graph   { return t.g }
func (t *toyTask) StepsPerEpoch() int { return t.steps }
func (t *toyTask) Epoch(e, skip int) (Batches[toyBatch], error) {
	t.epochs++
	return &toyBatches{t: t, epoch: e, index: skip}, nil
}
func (t *toyTask) Loss(tp *autograd.Tape, b toyBatch) (Loss, error) {
	x := b.x
	t.seen++
	t.lossThreads = tp.Device().Threads()
	t.wakeups = tp.Device().Exec().Wakeups()
	if t.nanAt > 0 && t.seen == t.nanAt {
		x.Data()[0] = float32(nan())
	}
	out := t.g.Forward(tp, tp.Constant(x))
	loss := tp.SoftmaxCrossEntropy(out[0], b.labels, 0)
	return Loss{Total: loss, Parts: []LossPart{{"ce", float64(loss.Value.Data()[0])}}, Images: t.batch}, nil
}
func (t *toyTask) Evaluate(ctx context.Context, dev tensor.CPU) (Metrics, error) {
	t.evalThreads = dev.Threads()
	if t.evalBlocks {
		close(t.blocked)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	b, _, _ := (&toyBatches{t: t, epoch: 999}).Next(context.Background())
	tp := autograd.NewInferenceTape()
	tp.SetDevice(dev)
	out := t.g.Forward(tp, autograd.NewConstant(b.x))
	acc := autograd.TopKAccuracy(out[0].Value, b.labels, 1)
	return Metrics{{Name: "accuracy", Value: acc}, {Name: "error", Value: 1 - acc, Secondary: true}}, nil
}
func (t *toyTask) Metadata() (map[string]string, error) { return map[string]string{"task": "toy"}, nil }

func nan() float64 { var z float64; return z / z }

func toyOptions(steps int) Options {
	cfg := optim.DefaultSGDConfig()
	return Options{Steps: steps, Schedule: optim.Constant(0.1), SGD: cfg, Seed: 7, LogEvery: 3, PreciseBN: 2, FreezeBN: 4}
}

// toyOutputs writes a checkpoint every 4 steps and evaluates every 6.
func toyOutputs(dir string) []Hook {
	return Outputs{Dir: dir, CheckpointEvery: 4, EvalEvery: 6, Title: "toy"}.Hooks()
}

// sameWeights fails unless a and b hold bit-identical state dicts.
func sameWeights(t *testing.T, a, b *nn.Graph) {
	t.Helper()
	sa, sb := a.StateDict(), b.StateDict()
	if len(sa) != len(sb) {
		t.Fatalf("%d vs %d tensors", len(sa), len(sb))
	}
	for name, ta := range sa {
		for i, v := range ta.Data() {
			if sb[name].Data()[i] != v {
				t.Fatalf("%s[%d]: resumed %v, uninterrupted %v", name, i, sb[name].Data()[i], v)
			}
		}
	}
}

// Two runs side by side in one process, with a budget of one thread each,
// end with bitwise the weights each ends with alone, on one thread or on
// two: a run's thread budget neither leaks into the other run nor changes
// its results. (Under -race this also checks that the runs share no
// unguarded state.)
func TestSideBySideRunsAreExact(t *testing.T) {
	const steps = 8
	task := func() *toyTask {
		k := newToyTask()
		k.size = 48 // large enough for the kernels to split work across threads
		return k
	}
	run := func(k *toyTask, seed uint64, threads int) {
		opt := toyOptions(steps)
		opt.Seed, opt.Threads = seed, threads
		if _, err := Run(context.Background(), k, opt, toyOutputs(t.TempDir())...); err != nil {
			t.Error(err)
		}
	}
	seeds := []uint64{7, 8}
	alone := make([]*toyTask, len(seeds))
	for i, seed := range seeds {
		alone[i] = task()
		run(alone[i], seed, 1)
		if alone[i].lossThreads != 1 || alone[i].evalThreads != 1 {
			t.Fatalf("Threads=1: the steps ran on %d threads, evaluation on %d", alone[i].lossThreads, alone[i].evalThreads)
		}
	}
	two := task()
	run(two, seeds[0], 2)
	if two.lossThreads != 2 || two.wakeups == 0 {
		t.Fatalf("Threads=2: the steps ran on %d threads with %d worker wake-ups", two.lossThreads, two.wakeups)
	}
	sameWeights(t, alone[0].g, two.g)
	side := make([]*toyTask, len(seeds))
	done := make(chan struct{})
	for i, seed := range seeds {
		side[i] = task()
		go func() {
			defer func() { done <- struct{}{} }()
			run(side[i], seed, 1)
		}()
	}
	for range seeds {
		<-done
	}
	for i := range seeds {
		sameWeights(t, alone[i].g, side[i].g)
	}
}

// A run interrupted and resumed from its checkpoint ends with exactly the
// weights of an uninterrupted run: same batches, same stochastic-depth
// masks, same optimizer state and BN statistics — also when it stops inside
// the frozen-BN phase of the last steps.
func TestResumeIsExact(t *testing.T) {
	full := newToyTask()
	dirA := t.TempDir()
	if _, err := Run(context.Background(), full, toyOptions(13), toyOutputs(dirA)...); err != nil {
		t.Fatal(err)
	}
	for _, stop := range []int{8, 11} {
		t.Run(fmt.Sprint("stop at ", stop), func(t *testing.T) { resumeFrom(t, full, stop) })
	}
}

func resumeFrom(t *testing.T, full *toyTask, stop int) {
	dirB := t.TempDir()
	part := newToyTask()
	opt := toyOptions(13)
	opt.Steps = stop // a run that stops at `stop`; its last checkpoint is there
	opt.FreezeBN = 0
	if stop > 13-4 {
		// Stopping inside the frozen phase: run to `stop` with the same
		// freeze point, which Steps−FreezeBN must keep at 9.
		opt.FreezeBN = stop - 9
	}
	if _, err := Run(context.Background(), part, opt, toyOutputs(dirB)...); err != nil {
		t.Fatal(err)
	}
	resumed := newToyTask()
	opt = toyOptions(13)
	opt.Resume = filepath.Join(dirB, CheckpointFile)
	var log bytes.Buffer
	opt.Log = &log
	sum, err := Run(context.Background(), resumed, opt, toyOutputs(dirB)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "resumed from") || sum.Steps != 13 {
		t.Errorf("log %q, steps %d", log.String(), sum.Steps)
	}
	sameWeights(t, full.g, resumed.g)
	checkOutputs(t, dirB)
}

// checkOutputs checks that dir holds the four outputs and that its metrics
// log holds each step once.
func checkOutputs(t *testing.T, dir string) {
	t.Helper()
	for _, f := range []string{CheckpointFile, WeightsFile, MetricsFile, PlotFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	records, err := ReadRecords(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[2]any]bool{}
	for _, r := range records {
		k := [2]any{r.Kind, r.Step}
		if seen[k] {
			t.Errorf("duplicate record %v", k)
		}
		seen[k] = true
	}
	for _, k := range [][2]any{{"train", 3}, {"train", 12}, {"train", 13}, {"eval", 6}, {"eval", 12}, {"eval", 13}} {
		if !seen[k] {
			t.Errorf("no record %v in %v", k, records)
		}
	}
}

// A run cancelled through its context stops between steps, or in a blocked
// Next, with an error wrapping context.Canceled, leaves a valid checkpoint
// at the step reached, closes every batch iterator it opened, and resumed
// from that checkpoint reaches bit-exactly the weights of an uninterrupted
// run. The cancel at step 9 comes after the batch-norm freeze of that step
// (FreezeBN 4 of 13), inside Next.
func TestCancelThenResumeIsExact(t *testing.T) {
	full := newToyTask()
	if _, err := Run(context.Background(), full, toyOptions(13), toyOutputs(t.TempDir())...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		stop    int
		inNext  bool // cancel from another goroutine while Next blocks
		inEval  bool // cancel from another goroutine while Evaluate blocks
		stopLog string
	}{
		{name: "after step 7", stop: 7},
		{name: "blocked in Next at step 9", stop: 9, inNext: true},
		{name: "blocked in the evaluation at step 6", stop: 6, inEval: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			part := newToyTask()
			hooks := toyOutputs(dir)
			if tc.inNext || tc.inEval {
				part.blocked = make(chan struct{})
				if tc.inNext {
					part.block = func(epoch, index int) bool { return epoch*5+index == tc.stop }
				}
				part.evalBlocks = tc.inEval
				go func() {
					<-part.blocked
					cancel()
				}()
			} else {
				hooks = append(hooks, Hook{AfterStep: func(l *Loop, _ StepResult) error {
					if l.Step() == tc.stop {
						cancel()
					}
					return nil
				}})
			}
			var log bytes.Buffer
			opt := toyOptions(13)
			opt.Log = &log
			sum, err := Run(ctx, part, opt, hooks...)
			var ie *InterruptedError
			if !errors.Is(err, context.Canceled) || !errors.As(err, &ie) || ie.Step != tc.stop {
				t.Fatalf("error %v, want an interruption at step %d wrapping context.Canceled", err, tc.stop)
			}
			if sum == nil || sum.Steps != tc.stop {
				t.Fatalf("summary %+v, want %d steps", sum, tc.stop)
			}
			if part.epochs != part.closes {
				t.Errorf("%d batch iterators opened, %d closed", part.epochs, part.closes)
			}
			ckPath := filepath.Join(dir, CheckpointFile)
			if !strings.Contains(log.String(), "checkpoint written to "+ckPath) {
				t.Errorf("log %q does not name the checkpoint", log.String())
			}
			ck, err := LoadCheckpoint(ckPath)
			if err != nil {
				t.Fatal(err)
			}
			if ck.State.Step != tc.stop || ck.State.BNFrozen != (tc.stop >= 9) {
				t.Errorf("checkpoint at step %d, frozen %v; want step %d", ck.State.Step, ck.State.BNFrozen, tc.stop)
			}
			if _, err := os.Stat(filepath.Join(dir, WeightsFile)); err == nil {
				t.Error("an interrupted run wrote the final weights")
			}
			resumed := newToyTask()
			opt = toyOptions(13)
			opt.Resume = ckPath
			if _, err := Run(context.Background(), resumed, opt, toyOutputs(dir)...); err != nil {
				t.Fatal(err)
			}
			sameWeights(t, full.g, resumed.g)
			if !tc.inEval { // the interrupted evaluation at step 6 is not redone, so its record is missing
				checkOutputs(t, dir)
			}
		})
	}
}

// A run with no hooks trains and writes nothing.
func TestNoHooksWritesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	bare := newToyTask()
	sum, err := Run(context.Background(), bare, toyOptions(13))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 13 || sum.Eval != nil || sum.FinalLoss <= 0 {
		t.Errorf("summary %+v", sum)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("working directory holds %v (%v)", entries, err)
	}
}

// A NaN loss stops the run with a message naming the step, and the last
// checkpoint on disk stays loadable and untouched.
func TestNaNStopsWithStep(t *testing.T) {
	task := newToyTask()
	task.nanAt = 7 // the 7th batch: step index 6
	dir := t.TempDir()
	opt := toyOptions(13)
	opt.PreciseBN = 0 // calibration batches would shift the count
	_, err := Run(context.Background(), task, opt, toyOutputs(dir)...)
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Step != 6 || !strings.Contains(err.Error(), "step 6") || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("error %v", err)
	}
	ck, err := LoadCheckpoint(filepath.Join(dir, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if ck.State.Step != 4 {
		t.Errorf("checkpoint at step %d, want 4", ck.State.Step)
	}
	if task.epochs != task.closes {
		t.Errorf("%d batch iterators opened, %d closed", task.epochs, task.closes)
	}
}

// RecalibrateBN leaves the moving statistics at the plain average of the
// per-batch statistics and restores the momentum.
func TestRecalibrateBN(t *testing.T) {
	task := newToyTask()
	tp := autograd.NewTape(1)
	n, err := RecalibrateBN(context.Background(), task, tp, 0, 3)
	if err != nil || n != 3 {
		t.Fatalf("%d batches, %v", n, err)
	}
	st := task.g.BatchNormStats()[0].Stats
	got := st.Mean.Clone()
	if st.Momentum != 0.99 {
		t.Errorf("momentum %v not restored", st.Momentum)
	}
	// Recompute by hand: mean over the 3 batches of the per-batch channel mean
	// of the conv output.
	want := make([]float64, st.Mean.Len())
	it, _ := task.Epoch(0, 0)
	conv := task.g.Nodes[1]
	for range 3 {
		b, _, _ := it.Next(context.Background())
		x := b.x
		tp := autograd.NewInferenceTape()
		y := tp.Conv2D(tp.Constant(x), conv.Conv.Kernel, 1, tensor.PadSame).Value
		c := y.Dim(-1)
		for i, v := range y.Data() {
			want[i%c] += float64(v) / float64(y.Len()/c) / 3
		}
	}
	for i, w := range want {
		if d := float64(got.Data()[i]) - w; d > 1e-4 || d < -1e-4 {
			t.Fatalf("channel %d: moving mean %v, want %v", i, got.Data()[i], w)
		}
	}
}

// Stepper.Step allocates nothing beyond the step it wraps: the same loss,
// backward pass and update written out inline allocate as much.
func TestStepperAddsNoAllocations(t *testing.T) {
	if racebuild.Enabled {
		t.Skip("allocation counts mean nothing under -race")
	}
	task := newToyTask()
	b, _, _ := (&toyBatches{t: task}).Next(context.Background())
	sgd, err := optim.NewSGD(task.g.Params(), optim.DefaultSGDConfig())
	if err != nil {
		t.Fatal(err)
	}
	tape := autograd.NewTape(1)
	s := &Stepper[toyBatch]{Tape: tape, SGD: sgd, Schedule: optim.Constant(0.01), LossFn: task.Loss}
	inline := testing.AllocsPerRun(20, func() {
		l, err := task.Loss(tape, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := tape.Backward(l.Total); err != nil {
			t.Fatal(err)
		}
		if _, err := sgd.Step(0.01); err != nil {
			t.Fatal(err)
		}
		tape.Reset()
	})
	stepped := testing.AllocsPerRun(20, func() {
		if _, err := s.Step(3, b); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations per step: Stepper %.1f, inline %.1f", stepped, inline)
	if stepped > inline {
		t.Errorf("Stepper.Step: %.1f allocations per step, the inline step %.1f", stepped, inline)
	}
}

// A run that fails right after step 12, where a periodic checkpoint (every
// 4) and an evaluation with batch-norm recalibration (every 6) coincide,
// resumes from that checkpoint to the weights of an uninterrupted run: the
// checkpoint is written after the evaluation, so it holds the recalibrated
// statistics and the generator state after the calibration batches.
func TestResumeAfterFailureAtEvaluationStep(t *testing.T) {
	opt := toyOptions(13)
	opt.FreezeBN = 0 // frozen statistics would not be recalibrated at step 12
	full := newToyTask()
	if _, err := Run(context.Background(), full, opt, toyOutputs(t.TempDir())...); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crash := errors.New("crash")
	hooks := append(toyOutputs(dir), Hook{AfterStep: func(l *Loop, _ StepResult) error {
		if l.Step() == 12 {
			return crash
		}
		return nil
	}})
	if _, err := Run(context.Background(), newToyTask(), opt, hooks...); !errors.Is(err, crash) {
		t.Fatalf("error %v, want the crash", err)
	}
	resumed := newToyTask()
	opt.Resume = filepath.Join(dir, CheckpointFile)
	if _, err := Run(context.Background(), resumed, opt, toyOutputs(dir)...); err != nil {
		t.Fatal(err)
	}
	sameWeights(t, full.g, resumed.g)
}

// A frozen part keeps every tensor it started with — parameters and batch
// norm statistics, through precise-BN recalibrations and the FreezeBN
// phase — while the rest trains; afterwards the graph trains normally.
func TestFreezeKeepsFrozenTensors(t *testing.T) {
	task := newToyTask()
	before := map[string][]float32{}
	for name, v := range task.g.StateDict() {
		before[name] = slices.Clone(v.Data())
	}
	frozen := func(name string) bool { return strings.HasPrefix(name, "conv1/") || strings.HasPrefix(name, "bn1/") }
	opt := toyOptions(12)
	opt.Freeze = frozen
	if _, err := Run(context.Background(), Task[toyBatch](task), opt, Evaluation(6)); err != nil {
		t.Fatal(err)
	}
	nFrozen := 0
	for name, v := range task.g.StateDict() {
		same := slices.Equal(before[name], v.Data())
		if frozen(name) {
			nFrozen++
			if !same {
				t.Errorf("%s changed although frozen", name)
			}
		} else if !same && !strings.HasPrefix(name, "dense/") {
			t.Errorf("%s: unexpected tensor", name)
		} else if same {
			t.Errorf("%s did not train", name)
		}
	}
	if nFrozen != 5 { // conv1/kernel, bn1/gamma, beta, moving_mean, moving_variance
		t.Errorf("%d frozen tensors, want 5", nFrozen)
	}
	for _, p := range task.g.Params() {
		if !p.RequiresGrad() {
			t.Errorf("%s still frozen after the run", p.Name)
		}
	}
	for _, s := range task.g.BatchNormStats() {
		if s.Stats.Frozen {
			t.Errorf("batch norm %s still frozen after the run", s.Name)
		}
	}
}
