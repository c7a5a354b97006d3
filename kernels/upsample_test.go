package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestUpsampleNearest(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, s := range [][6]int{
		{2, 5, 7, 3, 10, 14},    // factor 2
		{1, 3, 4, 17, 12, 16},   // factor 4
		{1, 5, 5, 2, 8, 8},      // non-integer factor 1.6
		{2, 3, 7, 5, 7, 10},     // different factors per axis
		{1, 6, 9, 4, 4, 5},      // downsampling
		{1, 10, 10, 33, 40, 40}, // factor 4, wide C
	} {
		n, h, w, c, oh, ow := s[0], s[1], s[2], s[3], s[4], s[5]
		x := cvRandSlice(r, n*h*w*c)
		y, check := cvGuarded(t, n*oh*ow*c, cvNaNFill)
		UpsampleNearest(n, h, w, c, oh, ow, x, y)
		check()
		src := func(i int) int { // source index of output element i
			b, rem := i/(oh*ow*c), i%(oh*ow*c)
			oy, ox, ch := rem/(ow*c), rem/c%ow, rem%c
			iy, ix := int(math.Floor(float64(oy)*float64(h)/float64(oh))), int(math.Floor(float64(ox)*float64(w)/float64(ow)))
			return ((b*h+iy)*w+ix)*c + ch
		}
		for i := range y {
			if y[i] != x[src(i)] {
				t.Fatalf("%v: y[%d] = %v, want %v", s, i, y[i], x[src(i)])
			}
		}
		if oh%h == 0 && ow%w == 0 { // integer factor: src = dst/f
			f, g := oh/h, ow/w
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					if y[(oy*ow+ox)*c] != x[(oy/f*w+ox/g)*c] {
						t.Fatalf("%v: integer factor is not replication at (%d,%d)", s, oy, ox)
					}
				}
			}
		}

		dy := cvRandSlice(r, len(y))
		for _, acc := range []bool{false, true} {
			init := cvRandSlice(r, len(x))
			fill := cvNaNFill
			if acc {
				fill = func(i int) float32 { return init[i] }
			}
			dx, check := cvGuarded(t, len(x), fill)
			UpsampleNearestBackward(n, h, w, c, oh, ow, dy, dx, acc)
			check()
			ref, mag := make([]float64, len(x)), make([]float64, len(x))
			if acc {
				for i := range ref {
					ref[i], mag[i] = float64(init[i]), math.Abs(float64(init[i]))
				}
			}
			for i, g := range dy {
				ref[src(i)] += float64(g)
				mag[src(i)] += math.Abs(float64(g))
			}
			cvCompare(t, "UpsampleNearestBackward", dx, ref, mag)
		}
	}
}
