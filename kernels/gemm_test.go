package kernels

import (
	"cmp"
	"fmt"
	"github.com/spinenet-go/spinenet/internal/racebuild"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/spinenet-go/spinenet/internal/cpu"
)

// gemmCase is one random GemmEx problem with its expected result.
type gemmCase struct {
	m, n, k        int
	transA, transB bool
	a, b           Matrix
	accumulate     bool
	ep             *Epilogue
	ldc            int
	c0             []float32 // initial C with NaN guard bands and row gaps
	want           []float32
}

const gemmGuard = 19

func newGemmCase(rng *rand.Rand, m, n, k int, transA, transB, accumulate bool, ep *Epilogue) *gemmCase {
	tc := &gemmCase{m: m, n: n, k: k, transA: transA, transB: transB, accumulate: accumulate, ep: ep}
	mk := func(r, c int, trans bool) Matrix {
		if trans {
			r, c = c, r
		}
		stride := c + rng.IntN(3)
		return Matrix{Data: gemmRandSlice(rng, max(0, (r-1)*stride+c)), Stride: stride, Trans: trans}
	}
	tc.a = mk(m, k, transA)
	tc.b = mk(k, n, transB)
	tc.ldc = n + rng.IntN(3)
	size := gemmGuard*2 + max(0, (m-1)*tc.ldc+n)
	tc.c0 = make([]float32, size)
	for i := range tc.c0 {
		tc.c0[i] = float32(math.NaN())
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			tc.c0[gemmGuard+i*tc.ldc+j] = rng.Float32()*2 - 1
		}
	}
	tc.want = append([]float32(nil), tc.c0...)
	if m > 0 && n > 0 {
		gemmReference(m, n, k, tc.a, tc.b, tc.want[gemmGuard:], tc.ldc, accumulate, ep)
	}
	return tc
}

// check runs GemmEx on a copy of C and compares every element, including
// the guard bands and row gaps, which must be untouched.
func (tc *gemmCase) check(t *testing.T, what string, e *Exec) {
	t.Helper()
	c := append([]float32(nil), tc.c0...)
	e.GemmEx(tc.m, tc.n, tc.k, tc.a, tc.b, c[gemmGuard:], tc.ldc, tc.accumulate, tc.ep)
	tc.compare(t, what, c)
}

func (tc *gemmCase) compare(t *testing.T, what string, c []float32) {
	t.Helper()
	for idx := range c {
		i, j := (idx-gemmGuard)/tc.ldc, (idx-gemmGuard)%tc.ldc
		inside := idx >= gemmGuard && i < tc.m && j < tc.n && tc.m > 0
		if !inside {
			if !math.IsNaN(float64(c[idx])) {
				t.Fatalf("%s %s: wrote outside C at offset %d", what, tc, idx-gemmGuard)
			}
			continue
		}
		if !gemmClose(c[idx], tc.want[idx], tc.k) {
			t.Fatalf("%s %s: C[%d,%d] = %v, want %v", what, tc, i, j, c[idx], tc.want[idx])
		}
	}
}

func (tc *gemmCase) String() string {
	s := fmt.Sprintf("m=%d n=%d k=%d tA=%v tB=%v acc=%v", tc.m, tc.n, tc.k, tc.transA, tc.transB, tc.accumulate)
	if tc.ep != nil {
		s += fmt.Sprintf(" ep(bias=%v res=%v act=%d)", tc.ep.Bias != nil, tc.ep.Residual != nil, tc.ep.Act)
	}
	return s
}

// gemmConfigs runs f under every kernel/threading/packing configuration.
func gemmConfigs(t *testing.T, f func(t *testing.T, what string, e *Exec)) {
	for _, feat := range []struct {
		name string
		off  cpu.Feature
	}{{"native", 0}, {"noavx512", cpu.AVX512}, {"generic", cpu.AVX512 | cpu.AVX2FMA}} {
		for _, threads := range []int{1, 2, 3} {
			e := NewExec(threads)
			// auto: the defaults; pack: A always packed, B in several nc
			// blocks; wide: the wide kernel reads A for any n > 16.
			for _, mode := range []string{"auto", "pack", "wide"} {
				what := fmt.Sprintf("%s/threads=%d/%s", feat.name, threads, mode)
				restore := cpu.Disable(feat.off)
				prevMin, prevDirect, prevMaxB, prevWide := gemmParallelMinFlops, gemmDirectMaxN, gemmMaxPackedB, gemmWideDirect
				gemmParallelMinFlops = 0 // thread even tiny problems
				switch mode {
				case "pack":
					gemmDirectMaxN, gemmMaxPackedB, gemmWideDirect = -1, 5000, false
				case "wide":
					gemmDirectMaxN = 16
				}
				f(t, what, e)
				gemmParallelMinFlops, gemmDirectMaxN, gemmMaxPackedB, gemmWideDirect = prevMin, prevDirect, prevMaxB, prevWide
				restore()
			}
			e.Close()
		}
	}
}

func TestGemmExRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sizes := []int{0, 1, 2, 3, 5, 7, 12, 13, 17, 31, 33, 64, 65, 97, 130, 199, 300}
	var cases []*gemmCase
	for i := 0; i < 48; i++ {
		m, n, k := sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
		if m*n*k > 2_000_000 {
			k = 1 + rng.IntN(40)
		}
		var ep *Epilogue
		if rng.IntN(3) == 0 {
			ep = &Epilogue{Act: Activation(rng.IntN(5))}
			if rng.IntN(2) == 0 {
				ep.Bias = gemmRandSlice(rng, n)
			}
			if rng.IntN(2) == 0 {
				ep.LdResidual = n + rng.IntN(2)
				ep.Residual = gemmRandSlice(rng, max(0, (m-1)*ep.LdResidual+n))
			}
		}
		cases = append(cases, newGemmCase(rng, m, n, k, rng.IntN(2) == 0, rng.IntN(2) == 0, rng.IntN(2) == 0, ep))
	}
	// Shapes that exercise several kc/nc blocks, the M/N thread split and
	// every epilogue activation.
	cases = append(cases,
		newGemmCase(rng, 37, 29, 700, false, false, true, nil),
		newGemmCase(rng, 5, 300, 64, false, true, false, nil),
		newGemmCase(rng, 3, 2100, 9, true, false, false, &Epilogue{Bias: gemmRandSlice(rng, 2100)}),
		newGemmCase(rng, 250, 3, 31, true, true, true, nil),
	)
	for act := ActNone; act <= ActSigmoid; act++ {
		m, n := 45, 70
		ep := &Epilogue{Bias: gemmRandSlice(rng, n), Residual: gemmRandSlice(rng, m*n), LdResidual: n, Act: act}
		cases = append(cases, newGemmCase(rng, m, n, 50, false, false, act%2 == 0, ep))
	}
	gemmConfigs(t, func(t *testing.T, what string, e *Exec) {
		for _, tc := range cases {
			tc.check(t, what, e)
		}
	})
}

// TestGemmExPanels runs GemmEx through non-Matrix packers.
func TestGemmExPanels(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tc := newGemmCase(rng, 77, 45, 301, true, false, false, &Epilogue{Act: ActReLU})
	gemmConfigs(t, func(t *testing.T, what string, e *Exec) {
		c := append([]float32(nil), tc.c0...)
		e.GemmEx(tc.m, tc.n, tc.k, wrapA{tc.a}, wrapB{tc.b}, c[gemmGuard:], tc.ldc, tc.accumulate, tc.ep)
		tc.compare(t, what, c)
	})
}

type wrapA struct{ m Matrix }

func (w wrapA) PackA(dst []float32, mr, i0, mc, p0, kc int) { w.m.PackA(dst, mr, i0, mc, p0, kc) }

type wrapB struct{ m Matrix }

func (w wrapB) PackB(dst []float32, nr, p0, kc, j0, nc int) { w.m.PackB(dst, nr, p0, kc, j0, nc) }

// naiveSgemm is the textbook triple loop.
func naiveSgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if tA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

func TestSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	type shape struct{ m, n, k int }
	shapes := []shape{{0, 3, 4}, {3, 0, 4}, {3, 4, 0}, {1, 1, 1}, {13, 33, 7}, {64, 64, 64}, {150, 37, 260}, {7, 290, 45}}
	for _, sh := range shapes {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {0, 0.5}, {-1.5, 0}} {
					m, n, k := sh.m, sh.n, sh.k
					alpha, beta := ab[0], ab[1]
					ar, ac := m, k
					if tA {
						ar, ac = k, m
					}
					br, bc := k, n
					if tB {
						br, bc = n, k
					}
					lda, ldb, ldc := ac+1, bc+2, n+3
					a := gemmRandSlice(rng, max(0, ar*lda))
					b := gemmRandSlice(rng, max(0, br*ldb))
					c := gemmRandSlice(rng, gemmGuard*2+max(0, m*ldc))
					for i := range c {
						if i < gemmGuard || i >= gemmGuard+m*ldc || (i-gemmGuard)%ldc >= n {
							c[i] = float32(math.NaN())
						} else if beta == 0 && rng.IntN(4) == 0 {
							c[i] = float32(math.NaN()) // beta = 0 must overwrite NaN
						}
					}
					want := append([]float32(nil), c...)
					naiveSgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, want[gemmGuard:], ldc)
					gemmConfigs(t, func(t *testing.T, what string, e *Exec) {
						got := append([]float32(nil), c...)
						e.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, got[gemmGuard:], ldc)
						for i := range got {
							if math.IsNaN(float64(want[i])) {
								if !math.IsNaN(float64(got[i])) {
									t.Fatalf("%s m=%d n=%d k=%d: wrote outside C", what, m, n, k)
								}
								continue
							}
							if !gemmClose(got[i], want[i], k) {
								t.Fatalf("%s Sgemm(%v,%v,%d,%d,%d,α=%v,β=%v): C[%d] = %v, want %v", what, tA, tB, m, n, k, alpha, beta, i-gemmGuard, got[i], want[i])
							}
						}
					})
				}
			}
		}
	}
}

// TestGemmConcurrent runs GEMMs from several goroutines at once: callers that
// find the worker pool busy must fall back to running alone.
func TestGemmConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var cases []*gemmCase
	for i := 0; i < 6; i++ {
		cases = append(cases, newGemmCase(rng, 100+i*7, 90, 130, i%2 == 0, false, i%3 == 0, nil))
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 5; r++ {
				tc.check(t, "concurrent", Default())
			}
		}()
	}
	wg.Wait()
}

func TestGemmAllocs(t *testing.T) {
	if racebuild.Enabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	const m, n, k = 200, 150, 300
	a, b, c := gemmRandSlice(rng, m*k), gemmRandSlice(rng, k*n), make([]float32, m*n)
	for _, threads := range []int{1, 2} {
		e := NewExec(threads)
		e.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		allocs := testing.AllocsPerRun(20, func() {
			e.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			e.Sgemm(true, true, m, n, k, 2, a, m, b, k, 1, c, n)
		})
		e.Close()
		if allocs > 0 {
			t.Errorf("threads=%d: Sgemm allocated %v times per run", threads, allocs)
		}
	}
}

func TestSplit(t *testing.T) {
	for n := 0; n < 20; n++ {
		for parts := 1; parts < 6; parts++ {
			next := 0
			for s := 0; s < parts; s++ {
				lo, hi := split(n, parts, s)
				if lo != next || hi < lo || hi-lo > n/parts+1 {
					t.Fatalf("split(%d,%d,%d) = %d,%d", n, parts, s, lo, hi)
				}
				next = hi
			}
			if next != n {
				t.Fatalf("split(%d,%d) covers %d", n, parts, next)
			}
		}
	}
}

// gemmPlan reads a stored A in place against a narrow B with the default
// kernel, against a wide B only when row-major and a wide kernel exists,
// and never reads a packer in place.
func TestGemmPlan(t *testing.T) {
	def := selectKernel()
	wide := selectWideKernel()
	for _, tc := range []struct {
		aIsMat, aTrans bool
		n              int
		kern           *microKernel
		direct         bool
	}{
		{false, false, 64, def, false},
		{true, false, 64, def, def.rowA != nil},
		{true, true, 64, def, def.rowA != nil},
		{true, true, 1024, def, false},
		{true, false, 1024, cmp.Or(wide, def), wide != nil},
	} {
		kern, direct := gemmPlan(tc.aIsMat, tc.aTrans, tc.n)
		if kern != tc.kern || direct != tc.direct {
			t.Errorf("gemmPlan(%v, %v, %d) = %s, %v; want %s, %v", tc.aIsMat, tc.aTrans, tc.n, kern.name, direct, tc.kern.name, tc.direct)
		}
	}
}
