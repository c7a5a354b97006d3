package bench

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/spinenet-go/spinenet/infer"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// ModelResult is the measurement of one compiled model.
type ModelResult struct {
	Model      string  `json:"model"`
	Size       int     `json:"size"`
	Head       string  `json:"head"`
	Batch      int     `json:"batch"`
	MedianMs   float64 `json:"median_ms"` // per image
	GFLOPS     float64 `json:"gflops"`    // 2·MACs / median time
	PctOfPeak  float64 `json:"pct_of_peak"`
	PeakGFLOPS float64 `json:"peak_gflops"`
	MACs       int64   `json:"macs"` // per image
	Runs       int     `json:"runs"`
	ArenaMB    float64 `json:"arena_mb"`
	Threads    int     `json:"threads"`
	// Kinds breaks one run down by kind of step (conv, winograd, depthwise,
	// maxpool, …), most expensive first.
	Kinds []KindTime `json:"kinds,omitempty"`
}

// KindTime is the share of one kind of step in a profiled run.
type KindTime struct {
	Kind   string  `json:"kind"`
	Ms     float64 `json:"ms"`
	GFLOPS float64 `json:"gflops"`
	Steps  int     `json:"steps"`
}

// RunModel compiles g for inference and times it on random size×size
// images on opt.Device (median of repeated runs after a warm-up that also
// plans the buffers), with the FMA peak measured before and after.
func RunModel(g *nn.Graph, name, head string, size, batch int, opt Options, copt infer.Options) (ModelResult, error) {
	if opt.MinTime == 0 {
		opt.MinTime = 3 * time.Second
	}
	if opt.MinRuns == 0 {
		opt.MinRuns = 5
	}
	r := ModelResult{Model: name, Size: size, Head: head, Batch: batch, Threads: opt.Device.Threads()}
	acc, err := g.Account(size, size)
	if err != nil {
		return r, err
	}
	r.MACs = acc.MACs
	m, err := infer.Compile(g, copt)
	if err != nil {
		return r, err
	}
	x := tensor.New(batch, size, size, g.Nodes[g.Inputs[0]].Channels)
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range x.Data() {
		x.Data()[i] = float32(rng.NormFloat64())
	}
	arena := m.NewArena()
	arena.SetDevice(opt.Device)
	peak := MeasurePeak(r.Threads)
	var runErr error
	med, n := Median(func() {
		if _, err := arena.Run(x); err != nil {
			runErr = err
		}
	}, opt.MinTime, opt.MinRuns)
	if runErr != nil {
		return r, runErr
	}
	r.PeakGFLOPS = max(peak, MeasurePeak(r.Threads))
	perImage := med.Seconds() / float64(batch)
	r.MedianMs = perImage * 1e3
	r.GFLOPS = 2 * float64(acc.MACs) / perImage / 1e9
	r.PctOfPeak = r.GFLOPS / r.PeakGFLOPS * 100
	r.Runs = n
	bytes, err := m.ArenaBytes(batch, size, size)
	if err != nil {
		return r, err
	}
	r.ArenaMB = float64(bytes) / (1 << 20)
	r.Kinds, err = profileKinds(arena, x, batch)
	return r, err
}

// profileKinds times every step of three runs and sums them by kind.
func profileKinds(a *infer.Arena, x *tensor.Tensor, batch int) ([]KindTime, error) {
	index := map[string]int{}
	var kinds []KindTime
	macs := map[string]int64{}
	const runs = 3
	for range runs {
		_, times, err := a.RunProfiled(x)
		if err != nil {
			return nil, err
		}
		for _, s := range times {
			i, ok := index[s.Kind]
			if !ok {
				i = len(kinds)
				index[s.Kind] = i
				kinds = append(kinds, KindTime{Kind: s.Kind})
			}
			kinds[i].Ms += s.Time.Seconds() * 1e3 / runs / float64(batch)
			kinds[i].Steps++
			macs[s.Kind] += s.MACs
		}
	}
	for i := range kinds {
		kinds[i].Steps /= runs
		if kinds[i].Ms > 0 {
			kinds[i].GFLOPS = 2 * float64(macs[kinds[i].Kind]) / runs / (kinds[i].Ms * float64(batch) / 1e3) / 1e9
		}
	}
	slices.SortFunc(kinds, func(a, b KindTime) int { return cmp.Compare(b.Ms, a.Ms) })
	return kinds, nil
}
