package tensor

import (
	"math/rand/v2"
	"testing"
)

// index decomposes a flat offset into coordinates of shape.
func index(shape []int, off int) []int {
	idx := make([]int, len(shape))
	for i := len(shape) - 1; i >= 0; i-- {
		idx[i] = off % shape[i]
		off /= shape[i]
	}
	return idx
}

func TestSliceInsertAxis(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	full := []int{2, 3, 4, 5}
	for axis := range full {
		src := randTensor(rng, -1, 1, full...)
		part := append([]int(nil), full...)
		part[axis] = 2
		start := full[axis] - 2
		dst := New(part...)
		dst.Fill(1)
		SliceAxis(dst, src, axis-len(full), start, true) // negative axis, accumulate
		for off := range dst.Len() {
			idx := index(part, off)
			idx[axis] += start
			if dst.data[off] != 1+src.At(idx...) {
				t.Fatalf("axis %d: SliceAxis[%v] = %v, want 1+%v", axis, index(part, off), dst.data[off], src.At(idx...))
			}
		}
		whole := src.Clone()
		InsertAxis(whole, dst, axis, 0, false)
		for off := range whole.Len() {
			idx := index(full, off)
			want := src.data[off]
			if idx[axis] < 2 {
				p := append([]int(nil), idx...)
				want = dst.At(p...)
			}
			if whole.data[off] != want {
				t.Fatalf("axis %d: InsertAxis[%v] = %v, want %v", axis, idx, whole.data[off], want)
			}
		}
	}
	for name, f := range map[string]func(){
		"range": func() { SliceAxis(New(2, 3), New(2, 4), 1, 2, false) },
		"other": func() { InsertAxis(New(2, 4), New(3, 1), 1, 0, false) },
		"axis":  func() { SliceAxis(New(2, 3), New(2, 4), 2, 0, false) },
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

func TestScaleByExampleAndMask(t *testing.T) {
	src := New(3, 2, 2)
	src.Fill(2)
	scale, _ := FromSlice([]float32{0, 1.5, -1}, 3)
	dst := New(3, 2, 2)
	dst.Fill(7)
	ScaleByExample(dst, src, scale, false)
	want := []float32{0, 3, -2}
	for i, v := range dst.data {
		if v != want[i/4] {
			t.Fatalf("ScaleByExample = %v", dst.data)
		}
	}
	ScaleByExample(dst, src, scale, true)
	for i, v := range dst.data {
		if v != 2*want[i/4] {
			t.Fatalf("ScaleByExample accumulate = %v", dst.data)
		}
	}
	m := New(50)
	BernoulliMask(m, rand.New(rand.NewPCG(1, 2)), 1)
	for _, v := range m.data {
		if v != 1 {
			t.Fatalf("keep 1 mask %v", m.data)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("keep 0 did not panic")
		}
	}()
	BernoulliMask(m, rand.New(rand.NewPCG(1, 2)), 0)
}
