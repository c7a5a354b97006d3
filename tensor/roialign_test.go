package tensor

import (
	"errors"
	"math"
	"testing"

	"github.com/spinenet-go/spinenet/detection/box"
)

// The level examples of Mask R-CNN spec §15 for [3, 7], and the clamps.
func TestAssignRoILevel(t *testing.T) {
	sq := func(s float32) box.Box { return box.Box{X1: 10, Y1: 20, X2: 10 + s, Y2: 20 + s} }
	for _, c := range []struct {
		name     string
		b        box.Box
		min, max int
		want     int
	}{
		{"100", sq(100), 3, 7, 3},
		{"224", sq(224), 3, 7, 4},
		{"447", sq(447), 3, 7, 4},
		{"448", sq(448), 3, 7, 5},
		{"900", sq(900), 3, 7, 6},
		{"0", sq(0), 3, 7, 3},
		{"1792", sq(1792), 3, 7, 7},
		{"huge clamped", sq(100000), 3, 7, 7},
		{"inverted", box.Box{X1: 50, Y1: 50, X2: 10, Y2: 90}, 3, 7, 3},
		{"NaN", box.Box{X1: float32(math.NaN()), X2: 5, Y2: 5}, 3, 7, 3},
		{"torchvision levels", sq(100), 2, 5, 2},
		{"224×56 (√ = 112)", box.Box{X2: 224, Y2: 56}, 3, 7, 3},
		{"896×224 (√ = 448)", box.Box{X2: 896, Y2: 224}, 3, 7, 5},
	} {
		if got := AssignRoILevel(c.b, c.min, c.max); got != c.want {
			t.Errorf("%s: level %d, want %d", c.name, got, c.want)
		}
	}
}

// rampLevel returns a [2,H,W,C] map with value f(y, x) in every channel.
func rampLevel(h, w, c int, f func(y, x int) float32) *Tensor {
	t := New(2, h, w, c)
	for n := range 2 {
		for y := range h {
			for x := range w {
				for k := range c {
					t.Set(f(y, x), n, y, x, k)
				}
			}
		}
	}
	return t
}

// The RoIAlign vectors of spec §15: a constant map gives the constant, and a
// ramp f(y, x) = x on a stride-s level gives x1/s + (j + 0.5)(x2 − x1)/(S·s)
// in output column j, in both modes while the samples stay in the map.
func TestRoIAlignSpecVectors(t *testing.T) {
	strides := []float64{8, 16}
	inside := []RoI{
		{Batch: 0, Level: 0, Box: box.Box{X1: 8, Y1: 16, X2: 120, Y2: 90}},
		{Batch: 1, Level: 1, Box: box.Box{X1: 30, Y1: 5, X2: 100, Y2: 60}},
		{Batch: 1, Level: 0, Box: box.Box{X1: 100, Y1: 40, X2: 200, Y2: 130}},
	}
	outside := []RoI{ // reaching past the map: TF clamps to the edge
		{Batch: 0, Level: 0, Box: box.Box{X1: -40, Y1: -30, X2: 60, Y2: 50}},
		{Batch: 1, Level: 1, Box: box.Box{X1: 150, Y1: 100, X2: 400, Y2: 300}},
	}
	const c = 3
	for _, s := range []int{7, 14} {
		for _, mode := range []RoIAlignMode{RoIAlignTF, RoIAlignTorchvision} {
			opt := RoIAlignOptions{Mode: mode}
			konst := []*Tensor{rampLevel(20, 30, c, func(int, int) float32 { return 2.5 }), rampLevel(10, 15, c, func(int, int) float32 { return 2.5 })}
			rois := inside
			if mode == RoIAlignTF {
				rois = append(append([]RoI(nil), inside...), outside...)
			}
			y := New(len(rois), s, s, c)
			RoIAlign(y, konst, strides, rois, opt)
			for i, v := range y.Data() {
				// Extrapolated samples (TF, above or left of the map) sum
				// float32 terms of opposite signs; allow for their rounding.
				if math.Abs(float64(v)-2.5) > 1e-4 {
					t.Fatalf("S=%d mode %d: constant map gives %v at %d", s, mode, v, i)
				}
			}
			ramp := []*Tensor{rampLevel(20, 30, c, func(_, x int) float32 { return float32(x) }), rampLevel(10, 15, c, func(_, x int) float32 { return float32(x) })}
			y = New(len(inside), s, s, c)
			RoIAlign(y, ramp, strides, inside, opt)
			for r, roi := range inside {
				st := strides[roi.Level]
				for i := range s {
					for j := range s {
						want := float64(roi.Box.X1)/st + (float64(j)+0.5)*float64(roi.Box.X2-roi.Box.X1)/(float64(s)*st)
						for k := range c {
							if got := float64(y.At(r, i, j, k)); math.Abs(got-want) > 1e-4 {
								t.Fatalf("S=%d mode %d region %d: column %d reads %v, want %v", s, mode, r, j, got, want)
							}
						}
					}
				}
			}
		}
	}
}

