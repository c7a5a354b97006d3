package bench

import (
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/tensor"
	"github.com/spinenet-go/spinenet/train"
)

// TrainResult is the measurement of RetinaNet training steps.
type TrainResult struct {
	Model     string  `json:"model"`
	Size      int     `json:"size"`
	Batch     int     `json:"batch"`
	MedianMs  float64 `json:"median_step_ms"`
	ImagesPS  float64 `json:"images_per_s"`
	GFLOPS    float64 `json:"gflops"` // 3 × forward multiply-adds × 2 / step time
	PctOfPeak float64 `json:"pct_of_peak"`
	Steps     int     `json:"steps"`
	Threads   int     `json:"threads"`
	// AllocsPerStep and BytesPerStep are the heap allocations of one steady
	// training step (mean over the steps after the first).
	AllocsPerStep float64 `json:"allocs_per_step"`
	BytesPerStep  float64 `json:"bytes_per_step"`
}

// RunTrainStep times full RetinaNet training steps — train.Stepper.Step:
// forward in training mode, focal + Huber loss against random boxes,
// backward, SGD update, tape reset — on random size×size images, median
// over the timed steps after two warm-up steps, on opt.Device.
func RunTrainStep(m *detection.Model, name string, size, batch int, opt Options) (TrainResult, error) {
	if opt.MinTime == 0 {
		opt.MinTime = 10 * time.Second
	}
	if opt.MinRuns == 0 {
		opt.MinRuns = 3
	}
	r := TrainResult{Model: name, Size: size, Batch: batch, Threads: opt.Device.Threads()}
	g := m.Graph()
	acc, err := g.Account(size, size)
	if err != nil {
		return r, err
	}
	anchors, err := detection.NewAnchors(detection.AnchorsFor(m.Backbone.Arch), size, size)
	if err != nil {
		return r, err
	}
	rng := rand.New(rand.NewPCG(5, 5))
	x := tensor.New(batch, size, size, 3)
	for i := range x.Data() {
		x.Data()[i] = float32(rng.NormFloat64())
	}
	gts := make([]detection.GroundTruth, batch)
	for i := range gts {
		for range 5 {
			x1, y1 := rng.Float32()*float32(size)*0.7, rng.Float32()*float32(size)*0.7
			w, h := 16+rng.Float32()*float32(size)*0.3, 16+rng.Float32()*float32(size)*0.3
			gts[i].Boxes = append(gts[i].Boxes, box.XYXY(x1, y1, x1+w, y1+h))
			gts[i].Classes = append(gts[i].Classes, rng.IntN(m.Config.NumClasses))
		}
	}
	sgd, err := optim.NewSGD(g.Params(), optim.DefaultSGDConfig())
	if err != nil {
		return r, err
	}
	tape := autograd.NewTape(1)
	tape.SetDevice(opt.Device)
	stepper := &train.Stepper[*autograd.Var]{
		Tape: tape, SGD: sgd, Schedule: optim.Constant(1e-4),
		LossFn: func(tape *autograd.Tape, in *autograd.Var) (train.Loss, error) {
			cls, boxes := m.Outputs(g.Forward(tape, in))
			l, err := m.Loss(tape, cls, boxes, anchors, gts, detection.DefaultLoss())
			if err != nil {
				return train.Loss{}, err
			}
			return train.Loss{Total: l.Total, Images: batch}, nil
		},
	}
	in := autograd.NewConstant(x)
	var stepErr error
	steps := 0
	step := func() {
		if _, err := stepper.Step(steps, in); err != nil && stepErr == nil {
			stepErr = err
		}
		steps++
	}
	step()
	peak := MeasurePeak(r.Threads)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	med, n := Median(step, opt.MinTime, opt.MinRuns)
	runtime.ReadMemStats(&ms1)
	n1 := float64(n + 1) // Median's untimed warm-up step is counted too
	r.AllocsPerStep = float64(ms1.Mallocs-ms0.Mallocs) / n1
	r.BytesPerStep = float64(ms1.TotalAlloc-ms0.TotalAlloc) / n1
	if stepErr != nil {
		return r, stepErr
	}
	r.PctOfPeak = 0
	r.MedianMs = float64(med.Microseconds()) / 1e3
	r.ImagesPS = float64(batch) / med.Seconds()
	r.GFLOPS = 3 * 2 * float64(acc.MACs) * float64(batch) / med.Seconds() / 1e9
	r.PctOfPeak = r.GFLOPS / max(peak, MeasurePeak(r.Threads)) * 100
	r.Steps = n
	return r, nil
}
