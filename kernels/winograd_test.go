package kernels

import (
	"fmt"
	"github.com/spinenet-go/spinenet/internal/racebuild"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// ---- helpers (own copies, so these tests do not depend on other files' helpers) ----

const winoGuard = 29

func winoRand(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// winoGuarded returns a NaN-filled slice of n elements with NaN guard bands on
// both sides and a function reporting whether the guards are intact.
func winoGuarded(n int) ([]float32, func() bool) {
	buf := make([]float32, n+2*winoGuard)
	for i := range buf {
		buf[i] = float32(math.NaN())
	}
	return buf[winoGuard : winoGuard+n], func() bool {
		for i := 0; i < winoGuard; i++ {
			if !math.IsNaN(float64(buf[i])) || !math.IsNaN(float64(buf[winoGuard+n+i])) {
				return false
			}
		}
		return true
	}
}

// winoRefConv is the naive float64 convolution with the epilogue applied; mag
// is Σ|terms| per output, for tolerances.
func winoRefConv(p ConvParams, x, w []float32, ep *Epilogue) (ref, mag []float64) {
	oh, ow := p.OutH(), p.OutW()
	ref = make([]float64, p.N*oh*ow*p.OC)
	mag = make([]float64, len(ref))
	for n := 0; n < p.N; n++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				o := ((n*oh+i)*ow + j) * p.OC
				for kh := 0; kh < p.KH; kh++ {
					ih := i*p.StrideH + kh - p.PadTop
					if ih < 0 || ih >= p.H {
						continue
					}
					for kw := 0; kw < p.KW; kw++ {
						iw := j*p.StrideW + kw - p.PadLeft
						if iw < 0 || iw >= p.W {
							continue
						}
						xs := x[((n*p.H+ih)*p.W+iw)*p.C:][:p.C]
						for c, xv := range xs {
							ws := w[((kh*p.KW+kw)*p.C+c)*p.OC:][:p.OC]
							for k, wv := range ws {
								t := float64(xv) * float64(wv)
								ref[o+k] += t
								mag[o+k] += math.Abs(t)
							}
						}
					}
				}
			}
		}
	}
	if ep != nil {
		for i := range ref {
			if ep.Bias != nil {
				b := float64(ep.Bias[i%p.OC])
				ref[i] += b
				mag[i] += math.Abs(b)
			}
			if ep.Residual != nil {
				v := float64(ep.Residual[i/p.OC*ep.LdResidual+i%p.OC])
				ref[i] += v
				mag[i] += math.Abs(v)
			}
			v := []float32{float32(ref[i])}
			ApplyActivation(ep.Act, v)
			ref[i] = float64(v[0])
		}
	}
	return ref, mag
}

func winoSame(n, h, w, c, oc int) ConvParams {
	pt, pb := SamePadding(h, 3, 1)
	pl, pr := SamePadding(w, 3, 1)
	return ConvParams{N: n, H: h, W: w, C: c, KH: 3, KW: 3, OC: oc, StrideH: 1, StrideW: 1,
		PadTop: pt, PadBottom: pb, PadLeft: pl, PadRight: pr}
}

// winoRelErr returns ‖got − want‖₂/‖want‖₂.
func winoRelErr(got []float32, want []float64) float64 {
	var num, den float64
	for i, v := range want {
		d := float64(got[i]) - v
		num += d * d
		den += v * v
	}
	return math.Sqrt(num / den)
}

// ---- transform matrices ----

