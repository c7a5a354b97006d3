package box

import (
	"math"
	"testing"
)

func TestIoU(t *testing.T) {
	a := Box{0, 0, 10, 10}
	cases := []struct {
		b    Box
		want float32
	}{
		{Box{0, 0, 10, 10}, 1}, {Box{5, 0, 15, 10}, 50.0 / 150}, {Box{10, 10, 20, 20}, 0}, {Box{2, 2, 4, 4}, 4.0 / 100}, {Box{3, 3, 3, 9}, 0},
	}
	for _, c := range cases {
		if got := IoU(a, c.b); got != c.want {
			t.Errorf("IoU(%v, %v) = %v, want %v", a, c.b, got, c.want)
		}
	}
}

func TestNMS(t *testing.T) {
	dets := []Scored{
		{Box{0, 0, 10, 10}, 0.9, 0},
		{Box{1, 1, 11, 11}, 0.8, 0}, // IoU 0.68 with the first: suppressed
		{Box{1, 1, 11, 11}, 0.7, 1}, // other class: kept
		{Box{20, 20, 30, 30}, 0.95, 0},
		{Box{5, 0, 15, 10}, 0.6, 0}, // IoU 0.33: kept
	}
	got := NMS(dets, 0.5, 0)
	want := []float32{0.95, 0.9, 0.7, 0.6}
	if len(got) != len(want) {
		t.Fatalf("kept %v", got)
	}
	for i, d := range got {
		if d.Score != want[i] {
			t.Errorf("kept[%d] score %v, want %v", i, d.Score, want[i])
		}
	}
	if got := NMS([]Scored{{Box{0, 0, 1, 1}, 1, 0}, {Box{5, 5, 6, 6}, 0.5, 0}}, 0.5, 1); len(got) != 1 {
		t.Errorf("maxKeep ignored: %v", got)
	}
}

// W, H and Area clamp at 0 for inverted boxes and propagate NaN; Clip and
// Scale act on every corner.
func TestWidthSemantics(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		b          Box
		w, h, area float32
	}{
		{Box{1, 2, 4, 8}, 3, 6, 18},
		{Box{4, 2, 1, 8}, 0, 6, 0},      // inverted in x
		{Box{1, 8, 4, 2}, 3, 0, 0},      // inverted in y
		{Box{3, 3, 3, 9}, 0, 6, 0},      // empty
		{Box{-5, -5, -1, -2}, 4, 3, 12}, // negative coordinates are fine
	} {
		if w, h, a := c.b.W(), c.b.H(), c.b.Area(); w != c.w || h != c.h || a != c.area {
			t.Errorf("%v: W %v H %v Area %v, want %v %v %v", c.b, w, h, a, c.w, c.h, c.area)
		}
	}
	if w := (Box{0, 0, nan, 1}).W(); !math.IsNaN(float64(w)) {
		t.Errorf("W of a NaN box = %v, want NaN", w)
	}
	if got := (Box{-2, 3, 12, 20}).Clip(10, 15); got != (Box{0, 3, 10, 15}) {
		t.Errorf("Clip = %v", got)
	}
	if got := XYXY(1, 2, 3, 4).Scale(2); got != (Box{2, 4, 6, 8}) {
		t.Errorf("Scale = %v", got)
	}
}
