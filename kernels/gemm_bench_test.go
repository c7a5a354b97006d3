package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// gemmBenchShapes are SGEMM 1024³ and the convolution-like shapes:
// 3×3 conv forward (im2col), its weight gradient, and a 1×1 conv.
var gemmBenchShapes = []struct {
	m, n, k        int
	transA, transB bool
}{
	{1024, 1024, 1024, false, false},
	{25600, 64, 576, false, false}, // 3×3 conv, 64→64 channels, 160×160 map
	{576, 64, 25600, true, false},  // its weight gradient: Xᵀ·dY
	{6400, 256, 64, false, false},  // 1×1 conv, 64→256 channels, 80×80 map
}

func BenchmarkSgemm(b *testing.B) {
	for _, sh := range gemmBenchShapes {
		name := fmt.Sprintf("m=%d,n=%d,k=%d", sh.m, sh.n, sh.k)
		if sh.transA {
			name += ",tA"
		}
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			m, n, k := sh.m, sh.n, sh.k
			a := gemmRandSlice(rng, m*k)
			bb := gemmRandSlice(rng, k*n)
			c := make([]float32, m*n)
			lda := k
			if sh.transA {
				lda = m
			}
			Sgemm(sh.transA, false, m, n, k, 1, a, lda, bb, n, 0, c, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				Sgemm(sh.transA, false, m, n, k, 1, a, lda, bb, n, 0, c, n)
			}
			b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkPeakFMA measures the FMA peak (the 100 % of BenchmarkSgemm) in the
// same run, on 1 and 2 threads.
func BenchmarkPeakFMA(b *testing.B) {
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			var g float64
			for i := 0; i < b.N; i++ {
				g = MeasurePeakGFLOPS(th, 50*time.Millisecond)
			}
			b.ReportMetric(g, "GFLOP/s")
		})
	}
}