// winoGenericMatrices builds Bᵀ (n×n), G (n×3) and Aᵀ (m×n) of F(m, 3) for
// the finite points pts (n = m+2 = len(pts)+1, the last point is ∞) by the
// Toom–Cook construction the hand-written transforms follow.
func winoGenericMatrices(pts []float64) (bt, g, at [][]float64) {
	n := len(pts) + 1
	m := n - 2
	poly := []float64{1} // Π (x − p), coefficients by ascending power
	for _, q := range pts {
		next := make([]float64, len(poly)+1)
		for i, c := range poly {
			next[i+1] += c
			next[i] -= q * c
		}
		poly = next
	}
	bt = make([][]float64, n)
	g = make([][]float64, n)
	at = make([][]float64, m)
	for i := range at {
		at[i] = make([]float64, n)
	}
	for j, q := range pts {
		// Synthetic division poly/(x − q).
		bt[j] = make([]float64, n)
		r := poly[n-1]
		for i := n - 2; i >= 0; i-- {
			bt[j][i] = r
			r = poly[i] + q*r
		}
		den := 1.0
		for l, q2 := range pts {
			if l != j {
				den *= q - q2
			}
		}
		g[j] = []float64{1 / den, q / den, q * q / den}
		for i := 0; i < m; i++ {
			at[i][j] = math.Pow(q, float64(i))
		}
	}
	bt[n-1] = append([]float64(nil), poly...)
	g[n-1] = []float64{0, 0, 1}
	at[m-1][n-1] = 1
	return bt, g, at
}

// TestWinogradTransforms checks the hand-written 1-D transforms against the
// generic matrices and the generic matrices against direct correlation.
func TestWinogradTransforms(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, tc := range []struct {
		pts []float64
		m   int
	}{{[]float64{0, winoA, -winoA, winoB, -winoB}, 4}, {[]float64{0, 1, -1}, 2}} {
		bt, g, at := winoGenericMatrices(tc.pts)
		n := tc.m + 2
		const l = 7
		d := make([][]float32, n)
		for i := range d {
			d[i] = winoRand(r, l)
		}
		gg := [][]float32{winoRand(r, l), winoRand(r, l), winoRand(r, l)}
		outB := make([][]float32, n)
		outG := make([][]float32, n)
		for i := range outB {
			outB[i] = make([]float32, l)
			outG[i] = make([]float32, l)
		}
		outA := make([][]float32, tc.m)
		for i := range outA {
			outA[i] = make([]float32, l)
		}
		if n == 6 {
			winoBT6(outB[0], outB[1], outB[2], outB[3], outB[4], outB[5], d[0], d[1], d[2], d[3], d[4], d[5])
			winoG6(outG[0], outG[1], outG[2], outG[3], outG[4], outG[5], gg[0], gg[1], gg[2])
			winoAT6(outA[0], outA[1], outA[2], outA[3], d[0], d[1], d[2], d[3], d[4], d[5])
		} else {
			winoBT4(outB[0], outB[1], outB[2], outB[3], d[0], d[1], d[2], d[3])
			winoG4(outG[0], outG[1], outG[2], outG[3], gg[0], gg[1], gg[2])
			winoAT4(outA[0], outA[1], d[0], d[1], d[2], d[3])
		}
		for q := 0; q < l; q++ {
			check := func(what string, i int, got float32, row []float64, in [][]float32) {
				var want, mag float64
				for k, c := range row {
					want += c * float64(in[k][q])
					mag += math.Abs(c * float64(in[k][q]))
				}
				if math.Abs(float64(got)-want) > 1e-6*mag+1e-30 {
					t.Errorf("m=%d %s row %d elem %d: got %g want %g", tc.m, what, i, q, got, want)
				}
			}
			for i := 0; i < n; i++ {
				check("Bt", i, outB[i][q], bt[i], d)
				check("G", i, outG[i][q], g[i], gg)
			}
			for i := 0; i < tc.m; i++ {
				check("At", i, outA[i][q], at[i], d)
			}
			// Aᵀ[(G g) ⊙ (Bᵀ d)] is the correlation of d with g (exact in float64).
			for i := 0; i < tc.m; i++ {
				var got, want float64
				for j := 0; j < n; j++ {
					var u, v float64
					for k := 0; k < 3; k++ {
						u += g[j][k] * float64(gg[k][q])
					}
					for k := 0; k < n; k++ {
						v += bt[j][k] * float64(d[k][q])
					}
					got += at[i][j] * u * v
				}
				for k := 0; k < 3; k++ {
					want += float64(d[i+k][q]) * float64(gg[k][q])
				}
				if math.Abs(got-want) > 1e-9*(1+math.Abs(want)) {
					t.Fatalf("m=%d: generic Winograd %g, correlation %g", tc.m, got, want)
				}
			}
		}
	}
}

