package tensor

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// The per-row operations against float64 definitions.
func TestRowOps(t *testing.T) {
	x, _ := FromSlice([]float32{0.5, -1, 2, -1e9, 3, 3, 0, 1, -7, 20, 0.25, -0.25}, 2, 2, 3)
	ls := New(2, 2, 3)
	LogSoftmax(ls, x)
	for r := range 4 {
		row := x.data[r*3 : r*3+3]
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v))
		}
		for j, v := range row {
			want := float64(v) - math.Log(s)
			if got := float64(ls.data[r*3+j]); !near(got, want, 1e-6) {
				t.Errorf("LogSoftmax row %d col %d: %v, want %v", r, j, got, want)
			}
		}
	}
	if p := math.Exp(float64(ls.data[3])); p != 0 {
		t.Errorf("masked entry has probability %v, want exactly 0", p)
	}
	// LogSoftmaxBackward: dx = dy − p·Σdy.
	dy, _ := FromSlice([]float32{1, 0, 0, 0, 1, -1, 2, 2, 2, 0.5, -3, 1}, 2, 2, 3)
	dx := New(2, 2, 3)
	LogSoftmaxBackward(dx, ls, dy, false)
	for r := range 4 {
		var s float64
		for j := range 3 {
			s += float64(dy.data[r*3+j])
		}
		for j := range 3 {
			i := r*3 + j
			want := float64(dy.data[i]) - math.Exp(float64(ls.data[i]))*s
			if !near(float64(dx.data[i]), want, 1e-6) {
				t.Errorf("LogSoftmaxBackward %d: %v, want %v", i, dx.data[i], want)
			}
		}
	}
	before := dx.Clone()
	LogSoftmaxBackward(dx, ls, dy, true)
	for i, v := range dx.data {
		if !near(float64(v), 2*float64(before.data[i]), 1e-6) {
			t.Fatalf("accumulate: %v, want twice %v", v, before.data[i])
		}
	}

	// PickLast and its scatter.
	idx := []int32{2, 0, 1, 2}
	pick := New(2, 2)
	PickLast(pick, x, idx)
	for r, j := range idx {
		if pick.data[r] != x.data[r*3+int(j)] {
			t.Errorf("PickLast row %d: %v, want %v", r, pick.data[r], x.data[r*3+int(j)])
		}
	}
	g := New(2, 2, 3)
	g.Fill(7)
	PickLastBackward(g, pick, idx, false)
	for i, v := range g.data {
		want := float32(0)
		if r := i / 3; int(idx[r]) == i%3 {
			want = pick.data[r]
		}
		if v != want {
			t.Fatalf("PickLastBackward %d: %v, want %v", i, v, want)
		}
	}
	PickLastBackward(g, pick, idx, true)
	if g.data[2] != 2*pick.data[0] || g.data[0] != 0 {
		t.Errorf("PickLastBackward accumulate: %v", g.data[:3])
	}

	// SumLast and BroadcastLast.
	sum := New(2, 2)
	small, _ := FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 2, 2, 3)
	SumLast(sum, small, false)
	SumLast(sum, small, true)
	for r, want := range []float32{12, 30, 48, 66} {
		if sum.data[r] != want {
			t.Errorf("SumLast row %d: %v, want %v", r, sum.data[r], want)
		}
	}
	b := New(2, 2, 3)
	BroadcastLast(b, sum, false)
	BroadcastLast(b, sum, true)
	for i, v := range b.data {
		if v != 2*sum.data[i/3] {
			t.Fatalf("BroadcastLast %d: %v", i, v)
		}
	}

	// Tanh, its backward, Exp.
	th := New(2, 2, 3)
	Tanh(th, small)
	e := New(2, 2, 3)
	Exp(e, ls)
	for i, v := range small.data {
		if !near(float64(th.data[i]), math.Tanh(float64(v)), 1e-7) {
			t.Errorf("Tanh(%v) = %v", v, th.data[i])
		}
		if !near(float64(e.data[i]), math.Exp(float64(ls.data[i])), 1e-6) {
			t.Errorf("Exp(%v) = %v", ls.data[i], e.data[i])
		}
	}
	Tanh(th, x)
	TanhBackward(dx, th, dy, false)
	for i := range dx.data {
		y := math.Tanh(float64(x.data[i]))
		if want := float64(dy.data[i]) * (1 - y*y); !near(float64(dx.data[i]), want, 1e-6) {
			t.Errorf("TanhBackward %d: %v, want %v", i, dx.data[i], want)
		}
	}
}

// Shapes that do not fit panic with a *ShapeError.
func TestRowOpsShapes(t *testing.T) {
	for name, f := range map[string]func(){
		"PickLast rows":   func() { PickLast(New(3), New(2, 3), []int32{0, 0, 0}) },
		"PickLast index":  func() { PickLast(New(2), New(2, 3), []int32{0, 3}) },
		"PickLast labels": func() { PickLast(New(2), New(2, 3), []int32{0}) },
		"SumLast":         func() { SumLast(New(3), New(2, 3), false) },
		"LogSoftmax":      func() { LogSoftmax(New(2, 4), New(2, 3)) },
		"Tanh":            func() { Tanh(New(2), New(3)) },
	} {
		func() {
			defer func() {
				if _, ok := recover().(*ShapeError); !ok {
					t.Errorf("%s: no *ShapeError panic", name)
				}
			}()
			f()
		}()
	}
}

// The fast tanh agrees with math.Tanh to float64 rounding.
func TestTanhAccuracy(t *testing.T) {
	for x := -30.0; x <= 30; x += 0.0137 {
		for _, v := range []float64{x, x * 1e-6} {
			if d := math.Abs(tanh(v) - math.Tanh(v)); d > 1e-15 {
				t.Fatalf("tanh(%v) = %v, math.Tanh %v", v, tanh(v), math.Tanh(v))
			}
		}
	}
	if !math.Signbit(tanh(math.Copysign(0, -1))) || tanh(math.Inf(1)) != 1 || tanh(math.Inf(-1)) != -1 {
		t.Error("tanh(−0), tanh(±Inf)")
	}
}
