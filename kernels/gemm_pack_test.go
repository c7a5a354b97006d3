package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMatrixPack checks Matrix.PackA/PackB against the documented formats.
func TestMatrixPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, trans := range []bool{false, true} {
		for _, mr := range []int{1, 4, 6, 12, 14, 32} {
			r, c := 41, 37
			stride := 45
			if trans {
				r, c = c, r
			}
			m := Matrix{Data: gemmRandSlice(rng, r*stride), Stride: stride, Trans: trans}
			// Logical 41×37 matrix.
			for _, blk := range [][4]int{{0, 41, 0, 37}, {3, 17, 5, 9}, {40, 1, 36, 1}, {7, 13, 0, 1}} {
				i0, mc, p0, kc := blk[0], blk[1], blk[2], blk[3]
				np := (mc + mr - 1) / mr
				dst := gemmRandSlice(rng, np*mr*kc+5)
				tail := append([]float32(nil), dst[np*mr*kc:]...)
				m.PackA(dst, mr, i0, mc, p0, kc)
				for q := 0; q < np; q++ {
					for p := 0; p < kc; p++ {
						for rr := 0; rr < mr; rr++ {
							want := float32(0)
							if i := q*mr + rr; i < mc {
								want = m.at(i0+i, p0+p)
							}
							if got := dst[q*mr*kc+p*mr+rr]; got != want {
								t.Fatalf("PackA trans=%v mr=%d blk=%v: [%d,%d,%d] = %v, want %v", trans, mr, blk, q, p, rr, got, want)
							}
						}
					}
				}
				// PackB of the same matrix viewed as B (k×n = 41×37).
				p0b, kcb, j0, nc := i0, mc, p0, kc
				nq := (nc + mr - 1) / mr
				dstB := gemmRandSlice(rng, nq*mr*kcb+5)
				m.PackB(dstB, mr, p0b, kcb, j0, nc)
				for q := 0; q < nq; q++ {
					for p := 0; p < kcb; p++ {
						for cc := 0; cc < mr; cc++ {
							want := float32(0)
							if j := q*mr + cc; j < nc {
								want = m.at(p0b+p, j0+j)
							}
							if got := dstB[q*mr*kcb+p*mr+cc]; got != want {
								t.Fatalf("PackB trans=%v nr=%d blk=%v: [%d,%d,%d] = %v, want %v", trans, mr, blk, q, p, cc, got, want)
							}
						}
					}
				}
				for i, v := range tail {
					if dst[np*mr*kc+i] != v {
						t.Fatalf("PackA wrote past its panels")
					}
				}
			}
		}
	}
}

func BenchmarkPackA(b *testing.B) {
	for _, trans := range []bool{false, true} {
		b.Run(fmt.Sprintf("trans=%v", trans), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			const mc, kc, lda = 192, 256, 1024
			m := Matrix{Data: gemmRandSlice(rng, lda*lda), Stride: lda, Trans: trans}
			dst := make([]float32, mc*kc)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.PackA(dst, 12, 0, mc, 0, kc)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(mc*kc), "ns/float")
		})
	}
}