// TestWinogradPointsAccuracy simulates F(4×4, 3×3) in float32 with the
// generic matrices of several point sets, summing over C = 512 channels, and
// checks the chosen set (0, ±1/2, ±2) is within 1e-4 and no worse than the
// classic 0, ±1, ±2 by much. The errors are logged (go test -v).
func TestWinogradPointsAccuracy(t *testing.T) {
	const c = 512
	trials := 6
	if testing.Short() {
		trials = 2
	}
	errs := map[string]float64{}
	for _, ab := range [][2]float64{{1, 2}, {0.5, 2}, {1, 0.5}, {0.5, 1.5}, {1, 3}} {
		bt, g, at := winoGenericMatrices([]float64{0, ab[0], -ab[0], ab[1], -ab[1]})
		f32 := func(m [][]float64) [][]float32 {
			out := make([][]float32, len(m))
			for i, row := range m {
				for _, v := range row {
					out[i] = append(out[i], float32(v))
				}
			}
			return out
		}
		bt32, g32, at32 := f32(bt), f32(g), f32(at)
		r := rand.New(rand.NewPCG(5, 5))
		var num, den float64
		for trial := 0; trial < trials; trial++ {
			var acc [6][6]float32
			var ref [4][4]float64
			for ci := 0; ci < c; ci++ {
				var d [6][6]float32
				var w [3][3]float32
				for i := range d {
					for j := range d[i] {
						d[i][j] = float32(r.NormFloat64())
					}
				}
				for i := range w {
					for j := range w[i] {
						w[i][j] = float32(r.NormFloat64())
					}
				}
				for i := 0; i < 4; i++ {
					for j := 0; j < 4; j++ {
						for k := 0; k < 3; k++ {
							for l := 0; l < 3; l++ {
								ref[i][j] += float64(d[i+k][j+l]) * float64(w[k][l])
							}
						}
					}
				}
				var gw [6][3]float32
				for i := 0; i < 6; i++ {
					for l := 0; l < 3; l++ {
						for k := 0; k < 3; k++ {
							gw[i][l] += g32[i][k] * w[k][l]
						}
					}
				}
				var bd [6][6]float32
				for i := 0; i < 6; i++ {
					for j := 0; j < 6; j++ {
						for k := 0; k < 6; k++ {
							bd[i][j] += bt32[i][k] * d[k][j]
						}
					}
				}
				for i := 0; i < 6; i++ {
					for j := 0; j < 6; j++ {
						var u, v float32
						for l := 0; l < 3; l++ {
							u += gw[i][l] * g32[j][l]
						}
						for k := 0; k < 6; k++ {
							v += bd[i][k] * bt32[j][k]
						}
						acc[i][j] += u * v
					}
				}
			}
			var s [4][6]float32
			for i := 0; i < 4; i++ {
				for j := 0; j < 6; j++ {
					for k := 0; k < 6; k++ {
						s[i][j] += at32[i][k] * acc[k][j]
					}
				}
			}
			for i := 0; i < 4; i++ {
				for j := 0; j < 4; j++ {
					var y float32
					for k := 0; k < 6; k++ {
						y += s[i][k] * at32[j][k]
					}
					e := float64(y) - ref[i][j]
					num += e * e
					den += ref[i][j] * ref[i][j]
				}
			}
		}
		name := fmt.Sprintf("0,±%g,±%g", ab[0], ab[1])
		errs[name] = math.Sqrt(num / den)
		t.Logf("F(4x4,3x3) points %s: relative L2 error %.3g (C=%d)", name, errs[name], c)
	}
	chosen := errs["0,±0.5,±2"]
	if chosen > 1e-4 || chosen > 1.2*errs["0,±1,±2"] {
		t.Errorf("chosen points error %.3g (classic %.3g)", chosen, errs["0,±1,±2"])
	}
}

// ---- convolution ----

type winoCase struct {
	name string
	p    ConvParams
}

