package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/spinenet-go/spinenet/internal/cpu"
)

func gemmRandSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// gemmClose reports whether got is within a mixed relative/absolute
// tolerance of want for a sum of k products of values of magnitude ≤ 1.
func gemmClose(got, want float32, k int) bool {
	if math.IsNaN(float64(got)) || math.IsNaN(float64(want)) {
		return false
	}
	tol := 1e-5 * float64(k+1) * (1 + math.Abs(float64(want)))
	return math.Abs(float64(got-want)) <= tol
}

// TestMicroKernels compares every assembly micro-kernel, in both addressing
// variants and both store modes, with the pure-Go kernel.
func TestMicroKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tk := range testedKernels {
		if !cpu.Has(tk.need) {
			t.Logf("skipping %s: CPU lacks %v", tk.k.name, tk.need)
			continue
		}
		mk := tk.k
		mr, nr := mk.mr, mk.nr
		for _, k := range []int{0, 1, 2, 3, 4, 5, 7, 8, 13, 64, 67} {
			for _, variant := range []string{"packed", "colA", "rowA"} {
				for _, flags := range []int{0, kernelAccumulate} {
					lda := 37 + mr + k
					var rs, cs int
					var fn kernelFunc
					switch variant {
					case "packed":
						rs, cs, fn = 1, mr, mk.colA
					case "colA":
						rs, cs, fn = 1, lda, mk.colA
					case "rowA":
						rs, cs, fn = lda, 1, mk.rowA
					}
					a := gemmRandSlice(rng, lda*max(mr, k)+1)
					b := gemmRandSlice(rng, k*nr+1)
					const ldc = 77
					const guard = 3
					c0 := gemmRandSlice(rng, guard*2+(mr-1)*ldc+nr)
					for i := range guard {
						c0[i] = float32(math.NaN())
						c0[len(c0)-1-i] = float32(math.NaN())
					}
					cAsm := append([]float32(nil), c0...)
					cGo := append([]float32(nil), c0...)
					fn(k, &a[0], rs, cs, &b[0], &cAsm[guard], ldc, flags)
					sgemmKernelGo(mr, nr, k, &a[0], rs, cs, &b[0], &cGo[guard], ldc, flags)
					for i := range cAsm {
						r, j := (i-guard)/ldc, (i-guard)%ldc
						inTile := i >= guard && r < mr && j < nr
						if !inTile {
							if math.Float32bits(cAsm[i]) != math.Float32bits(c0[i]) {
								t.Fatalf("%s %s k=%d flags=%d: wrote outside tile at %d", mk.name, variant, k, flags, i)
							}
							continue
						}
						if !gemmClose(cAsm[i], cGo[i], k) {
							t.Fatalf("%s %s k=%d flags=%d: C[%d,%d] = %v, want %v", mk.name, variant, k, flags, r, j, cAsm[i], cGo[i])
						}
					}
				}
			}
		}
	}
}

func BenchmarkMicroKernel(b *testing.B) {
	for _, tk := range testedKernels {
		if !cpu.Has(tk.need) {
			continue
		}
		mk := tk.k
		for _, k := range []int{128, 256, 512} {
			for _, variant := range []string{"packed", "rowA"} {
				b.Run(fmt.Sprintf("%s/%s/k=%d", mk.name, variant, k), func(b *testing.B) {
					rng := rand.New(rand.NewPCG(1, 2))
					a := gemmRandSlice(rng, mk.mr*k)
					bb := gemmRandSlice(rng, mk.nr*k)
					c := gemmRandSlice(rng, mk.mr*mk.nr)
					rs, cs, fn := 1, mk.mr, mk.colA
					if variant == "rowA" {
						rs, cs, fn = k, 1, mk.rowA
					}
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						fn(k, &a[0], rs, cs, &bb[0], &c[0], mk.nr, kernelAccumulate)
					}
					b.ReportMetric(float64(2*mk.mr*mk.nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

func TestPeak(t *testing.T) {
	for _, th := range []int{1, 2} {
		t.Logf("peak %d threads: %.1f GFLOP/s", th, MeasurePeakGFLOPS(th, 200*time.Millisecond))
	}
}
