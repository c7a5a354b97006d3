package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/internal/cpu"
)

// ewFeatureSets are the dispatch paths the elementwise tests exercise.
var ewFeatureSets = []struct {
	name string
	off  cpu.Feature
}{
	{"native", 0},
	{"noAVX512", cpu.AVX512},
	{"generic", cpu.AVX512 | cpu.AVX2FMA},
}

func ewRunPaths(t *testing.T, f func(t *testing.T)) {
	for _, fs := range ewFeatureSets {
		t.Run(fs.name, func(t *testing.T) {
			defer cpu.Disable(fs.off)()
			f(t)
		})
	}
}

// ewSpecials are inputs every activation must handle.
var ewSpecials = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
	1e30, -1e30, 3.4e38, -3.4e38, 1e-45, -1e-45, 1e-40, -1e-40, 1.2e-38, -1.2e-38,
	88.72, 88.73, -88.72, -89, -89.5, -103, -104, -105, 104, 200, -200,
	3, -3, 2.9999998, -2.9999998, 3.0000002, -3.0000002, 6, -6, 0.5, -0.5,
}

// ewSweep returns a dense sweep of [lo, hi] plus the special values.
func ewSweep(lo, hi float64, n int) []float32 {
	v := make([]float32, 0, n+len(ewSpecials))
	for i := 0; i < n; i++ {
		v = append(v, float32(lo+(hi-lo)*float64(i)/float64(n-1)))
	}
	return append(v, ewSpecials...)
}

func refAct(act Activation, x float64) float64 {
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	switch act {
	case ActNone:
		return x
	case ActReLU:
		return math.Max(x, 0)
	case ActSwish:
		if math.IsInf(x, -1) {
			return 0
		}
		return x * sig(x)
	case ActHardSwish:
		if math.IsInf(x, -1) {
			return 0
		}
		return x * math.Min(math.Max(x+3, 0), 6) / 6
	case ActSigmoid:
		return sig(x)
	}
	panic("bad act")
}

func refDeriv(act Activation, x float64) float64 {
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	switch act {
	case ActNone:
		return 1
	case ActReLU:
		if x > 0 {
			return 1
		}
		return 0
	case ActSwish:
		if math.IsInf(x, 0) {
			return math.Max(math.Copysign(1, x), 0)
		}
		s := sig(x)
		return s + x*s*sig(-x)
	case ActHardSwish:
		switch {
		case x >= 3:
			return 1
		case x <= -3:
			return 0
		}
		return (2*x + 3) / 6
	case ActSigmoid:
		if math.IsInf(x, 0) {
			return 0
		}
		return sig(x) * sig(-x)
	}
	panic("bad act")
}

// ewErr returns |got − want| / max(|want|, tiny) with NaN and infinities
// required to match exactly (err = +Inf on mismatch).
func ewErr(got float32, want float64) float64 {
	g := float64(got)
	if math.IsNaN(want) || math.IsNaN(g) {
		if math.IsNaN(want) && math.IsNaN(g) {
			return 0
		}
		return math.Inf(1)
	}
	if math.IsInf(want, 0) || math.IsInf(g, 0) {
		if g == want {
			return 0
		}
		return math.Inf(1)
	}
	// Results below the float32 normal range cannot be relatively accurate;
	// allow an absolute error of 2^-126 there.
	return math.Abs(g-want) / math.Max(math.Abs(want), 0x1p-126/3e-7)
}

func TestExp32Accuracy(t *testing.T) {
	xs := ewSweep(-100, 100, 2_000_001)
	worst, at := 0.0, float32(0)
	for _, x := range xs {
		want := math.Exp(float64(x))
		if want > math.MaxFloat32 {
			want = math.Inf(1)
		}
		if e := ewErr(Exp32(x), want); e > worst {
			worst, at = e, x
		}
	}
	t.Logf("Exp32: max relative error %.3g (%.2f ulp) at x=%g", worst, worst/0x1p-24, at)
	if worst > 3e-7 {
		t.Errorf("Exp32: max relative error %.3g at %g", worst, at)
	}
}

func TestActivationAccuracy(t *testing.T) {
	xs := ewSweep(-100, 100, 1_000_001)
	for _, act := range []Activation{ActNone, ActReLU, ActSwish, ActHardSwish, ActSigmoid} {
		ewRunPaths(t, func(t *testing.T) {
			v := append([]float32(nil), xs...)
			ApplyActivation(act, v)
			worst, at := 0.0, float32(0)
			for i, x := range xs {
				if e := ewErr(v[i], refAct(act, float64(x))); e > worst {
					worst, at = e, x
				}
			}
			t.Logf("act %d: max relative error %.3g (%.2f ulp) at x=%g", act, worst, worst/0x1p-24, at)
			if worst > 3e-7 {
				t.Errorf("act %d: max relative error %.3g at x=%g (got %g want %g)", act, worst, at,
					func() float32 { w := []float32{at}; ApplyActivation(act, w); return w[0] }(), refAct(act, float64(at)))
			}
		})
	}
	// The scalar Sigmoid.
	worst := 0.0
	for _, x := range xs {
		worst = max(worst, ewErr(Sigmoid(x), refAct(ActSigmoid, float64(x))))
	}
	if worst > 3e-7 {
		t.Errorf("Sigmoid: max relative error %.3g", worst)
	}
}