func winoCases(short bool) []winoCase {
	cs := []winoCase{
		{"same_9x11", winoSame(2, 9, 11, 17, 19)},
		{"same_8x8", winoSame(1, 8, 8, 16, 32)},
		{"valid_7x6", ConvParams{N: 1, H: 7, W: 6, C: 5, KH: 3, KW: 3, OC: 3, StrideH: 1, StrideW: 1}},
		{"asym_pad", ConvParams{N: 2, H: 10, W: 9, C: 6, KH: 3, KW: 3, OC: 7, StrideH: 1, StrideW: 1, PadTop: 2, PadBottom: 0, PadLeft: 0, PadRight: 3}},
		{"big_pad", ConvParams{N: 1, H: 3, W: 4, C: 2, KH: 3, KW: 3, OC: 3, StrideH: 1, StrideW: 1, PadTop: 4, PadBottom: 3, PadLeft: 3, PadRight: 2}},
		{"1x1_input", winoSame(3, 1, 1, 9, 5)},
		{"2x2_input", winoSame(2, 2, 2, 4, 6)},
		{"1xW", winoSame(1, 1, 13, 3, 4)},
		{"c1_oc1", winoSame(1, 5, 6, 1, 1)},
		{"wide_c", winoSame(1, 6, 5, 37, 33)},
		{"many_tiles", winoSame(2, 23, 19, 20, 24)},
		{"c64", winoSame(1, 13, 11, 64, 48)},
	}
	r := rand.New(rand.NewPCG(7, 7))
	nRandom := 16
	if short {
		nRandom = 8
	}
	for i := 0; i < nRandom; i++ {
		p := ConvParams{
			N: 1 + r.IntN(3), H: 1 + r.IntN(14), W: 1 + r.IntN(14), C: 1 + r.IntN(40),
			KH: 3, KW: 3, OC: 1 + r.IntN(40), StrideH: 1, StrideW: 1,
			PadTop: r.IntN(4), PadBottom: r.IntN(4), PadLeft: r.IntN(4), PadRight: r.IntN(4),
		}
		if p.Validate() != nil {
			continue
		}
		cs = append(cs, winoCase{fmt.Sprintf("rand%d", i), p})
	}
	return cs
}

// winoCheck runs one convolution both ways (Conv2DWinograd and
// Conv2DWinogradPre) with tile size m and compares with the naive
// reference and Conv2D.
func winoCheck(t *testing.T, what string, p ConvParams, m int, ep *Epilogue, r *rand.Rand) {
	t.Helper()
	winoCheckOn(t, Default(), what, p, m, ep, r)
}

