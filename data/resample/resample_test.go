package resample

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestAtAndCenter(t *testing.T) {
	for _, c := range []struct {
		f    float64
		n    int
		want Tap
	}{
		{-0.25, 4, Tap{0, 0, 0}}, // left border clamps
		{0, 4, Tap{0, 0, 0}},
		{0.25, 4, Tap{0, 1, 0.25}},
		{2.5, 4, Tap{2, 3, 0.5}},
		{3, 4, Tap{3, 3, 0}}, // right border clamps
		{7, 4, Tap{3, 3, 0}},
		{0.5, 1, Tap{0, 0, 0}}, // one-pixel axis
	} {
		if got := At(c.f, c.n); got != c.want {
			t.Errorf("At(%v, %d) = %+v, want %+v", c.f, c.n, got, c.want)
		}
	}
	// Downscaling 4 → 2: output 0 samples source 0.5, output 1 source 2.5.
	if a, b := Center(0, 2), Center(1, 2); a != 0.5 || b != 2.5 {
		t.Errorf("Center at inv 2: %v %v", a, b)
	}
	// Upscaling 2 → 4: output 1 samples source 0.25.
	if got := Center(1, 0.5); got != 0.25 {
		t.Errorf("Center(1, 0.5) = %v", got)
	}
}

// reference is a direct per-pixel bilinear evaluation with the same
// float32 operations.
func reference(img Image, cols, rows []Tap) [][]float32 {
	c := img.Channels
	px := func(x, y int32, k int) float32 { return float32(img.Pix[(int(y)*img.Width+int(x))*c+k]) }
	var out [][]float32
	for _, r := range rows {
		var row []float32
		for _, t := range cols {
			for k := range c {
				top := px(t.I0, r.I0, k) + t.W*(px(t.I1, r.I0, k)-px(t.I0, r.I0, k))
				bot := px(t.I0, r.I1, k) + t.W*(px(t.I1, r.I1, k)-px(t.I0, r.I1, k))
				row = append(row, top+r.W*(bot-top))
			}
		}
		out = append(out, row)
	}
	return out
}

// Rows equals the direct evaluation for 1, 2 and 3 channels, for up- and
// downscaling, and for rows in any order (the two-row cache must never
// serve a stale row); its buffers are reused across calls.
func TestRowsMatchesDirectBilinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var bl Bilinear
	for _, c := range []struct{ w, h, ch, ow, oh int }{
		{7, 5, 3, 13, 11}, {9, 8, 1, 4, 3}, {6, 6, 2, 6, 6}, {1, 1, 3, 3, 2}, {12, 3, 3, 5, 9},
	} {
		img := Image{Pix: make([]uint8, c.w*c.h*c.ch), Width: c.w, Height: c.h, Channels: c.ch}
		for i := range img.Pix {
			img.Pix[i] = uint8(rng.IntN(256))
		}
		cols := make([]Tap, c.ow)
		for u := range cols {
			cols[u] = At(Center(u, float64(c.w)/float64(c.ow)), c.w)
		}
		rows := make([]Tap, c.oh)
		for v := range rows {
			rows[v] = At(Center(v, float64(c.h)/float64(c.oh)), c.h)
		}
		shuffled := slices.Clone(rows)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for _, rs := range [][]Tap{rows, shuffled, slices.Concat(rows, rows)} {
			want := reference(img, cols, rs)
			n := 0
			bl.Rows(img, cols, rs, func(y int, row []float32) {
				if y != n {
					t.Fatalf("%+v: row %d emitted as %d", c, n, y)
				}
				n++
				if !slices.Equal(row, want[y]) {
					t.Fatalf("%+v: row %d = %v, want %v", c, y, row, want[y])
				}
			})
			if n != len(rs) {
				t.Fatalf("%+v: %d rows emitted, want %d", c, n, len(rs))
			}
		}
	}
}

// At the source's own size the taps have weight 0 and the image is copied
// exactly.
func TestRowsIdentity(t *testing.T) {
	img := Image{Pix: []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Width: 2, Height: 2, Channels: 3}
	taps := []Tap{At(Center(0, 1), 2), At(Center(1, 1), 2)}
	var got []float32
	new(Bilinear).Rows(img, taps, taps, func(_ int, row []float32) { got = append(got, row...) })
	for i, v := range got {
		if v != float32(img.Pix[i]) {
			t.Fatalf("value %d = %v, want %v", i, v, img.Pix[i])
		}
	}
}