func TestActivationBackwardAccuracy(t *testing.T) {
	xs := ewSweep(-100, 100, 400_001)
	for _, act := range []Activation{ActNone, ActReLU, ActSwish, ActHardSwish, ActSigmoid} {
		ewRunPaths(t, func(t *testing.T) {
			dy := make([]float32, len(xs))
			for i := range dy {
				dy[i] = 1
			}
			dx := make([]float32, len(xs))
			ActivationBackward(act, dx, xs, dy, false)
			worst, at := 0.0, float32(0)
			for i, x := range xs {
				// Swish' is compared relative to the magnitude of its terms
				// s and x·s·(1−s) (it has a root near x = −1.28).
				want := refDeriv(act, float64(x))
				e := ewErr(dx[i], want)
				if act == ActSwish && !math.IsInf(e, 0) {
					xf := float64(x)
					s := 1 / (1 + math.Exp(-xf))
					scale := math.Abs(s) + math.Abs(xf*s*(1-s))
					e = math.Abs(float64(dx[i])-want) / math.Max(scale, 0x1p-126/3e-7)
				}
				if e > worst {
					worst, at = e, x
				}
			}
			t.Logf("act %d: derivative max error %.3g at x=%g", act, worst, at)
			if worst > 5e-7 {
				t.Errorf("act %d: derivative max error %.3g at x=%g", act, worst, at)
			}
		})
	}
}

// TestActivationBackwardFiniteDiff checks the derivative against central
// differences of the float64 reference forward.
func TestActivationBackwardFiniteDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, act := range []Activation{ActSwish, ActHardSwish, ActSigmoid, ActReLU} {
		for i := 0; i < 2000; i++ {
			x := float32(r.Float64()*20 - 10)
			if act != ActSwish && act != ActSigmoid && (math.Abs(math.Abs(float64(x))-3) < 1e-3 || math.Abs(float64(x)) < 1e-3) {
				continue
			}
			const h = 1e-4
			fd := (refAct(act, float64(x)+h) - refAct(act, float64(x)-h)) / (2 * h)
			got := ActivationDerivative(act, x)
			if math.Abs(float64(got)-fd) > 1e-5*math.Max(1, math.Abs(fd)) {
				t.Fatalf("act %d x=%g: derivative %g, finite difference %g", act, x, got, fd)
			}
		}
	}
}

// ewMaxULP is how far the assembly may be from the pure-Go twin: the same
// operations, but fused multiply-adds in the assembly only.
const ewMaxULP = 4

// ewULPDiff is the distance in ulps between a and b (0 if both NaN).
func ewULPDiff(a, b float32) int64 {
	if a != a || b != b {
		if a != a && b != b {
			return 0
		}
		return math.MaxInt64
	}
	ia, ib := int64(math.Float32bits(a)), int64(math.Float32bits(b))
	if ia < 0x80000000 != (ib < 0x80000000) {
		if a == 0 && b == 0 {
			return 0
		}
		return ia&0x7fffffff + ib&0x7fffffff
	}
	d := ia - ib
	if d < 0 {
		d = -d
	}
	return d
}

func ewRandVals(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		switch r.IntN(10) {
		case 0:
			v[i] = ewSpecials[r.IntN(len(ewSpecials))]
		case 1:
			v[i] = float32(r.NormFloat64() * 100)
		default:
			v[i] = float32(r.NormFloat64() * 4)
		}
	}
	return v
}