// winoCheckOn is winoCheck on e.
func winoCheckOn(t *testing.T, e *Exec, what string, p ConvParams, m int, ep *Epilogue, r *rand.Rand) {
	t.Helper()
	x := winoRand(r, p.N*p.H*p.W*p.C)
	w := winoRand(r, 9*p.C*p.OC)
	oh, ow := p.OutH(), p.OutW()
	ny := p.N * oh * ow * p.OC
	if ep != nil {
		if ep.Bias != nil {
			ep.Bias = winoRand(r, p.OC)
		}
		if ep.Residual != nil {
			ep.LdResidual = p.OC + 3
			ep.Residual = winoRand(r, (p.N*oh*ow-1)*ep.LdResidual+p.OC)
		}
	}
	ref, mag := winoRefConv(p, x, w, ep)
	direct := make([]float32, ny)
	e.Conv2D(p, x, w, direct, ep)
	defer func(old int) { winoDefaultTile = old }(winoDefaultTile)
	winoDefaultTile = m
	ww := e.TransformWinogradWeights(p.C, p.OC, w)
	for pass := 0; pass < 2; pass++ {
		y, guards := winoGuarded(ny)
		if pass == 0 {
			e.Conv2DWinograd(p, x, w, y, ep)
		} else {
			e.Conv2DWinogradPre(p, x, ww, y, ep)
		}
		if !guards() {
			t.Fatalf("%s pass %d: guard band overwritten", what, pass)
		}
		// A Winograd output mixes the inputs of its whole tile, so an output
		// whose own terms are small (all padding) still carries rounding
		// errors of its neighbours: the tolerance includes the mean magnitude.
		var meanMag float64
		for _, v := range mag {
			meanMag += v / float64(len(mag))
		}
		bad := 0
		for i, v := range y {
			tol := 2e-5*(mag[i]+meanMag) + 1e-6
			if math.IsNaN(float64(v)) || math.Abs(float64(v)-ref[i]) > tol || math.Abs(float64(v-direct[i])) > 2*tol {
				if bad < 3 {
					t.Errorf("%s pass %d: y[%d] = %g, want %g (Conv2D %g, tol %g)", what, pass, i, v, ref[i], direct[i], tol)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Fatalf("%s pass %d: %d of %d outputs wrong", what, pass, bad, len(y))
		}
	}
}

func TestConv2DWinograd(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	acts := []Activation{ActNone, ActReLU, ActSwish, ActHardSwish, ActSigmoid}
	defer func(old bool) { winoNoAsm = old }(winoNoAsm)
	for _, cfg := range []struct {
		m     int
		noAsm bool
	}{{4, false}, {4, true}, {2, false}} {
		m := cfg.m
		winoNoAsm = cfg.noAsm
		if cfg.noAsm && !winoAsm() {
			continue // the first pass already ran the Go transforms
		}
		for i, tc := range winoCases(testing.Short()) {
			winoCheck(t, fmt.Sprintf("F%d/noasm=%v/%s/%+v", m, cfg.noAsm, tc.name, tc.p), tc.p, m, nil, r)
			ep := &Epilogue{Act: acts[i%len(acts)]}
			if i%3 != 1 {
				ep.Bias = []float32{}
			}
			if i%3 != 2 {
				ep.Residual = []float32{}
			}
			winoCheck(t, fmt.Sprintf("F%d/noasm=%v/%s+ep%d/%+v", m, cfg.noAsm, tc.name, ep.Act, tc.p), tc.p, m, ep, r)
		}
	}
}

// TestConv2DWinogradBlocks runs with small and whole-image tile blocks and
// with one and two threads.
func TestConv2DWinogradBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	defer func(bf, mt int) { winoBlockFloats, winoMinBlockTiles = bf, mt }(winoBlockFloats, winoMinBlockTiles)
	winoMinBlockTiles = 1
	for _, threads := range []int{1, 2} {
		e := NewExec(threads)
		defer e.Close()
		for _, bf := range []int{1, 5000, 0} {
			winoBlockFloats = bf
			p := winoSame(2, 21, 18, 24, 20)
			ep := &Epilogue{Bias: []float32{}, Residual: []float32{}, Act: ActReLU}
			winoCheckOn(t, e, fmt.Sprintf("threads=%d block=%d", threads, bf), p, 4, ep, r)
		}
	}
}

// TestWinogradRelativeError measures ‖wino − direct‖₂/‖direct‖₂ against the
// float64 convolution at C = 512 for both tile sizes, and Conv2D's own error
// for comparison.
func TestWinogradRelativeError(t *testing.T) {
	p := winoSame(1, 12, 12, 512, 32)
	if testing.Short() {
		p.OC = 8
	}
	r := rand.New(rand.NewPCG(17, 17))
	x := winoRand(r, p.N*p.H*p.W*p.C)
	w := winoRand(r, 9*p.C*p.OC)
	ref, _ := winoRefConv(p, x, w, nil)
	y := make([]float32, len(ref))
	Conv2D(p, x, w, y, nil)
	t.Logf("Conv2D relative L2 error %.3g (C=%d)", winoRelErr(y, ref), p.C)
	defer func(old int) { winoDefaultTile = old }(winoDefaultTile)
	for _, m := range []int{4, 2} {
		winoDefaultTile = m
		Conv2DWinograd(p, x, w, y, nil)
		e := winoRelErr(y, ref)
		t.Logf("F(%dx%d,3x3) relative L2 error %.3g (C=%d)", m, m, e, p.C)
		if e > 1e-4 {
			t.Errorf("F(%d,3): relative error %.3g > 1e-4", m, e)
		}
	}
}

func TestConv2DWinogradPanics(t *testing.T) {
	x, w, y := make([]float32, 1000), make([]float32, 1000), make([]float32, 1000)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"5x5", func() {
			Conv2DWinograd(ConvParams{N: 1, H: 5, W: 5, C: 1, KH: 5, KW: 5, OC: 1, StrideH: 1, StrideW: 1}, x, w, y, nil)
		}},
		{"stride2", func() { Conv2DWinograd(cvSameStride2(), x, w, y, nil) }},
		{"short_y", func() { Conv2DWinograd(winoSame(1, 8, 8, 2, 2), x, w, y[:100], nil) }},
		{"ww_mismatch", func() {
			Conv2DWinogradPre(winoSame(1, 4, 4, 2, 3), x, TransformWinogradWeights(3, 2, w), y, nil)
		}},
		{"bad_weights", func() { TransformWinogradWeights(0, 2, w) }},
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "kernels: ") {
					t.Errorf("%s: panic %q, want a kernels: message", tc.name, msg)
				}
			}()
			tc.f()
		}()
	}
}

