package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/internal/cpu"
)

func poolCases() []convCase {
	cs := []convCase{
		{"3x3s2same_odd", cvSame(2, 11, 9, 7, 3, 2, 0)},
		{"3x3s2same_even", cvSame(1, 10, 12, 19, 3, 2, 0)},
		{"3x3s1same", cvSame(2, 5, 6, 17, 3, 1, 0)},
		{"2x2s2", ConvParams{N: 2, H: 8, W: 7, C: 3, KH: 2, KW: 2, StrideH: 2, StrideW: 2}},
		{"asym", ConvParams{N: 1, H: 7, W: 9, C: 5, KH: 3, KW: 2, StrideH: 2, StrideW: 3, PadTop: 2, PadBottom: 0, PadLeft: 1, PadRight: 2}},
		{"allpad", ConvParams{N: 1, H: 2, W: 2, C: 2, KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadTop: 2, PadBottom: 2, PadLeft: 0, PadRight: 0}},
	}
	for i := range cs {
		cs[i].p.OC = 0
	}
	return cs
}

func TestMaxPool2D(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, tc := range poolCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			oh, ow, c := p.OutH(), p.OutW(), p.C
			x := cvRandSlice(r, p.N*p.H*p.W*c)
			// Make negative values common so that padding would win if it
			// were treated as zero, and add ties.
			for i := range x {
				x[i] = -float32(math.Abs(float64(x[i])))
				if i%7 == 0 {
					x[i] = -0.5
				}
			}
			want := make([]float32, p.N*oh*ow*c)
			wantIdx := make([]int32, len(want))
			for n := 0; n < p.N; n++ {
				for y0 := 0; y0 < oh; y0++ {
					for x0 := 0; x0 < ow; x0++ {
						for ch := 0; ch < c; ch++ {
							o := ((n*oh+y0)*ow+x0)*c + ch
							best, bi := float32(math.Inf(-1)), int32(-1)
							for kh := 0; kh < p.KH; kh++ {
								for kw := 0; kw < p.KW; kw++ {
									if ih, iw, ok := cvInside(p, y0, x0, kh, kw); ok {
										j := ((n*p.H+ih)*p.W+iw)*c + ch
										if bi < 0 || x[j] > best {
											best, bi = x[j], int32(j)
										}
									}
								}
							}
							want[o], wantIdx[o] = best, bi
						}
					}
				}
			}
			y, check := cvGuarded(t, len(want), cvNaNFill)
			idx := make([]int32, len(want))
			MaxPool2D(p, x, y, idx)
			check()
			y2 := make([]float32, len(want))
			MaxPool2D(p, x, y2, nil)
			for i := range want {
				if y[i] != want[i] || idx[i] != wantIdx[i] || y2[i] != want[i] {
					t.Fatalf("[%d] = %v (%d), %v without argmax; want %v (%d)", i, y[i], idx[i], y2[i], want[i], wantIdx[i])
				}
			}

			dy := cvRandSlice(r, len(want))
			for _, acc := range []bool{false, true} {
				init := cvRandSlice(r, len(x))
				fill := cvNaNFill
				if acc {
					fill = func(i int) float32 { return init[i] }
				}
				dx, check := cvGuarded(t, len(x), fill)
				MaxPool2DBackward(p, dy, idx, dx, acc)
				check()
				ref := make([]float64, len(x))
				mag := make([]float64, len(x))
				if acc {
					for i := range ref {
						ref[i], mag[i] = float64(init[i]), math.Abs(float64(init[i]))
					}
				}
				for i, j := range wantIdx {
					if j >= 0 {
						ref[j] += float64(dy[i])
						mag[j] += math.Abs(float64(dy[i]))
					}
				}
				cvCompare(t, "MaxPool2DBackward", dx, ref, mag)
			}
		})
	}
}