// TestEpilogueRowsAsmVsGo compares every dispatch path with the pure-Go
// twin on short and ragged shapes, with NaN guard bands around each row.
func TestEpilogueRowsAsmVsGo(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type shape struct{ rows, cols, gap int }
	var shapes []shape
	for n := 0; n <= 70; n++ {
		shapes = append(shapes, shape{1, n, 0})
	}
	for i := 0; i < 60; i++ {
		shapes = append(shapes, shape{1 + r.IntN(7), r.IntN(150), r.IntN(20)})
	}
	shapes = append(shapes, shape{3, 1000, 5})
	nan := float32(math.NaN())
	for _, act := range []Activation{ActNone, ActReLU, ActSwish, ActHardSwish, ActSigmoid} {
		ewRunPaths(t, func(t *testing.T) {
			bits := 0
			for _, sh := range shapes {
				for _, hb := range []bool{false, true} {
					for _, hr := range []bool{false, true} {
						ldc := sh.cols + sh.gap
						const guard = 32
						size := 2*guard + max(sh.rows*ldc, 1)
						c0 := ewRandVals(r, size)
						for i := range c0 {
							row, col := (i-guard)/max(ldc, 1), (i-guard)%max(ldc, 1)
							if i < guard || i-guard >= sh.rows*ldc || col >= sh.cols || row >= sh.rows {
								c0[i] = nan
							}
						}
						var bias, res []float32
						ldres := sh.cols + 3
						if hb {
							bias = ewRandVals(r, sh.cols)
						}
						if hr {
							res = ewRandVals(r, sh.rows*ldres)
						}
						got := append([]float32(nil), c0...)
						want := append([]float32(nil), c0...)
						if sh.cols > 0 && sh.rows > 0 {
							EpilogueRows(act, got[guard:], ldc, sh.rows, sh.cols, bias, res, ldres)
							epilogueRowsGo(act, want[guard:], ldc, sh.rows, sh.cols, bias, res, ldres)
						}
						for i := range got {
							d := ewULPDiff(got[i], want[i])
							if d > ewMaxULP {
								t.Fatalf("shape %+v bias %v res %v: element %d: got %g, Go twin %g (input %g)", sh, hb, hr, i, got[i], want[i], c0[i])
							}
							if d != 0 {
								bits++
							}
						}
					}
				}
			}
			if bits != 0 {
				t.Logf("%d elements differ (by at most %d ulp) from the Go twin", bits, ewMaxULP)
			}
		})
	}
}

func TestActivationBackwardAsmVsGo(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	nan := float32(math.NaN())
	lens := []int{}
	for n := 0; n <= 70; n++ {
		lens = append(lens, n)
	}
	for i := 0; i < 40; i++ {
		lens = append(lens, r.IntN(300))
	}
	for _, act := range []Activation{ActNone, ActReLU, ActSwish, ActHardSwish, ActSigmoid} {
		ewRunPaths(t, func(t *testing.T) {
			for _, n := range lens {
				for _, acc := range []bool{false, true} {
					const guard = 17
					x, dy := ewRandVals(r, n), ewRandVals(r, n)
					dx0 := ewRandVals(r, n+2*guard)
					for i := 0; i < guard; i++ {
						dx0[i], dx0[n+guard+i] = nan, nan
					}
					got := append([]float32(nil), dx0...)
					want := append([]float32(nil), dx0...)
					ActivationBackward(act, got[guard:guard+n], x, dy, acc)
					activationBackwardGo(act, want[guard:guard+n], x, dy, acc)
					for i := range got {
						if ewULPDiff(got[i], want[i]) <= ewMaxULP {
							continue
						}
						// Cancellation (swish' near its root, dx + dy·d
						// near 0) makes ulps meaningless: compare to the
						// size of the terms.
						j := i - guard
						if j >= 0 && j < n {
							g, w := float64(got[i]), float64(want[i])
							scale := math.Abs(float64(dy[j])) * (1 + math.Abs(float64(x[j])))
							if acc {
								scale += math.Abs(float64(dx0[i]))
							}
							if math.Abs(g-w) <= 1e-6*scale {
								continue
							}
						}
						t.Fatalf("n=%d acc=%v: element %d: got %g, Go twin %g", n, acc, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestActivationSpecialValues(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		act  Activation
		x    float32
		want float32
	}{
		{ActSigmoid, -inf, 0}, {ActSigmoid, inf, 1}, {ActSigmoid, -1e30, 0}, {ActSigmoid, 1e30, 1},
		{ActSwish, -inf, 0}, {ActSwish, inf, inf}, {ActSwish, -1e30, 0}, {ActSwish, 1e30, 1e30},
		{ActHardSwish, -inf, 0}, {ActHardSwish, inf, inf}, {ActReLU, -inf, 0},
	} {
		ewRunPaths(t, func(t *testing.T) {
			v := []float32{tc.x}
			ApplyActivation(tc.act, v)
			if v[0] != tc.want {
				t.Errorf("act %d (%g) = %g, want %g", tc.act, tc.x, v[0], tc.want)
			}
			for _, act := range []Activation{ActNone, ActReLU, ActSwish, ActHardSwish, ActSigmoid} {
				v := []float32{float32(math.NaN())}
				ApplyActivation(act, v)
				if v[0] == v[0] {
					t.Errorf("act %d(NaN) = %g", act, v[0])
				}
				d := []float32{0}
				ActivationBackward(act, d, []float32{tc.x}, []float32{1}, false)
				if d[0] != d[0] || math.IsInf(float64(d[0]), 0) {
					t.Errorf("act %d'(%g) = %g", act, tc.x, d[0])
				}
			}
		})
	}
}

func ExampleEpilogueRow() {
	row := []float32{-1, 0, 1}
	EpilogueRow(ActReLU, row, []float32{0.5, 0.5, 0.5}, nil)
	fmt.Println(row)
	// Output: [0 0.5 1.5]
}