func cvSameStride2() ConvParams {
	return ConvParams{N: 1, H: 8, W: 8, C: 2, KH: 3, KW: 3, OC: 2, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}
}

func TestWinogradFaster(t *testing.T) {
	if WinogradFaster(cvSameStride2()) {
		t.Error("stride 2 reported faster")
	}
	for _, p := range []ConvParams{winoSame(1, 80, 80, 256, 256), winoSame(1, 160, 160, 64, 64), winoSame(4, 20, 20, 256, 256)} {
		if !WinogradFaster(p) {
			t.Errorf("%+v not reported faster", p)
		}
	}
	for _, p := range []ConvParams{winoSame(1, 20, 20, 256, 256), winoSame(1, 10, 10, 256, 256), winoSame(1, 80, 80, 3, 64)} {
		if WinogradFaster(p) {
			t.Errorf("%+v reported faster", p)
		}
	}
}

func TestConv2DWinogradAllocs(t *testing.T) {
	if racebuild.Enabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	p := winoSame(1, 20, 20, 32, 32)
	r := rand.New(rand.NewPCG(19, 19))
	x, w := winoRand(r, p.N*p.H*p.W*p.C), winoRand(r, 9*p.C*p.OC)
	y := make([]float32, p.N*p.OutH()*p.OutW()*p.OC)
	ww := TransformWinogradWeights(p.C, p.OC, w)
	ep := &Epilogue{Bias: winoRand(r, p.OC), Act: ActReLU}
	Conv2DWinograd(p, x, w, y, ep)
	Conv2DWinogradPre(p, x, ww, y, ep)
	if n := testing.AllocsPerRun(10, func() { Conv2DWinograd(p, x, w, y, ep) }); n != 0 {
		t.Errorf("Conv2DWinograd: %v allocations per call", n)
	}
	if n := testing.AllocsPerRun(10, func() { Conv2DWinogradPre(p, x, ww, y, ep) }); n != 0 {
		t.Errorf("Conv2DWinogradPre: %v allocations per call", n)
	}
}

// TestConv2DWinogradConcurrent runs calls from several goroutines at once
// (one gets the worker pool, the others run on their own thread).
func TestConv2DWinogradConcurrent(t *testing.T) {
	p := winoSame(1, 17, 15, 24, 16)
	r := rand.New(rand.NewPCG(23, 23))
	x, w := winoRand(r, p.N*p.H*p.W*p.C), winoRand(r, 9*p.C*p.OC)
	ww := TransformWinogradWeights(p.C, p.OC, w)
	want := make([]float32, p.N*p.OutH()*p.OutW()*p.OC)
	Conv2DWinogradPre(p, x, ww, want, nil)
	var wg sync.WaitGroup
	errs := make([]int, 4)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			y := make([]float32, len(want))
			for it := 0; it < 5; it++ {
				Conv2DWinogradPre(p, x, ww, y, nil)
				for i := range y {
					if y[i] != want[i] {
						errs[g]++
					}
				}
			}
		}()
	}
	wg.Wait()
	for g, e := range errs {
		if e != 0 {
			t.Errorf("goroutine %d: %d differing outputs", g, e)
		}
	}
}
