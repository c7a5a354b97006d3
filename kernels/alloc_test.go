package kernels

import (
	"github.com/spinenet-go/spinenet/internal/racebuild"
	"math/rand/v2"
	"testing"
)

// TestTrainingKernelsAllocs checks that the kernels of a training step run
// on two threads without allocating once their workspaces have grown: the
// parallel loops take pooled argument structs, not closures (see Ranger).
func TestTrainingKernelsAllocs(t *testing.T) {
	if racebuild.Enabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	e := NewExec(2)
	defer e.Close()
	r := rand.New(rand.NewPCG(3, 4))
	const n, h, w, c = 2, 33, 31, 32
	x := winoRand(r, n*h*w*c)
	// A stride-2 3×3 convolution: im2col packing forward and for the weight
	// gradient, the stride-phase scatter for the input gradient.
	conv := ConvParams{N: n, H: h, W: w, C: c, KH: 3, KW: 3, OC: 48, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}
	cw := winoRand(r, 9*c*conv.OC)
	cy := make([]float32, n*conv.OutH()*conv.OutW()*conv.OC)
	cdw := make([]float32, len(cw))
	cdx := make([]float32, len(x))
	pool := ConvParams{N: n, H: h, W: w, C: c, KH: 3, KW: 3, OC: c, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}
	py := make([]float32, n*pool.OutH()*pool.OutW()*c)
	am := make([]int32, len(py))
	pdx := make([]float32, len(x))
	up := make([]float32, n*2*h*2*w*c)
	udx := make([]float32, len(x))
	gy := make([]float32, n*c)
	gdx := make([]float32, len(x))
	step := func() {
		e.Conv2D(conv, x, cw, cy, nil)
		e.Conv2DBackwardData(conv, cy, cw, cdx, false)
		e.Conv2DBackwardFilter(conv, x, cy, cdw, false)
		e.MaxPool2D(pool, x, py, am)
		e.MaxPool2DBackward(pool, py, am, pdx, false)
		e.UpsampleNearest(n, h, w, c, 2*h, 2*w, x, up)
		e.UpsampleNearestBackward(n, h, w, c, 2*h, 2*w, up, udx, true)
		e.AvgPoolGlobal(n, h, w, c, x, gy)
		e.AvgPoolGlobalBackward(n, h, w, c, gy, gdx, false)
	}
	step()
	if a := testing.AllocsPerRun(10, step); a != 0 {
		t.Errorf("%v allocations per step, want 0", a)
	}
}