func TestAvgPoolGlobal(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	for _, s := range [][4]int{{1, 1, 1, 1}, {2, 5, 7, 19}, {3, 10, 10, 33}, {1, 4, 3, 64}} {
		n, h, w, c := s[0], s[1], s[2], s[3]
		x := cvRandSlice(r, n*h*w*c)
		want, mag := make([]float64, n*c), make([]float64, n*c)
		for i, v := range x {
			o := i/(h*w*c)*c + i%c
			want[o] += float64(v) / float64(h*w)
			mag[o] += math.Abs(float64(v)) / float64(h*w)
		}
		y, check := cvGuarded(t, n*c, cvNaNFill)
		AvgPoolGlobal(n, h, w, c, x, y)
		check()
		cvCompare(t, "AvgPoolGlobal", y, want, mag)

		dy := cvRandSlice(r, n*c)
		for _, acc := range []bool{false, true} {
			init := cvRandSlice(r, len(x))
			fill := cvNaNFill
			if acc {
				fill = func(i int) float32 { return init[i] }
			}
			dx, check := cvGuarded(t, len(x), fill)
			AvgPoolGlobalBackward(n, h, w, c, dy, dx, acc)
			check()
			ref, rmag := make([]float64, len(x)), make([]float64, len(x))
			for i := range ref {
				g := float64(dy[i/(h*w*c)*c+i%c]) / float64(h*w)
				ref[i], rmag[i] = g, math.Abs(g)
				if acc {
					ref[i] += float64(init[i])
					rmag[i] += math.Abs(float64(init[i]))
				}
			}
			cvCompare(t, "AvgPoolGlobalBackward", dx, ref, rmag)
		}
	}
}

// poolMax (assembly where available) against its pure-Go twin, bit for bit,
// with ties, signed zeros and NaNs at every position of the window.
func TestPoolMaxTwins(t *testing.T) {
	t.Run("best", testPoolMaxTwins)
	t.Run("noAVX512", func(t *testing.T) {
		defer cpu.Disable(cpu.AVX512)()
		testPoolMaxTwins(t)
	})
}

func testPoolMaxTwins(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	nan := float32(math.NaN())
	for _, c := range []int{1, 7, 16, 17, 64, 70, 130} {
		for _, ntaps := range []int{1, 2, 4, 9} {
			npix, step := 5, c+3
			src := make([][]float32, ntaps)
			a := make([]*float32, ntaps)
			for tp := range src {
				src[tp] = make([]float32, npix*step+c)
				for i := range src[tp] {
					switch r.IntN(8) {
					case 0:
						src[tp][i] = nan
					case 1:
						src[tp][i] = float32(math.Copysign(0, float64(r.IntN(2)*2-1)))
					case 2:
						src[tp][i] = 0.5
					default:
						src[tp][i] = float32(r.NormFloat64())
					}
				}
				a[tp] = &src[tp][0]
			}
			want := make([]float32, npix*(c+1))
			got := make([]float32, len(want))
			poolMaxGo(want, c+1, a, step, c, npix)
			poolMax(got, c+1, a, step, c, npix)
			for p := 0; p < npix; p++ {
				for ch := 0; ch < c; ch++ {
					// Reference: replaced only by a strictly greater value.
					m := src[0][p*step+ch]
					for tp := 1; tp < ntaps; tp++ {
						if v := src[tp][p*step+ch]; v > m {
							m = v
						}
					}
					i := p*(c+1) + ch
					if math.Float32bits(want[i]) != math.Float32bits(m) || math.Float32bits(got[i]) != math.Float32bits(m) {
						t.Fatalf("c=%d taps=%d p=%d ch=%d: Go %v, dispatched %v, want %v", c, ntaps, p, ch, want[i], got[i], m)
					}
				}
			}
		}
	}
}

// MaxPool2D without argmax on a wide-channel input with NaNs matches the
// argmax path bit for bit (NaN wins only as a window's first element).
func TestMaxPool2DWideNaN(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	p := cvSame(1, 13, 11, 70, 3, 2, 0)
	p.OC = 0
	x := cvRandSlice(r, p.N*p.H*p.W*p.C)
	for i := range x {
		if r.IntN(10) == 0 {
			x[i] = float32(math.NaN())
		}
	}
	n := p.N * p.OutH() * p.OutW() * p.C
	y1, y2 := make([]float32, n), make([]float32, n)
	MaxPool2D(p, x, y1, make([]int32, n))
	MaxPool2D(p, x, y2, nil)
	for i := range y1 {
		if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) {
			t.Fatalf("[%d] = %v without argmax, %v with", i, y2[i], y1[i])
		}
	}
}