func TestRoIAlignShapeErrors(t *testing.T) {
	l0, l1 := New(2, 6, 5, 3), New(2, 3, 3, 3)
	good := []RoI{{Batch: 1, Level: 1, Box: box.Box{X2: 10, Y2: 10}}}
	for name, f := range map[string]func(){
		"output rows": func() { RoIAlign(New(2, 7, 7, 3), []*Tensor{l0, l1}, []float64{8, 16}, good, RoIAlignOptions{}) },
		"channels":    func() { RoIAlign(New(1, 7, 7, 4), []*Tensor{l0, l1}, []float64{8, 16}, good, RoIAlignOptions{}) },
		"strides":     func() { RoIAlign(New(1, 7, 7, 3), []*Tensor{l0, l1}, []float64{8}, good, RoIAlignOptions{}) },
		"zero stride": func() { RoIAlign(New(1, 7, 7, 3), []*Tensor{l0, l1}, []float64{8, 0}, good, RoIAlignOptions{}) },
		"batch mismatch": func() {
			RoIAlign(New(1, 7, 7, 3), []*Tensor{l0, New(1, 3, 3, 3)}, []float64{8, 16}, good, RoIAlignOptions{})
		},
		"level index": func() { RoIAlign(New(1, 7, 7, 3), []*Tensor{l0}, []float64{8}, good, RoIAlignOptions{}) },
		"image index": func() {
			RoIAlign(New(1, 7, 7, 3), []*Tensor{New(1, 6, 5, 3), New(1, 3, 3, 3)}, []float64{8, 16}, good, RoIAlignOptions{})
		},
		"nil level":       func() { RoIAlign(New(1, 7, 7, 3), []*Tensor{l0, nil}, []float64{8, 16}, good, RoIAlignOptions{}) },
		"backward region": func() { RoIAlignBackward([]*Tensor{l0}, New(1, 7, 7, 3), []float64{8}, good, RoIAlignOptions{}) },
		"d2s channels":    func() { DepthToSpace(New(1, 4, 4, 3), New(1, 2, 2, 6), 2) },
		"d2s output":      func() { DepthToSpace(New(1, 4, 5, 2), New(1, 2, 2, 8), 2) },
	} {
		func() {
			defer func() {
				var se *ShapeError
				if err, _ := recover().(error); !errors.As(err, &se) {
					t.Errorf("%s: panicked with %v, want a *ShapeError", name, err)
				}
			}()
			f()
		}()
	}
	// Backward with no level needing a gradient does nothing.
	RoIAlignBackward([]*Tensor{nil, nil}, New(1, 7, 7, 3), []float64{8, 16}, good, RoIAlignOptions{})
}

// SigmoidBCE and its gradient against float64 definitions, at logits large
// enough to overflow a naive exp, with soft targets and per-row weights.
func TestSigmoidBCE(t *testing.T) {
	x, _ := FromSlice([]float32{-800, -3, -0.5, 0, 0.25, 2, 40, 900}, 2, 4)
	z, _ := FromSlice([]float32{0, 0.3, 1, 0.5, 0.75, 0, 1, 0.2}, 2, 4)
	w, _ := FromSlice([]float32{1.5, 0.5}, 2)
	var want float64
	grad := make([]float64, 8)
	for i, v := range x.Data() {
		xv, zv, wv := float64(v), float64(z.Data()[i]), float64(w.Data()[i/4])
		// log(1+e^x) − x·z written with a softplus that does not overflow.
		sp := math.Max(xv, 0) + math.Log1p(math.Exp(-math.Abs(xv)))
		want += wv * (sp - xv*zv)
		grad[i] = wv * (1/(1+math.Exp(-xv)) - zv)
	}
	if got := SigmoidBCE(x, z, w); !near(got, want, 1e-12) || math.IsInf(got, 0) {
		t.Errorf("SigmoidBCE %v, want %v", got, want)
	}
	dx := New(2, 4)
	dx.Fill(1)
	SigmoidBCEGrad(dx, x, z, w, 0.5, true)
	for i, g := range grad {
		if got := float64(dx.Data()[i]); !near(got, 1+0.5*g, 1e-6) {
			t.Errorf("grad[%d] %v, want %v", i, got, 1+0.5*g)
		}
	}
	// Unweighted: the per-element mean at x = 0 is log 2 for any target.
	zero, half := New(3), New(3)
	half.Fill(0.5)
	if got := SigmoidBCE(zero, half, nil) / 3; !near(got, math.Ln2, 1e-12) {
		t.Errorf("BCE at 0: %v, want log 2", got)
	}
}

func TestGatherClass(t *testing.T) {
	// [R=2, A=2, K=3, B=2]
	x := New(2, 2, 3, 2)
	for i := range x.Data() {
		x.Data()[i] = float32(i)
	}
	classes := []int32{2, 0}
	y := New(2, 2, 2)
	GatherClass(y, x, 2, classes)
	for r := range 2 {
		for a := range 2 {
			for b := range 2 {
				if got, want := y.At(r, a, b), x.At(r, a, int(classes[r]), b); got != want {
					t.Errorf("y[%d,%d,%d] = %v, want %v", r, a, b, got, want)
				}
			}
		}
	}
	dx := New(2, 2, 3, 2)
	GatherClassBackward(dx, y, -2, classes, false)
	for i, v := range dx.Data() {
		r, c := i/12, i/2%3
		want := float32(0)
		if c == int(classes[r]) {
			want = x.Data()[i]
		}
		if v != want {
			t.Errorf("dx[%d] = %v, want %v", i, v, want)
		}
	}
	for name, f := range map[string]func(){
		"axis 0":    func() { GatherClass(New(2, 3, 2), x, 0, classes) },
		"dst shape": func() { GatherClass(New(2, 2, 3), x, 2, classes) },
		"class":     func() { GatherClass(y, x, 2, []int32{3, 0}) },
		"count":     func() { GatherClass(y, x, 2, []int32{1}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
