package train

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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

type toyBatches struct {
	t            *toyTask
	epoch, index int
}

func (b *toyBatches) Next() (any, bool, error) {
	if b.index >= b.t.steps {
		return nil, false, nil
	}
	rng := rand.New(rand.NewPCG(uint64(b.epoch), uint64(b.index)))
	b.index++
	x := tensor.New(b.t.batch, 4, 4, 2)
	labels := make([]int32, b.t.batch)
	for i := range b.t.batch {
		sign := float32(1)
		if rng.IntN(2) == 0 {
			sign, labels[i] = -1, 1
		}
		for j := range 32 {
			x.Data()[i*32+j] = sign*0.5 + float32(rng.NormFloat64())
		}
	}
	return [2]any{x, labels}, true, nil
}
func (b *toyBatches) Close() error { return nil }

func (t *toyTask) Graph() *nn.Graph   { return t.g }
func (t *toyTask) StepsPerEpoch() int { return t.steps }
func (t *toyTask) Epoch(e, skip int) (Batches, error) {
	return &toyBatches{t: t, epoch: e, index: skip}, nil
}
func (t *toyTask) Loss(tp *autograd.Tape, b any) (*autograd.Var, map[string]float64, int, error) {
	bb := b.([2]any)
	x := bb[0].(*tensor.Tensor)
	t.seen++
	if t.nanAt > 0 && t.seen == t.nanAt {
		x.Data()[0] = float32(nan())
	}
	out := t.g.Forward(tp, tp.Constant(x))
	loss := tp.SoftmaxCrossEntropy(out[0], bb[1].([]int32), 0)
	return loss, map[string]float64{"ce": float64(loss.Value.Data()[0])}, t.batch, nil
}
func (t *toyTask) Evaluate() (map[string]float64, error) {
	b, _, _ := (&toyBatches{t: t, epoch: 999}).Next()
	bb := b.([2]any)
	out := t.g.Forward(autograd.NewInferenceTape(), autograd.NewConstant(bb[0].(*tensor.Tensor)))
	return map[string]float64{"accuracy": autograd.TopKAccuracy(out[0].Value, bb[1].([]int32), 1)}, nil
}
func (t *toyTask) EvalKeys() []string                   { return []string{"accuracy"} }
func (t *toyTask) Metadata() (map[string]string, error) { return map[string]string{"task": "toy"}, nil }

func nan() float64 { var z float64; return z / z }

func toyOptions(dir string, steps int) Options {
	cfg := optim.DefaultSGDConfig()
	return Options{OutDir: dir, Steps: steps, Schedule: optim.Constant(0.1), SGD: cfg, Seed: 7, LogEvery: 3, CheckpointEvery: 4, EvalEvery: 6,
		PreciseBN: 2, FreezeBN: 4}
}

// A run interrupted and resumed from its checkpoint ends with exactly the
// weights of an uninterrupted run: same batches, same stochastic-depth
// masks, same optimizer state and BN statistics — also when it stops inside
// the frozen-BN phase of the last steps.
func TestResumeIsExact(t *testing.T) {
	full := newToyTask()
	dirA := t.TempDir()
	if _, err := Run(full, toyOptions(dirA, 13)); err != nil {
		t.Fatal(err)
	}
	for _, stop := range []int{8, 11} {
		t.Run(fmt.Sprint("stop at ", stop), func(t *testing.T) { resumeFrom(t, full, stop) })
	}
}

func resumeFrom(t *testing.T, full *toyTask, stop int) {
	dirB := t.TempDir()
	part := newToyTask()
	opt := toyOptions(dirB, 13)
	opt.Steps = stop // a run that stops at `stop`; its last checkpoint is there
	opt.FreezeBN = 0
	if stop > 13-4 {
		// Stopping inside the frozen phase: run to `stop` with the same
		// freeze point, which Steps−FreezeBN must keep at 9.
		opt.FreezeBN = stop - 9
	}
	if _, err := Run(part, opt); err != nil {
		t.Fatal(err)
	}
	resumed := newToyTask()
	opt = toyOptions(dirB, 13)
	opt.Resume = true
	var log bytes.Buffer
	opt.Log = &log
	sum, err := Run(resumed, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "resumed from") || sum.Steps != 13 {
		t.Errorf("log %q, steps %d", log.String(), sum.Steps)
	}
	a, b := full.g.StateDict(), resumed.g.StateDict()
	for name, ta := range a {
		for i, v := range ta.Data() {
			if b[name].Data()[i] != v {
				t.Fatalf("%s[%d]: resumed %v, uninterrupted %v", name, i, b[name].Data()[i], v)
			}
		}
	}
	for _, f := range []string{CheckpointFile, WeightsFile, MetricsFile, PlotFile} {
		if _, err := os.Stat(filepath.Join(dirB, f)); err != nil {
			t.Error(err)
		}
	}
	// The resumed metrics log holds each step once.
	ml, err := OpenMetricsLog(filepath.Join(dirB, MetricsFile), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Close()
	seen := map[[2]any]bool{}
	for _, r := range ml.Records() {
		k := [2]any{r.Kind, r.Step}
		if seen[k] {
			t.Errorf("duplicate record %v", k)
		}
		seen[k] = true
	}
}

// A NaN loss stops the run with a message naming the step, and the last
// checkpoint on disk stays loadable and untouched.
func TestNaNStopsWithStep(t *testing.T) {
	task := newToyTask()
	task.nanAt = 7 // the 7th batch: step index 6
	dir := t.TempDir()
	opt := toyOptions(dir, 13)
	opt.PreciseBN = 0 // calibration batches would shift the count
	_, err := Run(task, opt)
	if err == nil || !strings.Contains(err.Error(), "step 6") || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("error %v", err)
	}
	ck, err := LoadCheckpoint(filepath.Join(dir, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if ck.State.Step != 4 {
		t.Errorf("checkpoint at step %d, want 4", ck.State.Step)
	}
}

// RecalibrateBN leaves the moving statistics at the plain average of the
// per-batch statistics and restores the momentum.
func TestRecalibrateBN(t *testing.T) {
	task := newToyTask()
	tp := autograd.NewTape(1)
	n, err := RecalibrateBN(task, tp, 0, 3)
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
		b, _, _ := it.Next()
		x := b.([2]any)[0].(*tensor.Tensor)
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
