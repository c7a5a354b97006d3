package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/internal/cpu"
)

// Conv2DPre gives exactly Conv2D's results: with the packed layout in use,
// and when the kernel selection changed after packing (fallback).
func TestConv2DPre(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := []ConvParams{
		{N: 1, H: 9, W: 7, C: 24, KH: 1, KW: 1, OC: 40, StrideH: 1, StrideW: 1},  // 1×1, B read directly
		{N: 1, H: 5, W: 6, C: 20, KH: 1, KW: 1, OC: 300, StrideH: 1, StrideW: 1}, // 1×1, wide B
		cvSame(1, 10, 9, 19, 3, 1, 37),                                           // 3×3
		cvSame(2, 11, 12, 16, 3, 2, 33),                                          // 3×3 stride 2
		{N: 1, H: 5, W: 5, C: 64, KH: 3, KW: 3, OC: 70, StrideH: 1, StrideW: 1, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1},
		{N: 1, H: 6, W: 6, C: 300, KH: 3, KW: 3, OC: 17, StrideH: 1, StrideW: 1, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}, // several k blocks
	}
	for _, noAVX512 := range []bool{false, true} {
		for i, p := range cases {
			x := cvRandSlice(r, p.N*p.H*p.W*p.C)
			w := cvRandSlice(r, p.KH*p.KW*p.C*p.OC)
			m := p.N * p.OutH() * p.OutW()
			ep := &Epilogue{Bias: cvRandSlice(r, p.OC), Residual: cvRandSlice(r, m*p.OC), LdResidual: p.OC, Act: ActSwish}
			pw := PackConvWeights(p, w)
			func() {
				if noAVX512 {
					defer cpu.Disable(cpu.AVX512)()
				}
				for _, threads := range []int{1, 2} {
					e := NewExec(threads)
					want := make([]float32, m*p.OC)
					got := make([]float32, m*p.OC)
					e.Conv2D(p, x, w, want, ep)
					e.Conv2DPre(p, x, pw, got, ep)
					e.Close()
					for j := range want {
						if math.Float32bits(want[j]) != math.Float32bits(got[j]) {
							t.Fatalf("case %d (noAVX512 %v, %d threads): [%d] = %v, Conv2D %v", i, noAVX512, threads, j, got[j], want[j])
						}
					}
				}
			}()
		}
	}
}
