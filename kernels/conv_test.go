package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// ---- helpers shared by the conv, depthwise, pool and upsample tests ----

const cvGuardLen = 37 // NaN guard band around every output slice

// cvGuarded returns a slice of n elements whose backing array carries cvGuardLen
// NaNs on both sides (the trailing ones within its capacity), and a check
// function that fails the test if a guard was overwritten.
func cvGuarded(t *testing.T, n int, fill func(i int) float32) ([]float32, func()) {
	t.Helper()
	buf := make([]float32, n+2*cvGuardLen)
	nan := float32(math.NaN())
	for i := range buf {
		buf[i] = nan
	}
	s := buf[cvGuardLen : cvGuardLen+n]
	if fill != nil {
		for i := range s {
			s[i] = fill(i)
		}
	}
	return s, func() {
		t.Helper()
		for i := 0; i < cvGuardLen; i++ {
			if !cvIsNaN(buf[i]) || !cvIsNaN(buf[cvGuardLen+n+i]) {
				t.Fatalf("guard band overwritten")
			}
		}
	}
}

func cvIsNaN(v float32) bool { return v != v }

func cvRandSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func cvNaNFill(int) float32 { return float32(math.NaN()) }

// compare checks got against want (float64) with a tolerance scaled by the
// magnitude of the summed terms (mag[i] = Σ|term|).
func cvCompare(t *testing.T, what string, got []float32, want, mag []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range want {
		tol := 2e-5*mag[i] + 1e-5
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol) {
			if bad < 5 {
				t.Errorf("%s: [%d] = %v, want %v (tol %.3g)", what, i, got[i], want[i], tol)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d wrong", what, bad, len(want))
	}
}

// ---- naive references (float64 accumulation) ----

func cvInside(p ConvParams, oh, ow, kh, kw int) (ih, iw int, ok bool) {
	ih = oh*p.StrideH + kh - p.PadTop
	iw = ow*p.StrideW + kw - p.PadLeft
	return ih, iw, ih >= 0 && ih < p.H && iw >= 0 && iw < p.W
}

// cvForEachTap calls f(xIndex, dyIndexBase, wIndexBase) for every (n, oh, ow,
// kh, kw, c) term of the convolution that touches the input.
func cvForEachTap(p ConvParams, f func(n, oh, ow, kh, kw, ih, iw int)) {
	for n := 0; n < p.N; n++ {
		for oh := 0; oh < p.OutH(); oh++ {
			for ow := 0; ow < p.OutW(); ow++ {
				for kh := 0; kh < p.KH; kh++ {
					for kw := 0; kw < p.KW; kw++ {
						if ih, iw, ok := cvInside(p, oh, ow, kh, kw); ok {
							f(n, oh, ow, kh, kw, ih, iw)
						}
					}
				}
			}
		}
	}
}

func cvRefConv(p ConvParams, x, w []float32) (y, mag []float64) {
	oh, ow := p.OutH(), p.OutW()
	y = make([]float64, p.N*oh*ow*p.OC)
	mag = make([]float64, len(y))
	cvForEachTap(p, func(n, y0, x0, kh, kw, ih, iw int) {
		for c := 0; c < p.C; c++ {
			xv := float64(x[((n*p.H+ih)*p.W+iw)*p.C+c])
			for o := 0; o < p.OC; o++ {
				t := xv * float64(w[((kh*p.KW+kw)*p.C+c)*p.OC+o])
				y[((n*oh+y0)*ow+x0)*p.OC+o] += t
				mag[((n*oh+y0)*ow+x0)*p.OC+o] += math.Abs(t)
			}
		}
	})
	return y, mag
}

func cvRefConvBackwardData(p ConvParams, dy, w []float32) (dx, mag []float64) {
	oh, ow := p.OutH(), p.OutW()
	dx = make([]float64, p.N*p.H*p.W*p.C)
	mag = make([]float64, len(dx))
	cvForEachTap(p, func(n, y0, x0, kh, kw, ih, iw int) {
		for c := 0; c < p.C; c++ {
			for o := 0; o < p.OC; o++ {
				t := float64(dy[((n*oh+y0)*ow+x0)*p.OC+o]) * float64(w[((kh*p.KW+kw)*p.C+c)*p.OC+o])
				dx[((n*p.H+ih)*p.W+iw)*p.C+c] += t
				mag[((n*p.H+ih)*p.W+iw)*p.C+c] += math.Abs(t)
			}
		}
	})
	return dx, mag
}

func cvRefConvBackwardFilter(p ConvParams, x, dy []float32) (dw, mag []float64) {
	oh, ow := p.OutH(), p.OutW()
	dw = make([]float64, p.KH*p.KW*p.C*p.OC)
	mag = make([]float64, len(dw))
	cvForEachTap(p, func(n, y0, x0, kh, kw, ih, iw int) {
		for c := 0; c < p.C; c++ {
			for o := 0; o < p.OC; o++ {
				t := float64(x[((n*p.H+ih)*p.W+iw)*p.C+c]) * float64(dy[((n*oh+y0)*ow+x0)*p.OC+o])
				dw[((kh*p.KW+kw)*p.C+c)*p.OC+o] += t
				mag[((kh*p.KW+kw)*p.C+c)*p.OC+o] += math.Abs(t)
			}
		}
	})
	return dw, mag
}

// cvRefEpilogue applies bias, residual and activation to ref in place (in
// float64, activation through ApplyActivation on the rounded value).
func cvRefEpilogue(ref, mag []float64, oc int, ep *Epilogue) {
	for i := range ref {
		if ep.Bias != nil {
			ref[i] += float64(ep.Bias[i%oc])
			mag[i] += math.Abs(float64(ep.Bias[i%oc]))
		}
		if ep.Residual != nil {
			r := float64(ep.Residual[i/oc*ep.LdResidual+i%oc])
			ref[i] += r
			mag[i] += math.Abs(r)
		}
		v := []float32{float32(ref[i])}
		ApplyActivation(ep.Act, v)
		ref[i] = float64(v[0])
	}
}

// ---- shapes ----

type convCase struct {
	name string
	p    ConvParams
}

func cvSame(n, h, w, c, k, s, oc int) ConvParams {
	pt, pb := SamePadding(h, k, s)
	pl, pr := SamePadding(w, k, s)
	return ConvParams{N: n, H: h, W: w, C: c, KH: k, KW: k, OC: oc, StrideH: s, StrideW: s,
		PadTop: pt, PadBottom: pb, PadLeft: pl, PadRight: pr}
}

func convCases(short bool) []convCase {
	cs := []convCase{
		{"1x1", ConvParams{N: 2, H: 5, W: 7, C: 19, KH: 1, KW: 1, OC: 21, StrideH: 1, StrideW: 1}},
		{"1x1s2", ConvParams{N: 2, H: 9, W: 7, C: 5, KH: 1, KW: 1, OC: 6, StrideH: 2, StrideW: 2}},
		{"1x1pad", ConvParams{N: 1, H: 4, W: 5, C: 3, KH: 1, KW: 1, OC: 4, StrideH: 1, StrideW: 1, PadTop: 1, PadRight: 2}},
		{"3x3same", cvSame(2, 9, 11, 17, 3, 1, 19)},
		{"3x3s2same_odd", cvSame(2, 11, 9, 7, 3, 2, 13)},
		{"3x3s2same_even", cvSame(1, 10, 12, 5, 3, 2, 18)},
		{"3x3valid", ConvParams{N: 1, H: 7, W: 6, C: 4, KH: 3, KW: 3, OC: 5, StrideH: 1, StrideW: 1}},
		{"5x5asym", ConvParams{N: 2, H: 8, W: 9, C: 6, KH: 5, KW: 5, OC: 7, StrideH: 1, StrideW: 1, PadTop: 2, PadBottom: 1, PadLeft: 0, PadRight: 3}},
		{"5x5s2same", cvSame(1, 13, 10, 9, 5, 2, 11)},
		{"7x7s2stem", cvSame(2, 23, 20, 3, 7, 2, 17)},
		{"3x1s21", ConvParams{N: 2, H: 9, W: 6, C: 5, KH: 3, KW: 1, OC: 3, StrideH: 2, StrideW: 1, PadTop: 1, PadBottom: 2}},
		{"2x2s2", ConvParams{N: 1, H: 8, W: 7, C: 4, KH: 2, KW: 2, OC: 5, StrideH: 2, StrideW: 2, PadRight: 1}},
		{"5x5s3", ConvParams{N: 1, H: 14, W: 11, C: 3, KH: 5, KW: 3, OC: 4, StrideH: 3, StrideW: 2, PadTop: 2, PadBottom: 2, PadLeft: 1, PadRight: 0}},
		{"bigpad", ConvParams{N: 1, H: 3, W: 4, C: 2, KH: 3, KW: 2, OC: 3, StrideH: 1, StrideW: 2, PadTop: 4, PadBottom: 3, PadLeft: 3, PadRight: 2}},
		{"3x3s2bigpad", ConvParams{N: 1, H: 5, W: 6, C: 3, KH: 3, KW: 3, OC: 2, StrideH: 2, StrideW: 2, PadTop: 3, PadBottom: 1, PadLeft: 2, PadRight: 4}},
		{"wide_c", cvSame(1, 6, 5, 37, 3, 1, 33)},
		// Large enough for WinogradFaster: Conv2D and the stride-1 input
		// gradient take the Winograd path (odd sizes, asymmetric padding).
		{"3x3winograd", cvSame(2, 23, 26, 17, 3, 1, 18)},
		{"3x3winograd_pad", ConvParams{N: 1, H: 25, W: 22, C: 16, KH: 3, KW: 3, OC: 20, StrideH: 1, StrideW: 1, PadTop: 2, PadBottom: 0, PadLeft: 1, PadRight: 2}},
	}
	r := rand.New(rand.NewPCG(1, 2))
	nRandom := 24
	if short {
		nRandom = 10
	}
	for i := 0; i < nRandom; i++ {
		ks := []int{1, 2, 3, 5, 7}
		kh, kw := ks[r.IntN(len(ks))], ks[r.IntN(len(ks))]
		if r.IntN(2) == 0 {
			kw = kh
		}
		p := ConvParams{
			N: 1 + r.IntN(3), H: 1 + r.IntN(12), W: 1 + r.IntN(12), C: 1 + r.IntN(20),
			KH: kh, KW: kw, OC: 1 + r.IntN(20),
			StrideH: 1 + r.IntN(3), StrideW: 1 + r.IntN(3),
			PadTop: r.IntN(kh + 1), PadBottom: r.IntN(kh + 1), PadLeft: r.IntN(kw + 1), PadRight: r.IntN(kw + 1),
		}
		if p.Validate() != nil {
			continue
		}
		cs = append(cs, convCase{fmt.Sprintf("rand%d", i), p})
	}
	return cs
}

// ---- tests ----

func TestSamePadding(t *testing.T) {
	for _, tc := range []struct{ in, k, s, before, after int }{
		{160, 3, 1, 1, 1}, {160, 3, 2, 0, 1}, {161, 3, 2, 1, 1}, {320, 7, 2, 2, 3},
		{321, 7, 2, 3, 3}, {5, 1, 1, 0, 0}, {5, 1, 2, 0, 0}, {4, 5, 1, 2, 2}, {10, 2, 2, 0, 0}, {3, 5, 2, 2, 2},
	} {
		b, a := SamePadding(tc.in, tc.k, tc.s)
		if b != tc.before || a != tc.after {
			t.Errorf("SamePadding(%d,%d,%d) = %d,%d want %d,%d", tc.in, tc.k, tc.s, b, a, tc.before, tc.after)
		}
		p := ConvParams{N: 1, H: tc.in, W: 1, C: 1, KH: tc.k, KW: 1, OC: 1, StrideH: tc.s, StrideW: 1, PadTop: b, PadBottom: a}
		if want := (tc.in + tc.s - 1) / tc.s; p.OutH() != want {
			t.Errorf("OutH with same padding = %d, want %d", p.OutH(), want)
		}
	}
}

func TestConvParamsValidate(t *testing.T) {
	good := cvSame(1, 4, 4, 2, 3, 1, 2)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []ConvParams{
		{N: 0, H: 4, W: 4, C: 1, KH: 1, KW: 1, OC: 1, StrideH: 1, StrideW: 1},
		{N: 1, H: 4, W: 4, C: 1, KH: 5, KW: 1, OC: 1, StrideH: 1, StrideW: 1},
		{N: 1, H: 4, W: 4, C: 1, KH: 1, KW: 1, OC: 1, StrideH: 0, StrideW: 1},
		{N: 1, H: 4, W: 4, C: 1, KH: 1, KW: 1, OC: 1, StrideH: 1, StrideW: 1, PadLeft: -1},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v: Validate accepted it", bad)
		}
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("Conv2D with short slice did not panic")
		}
	}()
	Conv2D(good, make([]float32, 3), make([]float32, 36), make([]float32, 32), nil)
}

func TestConv2D(t *testing.T) {
	for _, wino := range []bool{true, false} {
		t.Run(fmt.Sprint("winograd=", wino), func(t *testing.T) {
			e := NewExec(0)
			defer e.Close()
			e.SetWinograd(wino)
			testConv2DCases(t, e)
		})
	}
}

func testConv2DCases(t *testing.T, e *Exec) {
	r := rand.New(rand.NewPCG(3, 4))
	acts := []Activation{ActNone, ActReLU, ActSwish}
	for ci, tc := range convCases(testing.Short()) {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			oh, ow := p.OutH(), p.OutW()
			x := cvRandSlice(r, p.N*p.H*p.W*p.C)
			w := cvRandSlice(r, p.KH*p.KW*p.C*p.OC)
			want, mag := cvRefConv(p, x, w)

			y, check := cvGuarded(t, len(want), cvNaNFill)
			e.Conv2D(p, x, w, y, nil)
			check()
			cvCompare(t, "Conv2D", y, want, mag)

			// With an epilogue: bias, a residual with a padded row stride, activation.
			ld := p.OC + 3
			ep := &Epilogue{Bias: cvRandSlice(r, p.OC), Residual: cvRandSlice(r, p.N*oh*ow*ld), LdResidual: ld, Act: acts[ci%len(acts)]}
			if ci%4 == 1 {
				ep.Residual = nil
			}
			cvRefEpilogue(want, mag, p.OC, ep)
			y2, check2 := cvGuarded(t, len(want), cvNaNFill)
			e.Conv2D(p, x, w, y2, ep)
			check2()
			cvCompare(t, "Conv2D+epilogue", y2, want, mag)
		})
	}
}

func TestConv2DBackwardData(t *testing.T) {
	for _, wino := range []bool{true, false} {
		t.Run(fmt.Sprint("winograd=", wino), func(t *testing.T) {
			e := NewExec(0)
			defer e.Close()
			e.SetWinograd(wino)
			testConv2DBackwardDataCases(t, e)
		})
	}
}

func testConv2DBackwardDataCases(t *testing.T, e *Exec) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range convCases(testing.Short()) {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			dy := cvRandSlice(r, p.N*p.OutH()*p.OutW()*p.OC)
			w := cvRandSlice(r, p.KH*p.KW*p.C*p.OC)
			want, mag := cvRefConvBackwardData(p, dy, w)

			dx, check := cvGuarded(t, len(want), cvNaNFill)
			e.Conv2DBackwardData(p, dy, w, dx, false)
			check()
			cvCompare(t, "BackwardData", dx, want, mag)

			init := cvRandSlice(r, len(want))
			dx2, check2 := cvGuarded(t, len(want), func(i int) float32 { return init[i] })
			e.Conv2DBackwardData(p, dy, w, dx2, true)
			check2()
			for i := range want {
				want[i] += float64(init[i])
				mag[i] += math.Abs(float64(init[i]))
			}
			cvCompare(t, "BackwardData accumulate", dx2, want, mag)
		})
	}
}

func TestConv2DBackwardFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range convCases(testing.Short()) {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			x := cvRandSlice(r, p.N*p.H*p.W*p.C)
			dy := cvRandSlice(r, p.N*p.OutH()*p.OutW()*p.OC)
			want, mag := cvRefConvBackwardFilter(p, x, dy)

			dw, check := cvGuarded(t, len(want), cvNaNFill)
			Conv2DBackwardFilter(p, x, dy, dw, false)
			check()
			cvCompare(t, "BackwardFilter", dw, want, mag)

			init := cvRandSlice(r, len(want))
			dw2, check2 := cvGuarded(t, len(want), func(i int) float32 { return init[i] })
			Conv2DBackwardFilter(p, x, dy, dw2, true)
			check2()
			for i := range want {
				want[i] += float64(init[i])
				mag[i] += math.Abs(float64(init[i]))
			}
			cvCompare(t, "BackwardFilter accumulate", dw2, want, mag)
		})
	}
}

// cvIm2col returns A[i][p] of the forward im2col matrix.
func cvIm2col(p ConvParams, x []float32, i, k int) float32 {
	ohw := p.OutH() * p.OutW()
	n, oh, ow := i/ohw, i%ohw/p.OutW(), i%p.OutW()
	tap, c := k/p.C, k%p.C
	if ih, iw, ok := cvInside(p, oh, ow, tap/p.KW, tap%p.KW); ok {
		return x[((n*p.H+ih)*p.W+iw)*p.C+c]
	}
	return 0
}

// cvCheckPacker packs random blocks with several mr, concurrently, and checks
// the PanelA contract against at(i, p).
func cvCheckPacker(t *testing.T, a PanelA, m, k int, at func(i, p int) float32, r *rand.Rand) {
	t.Helper()
	type block struct{ mr, i0, mc, p0, kc int }
	var blocks []block
	for _, mr := range []int{1, 2, 3, 4, 5, 6, 8, 12, 14, 16, 24} {
		for j := 0; j < 3; j++ {
			i0, p0 := r.IntN(m), r.IntN(k)
			blocks = append(blocks, block{mr, i0, 1 + r.IntN(m-i0), p0, 1 + r.IntN(k-p0)})
		}
		blocks = append(blocks, block{mr, 0, m, 0, k})
	}
	errs := make([]string, len(blocks))
	var wg sync.WaitGroup
	for bi, b := range blocks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			np := (b.mc + b.mr - 1) / b.mr
			buf := make([]float32, np*b.mr*b.kc+5)
			for i := range buf {
				buf[i] = float32(math.NaN())
			}
			a.PackA(buf, b.mr, b.i0, b.mc, b.p0, b.kc)
			for q := 0; q < np; q++ {
				for pp := 0; pp < b.kc; pp++ {
					for rr := 0; rr < b.mr; rr++ {
						var want float32
						if i := q*b.mr + rr; i < b.mc {
							want = at(b.i0+i, b.p0+pp)
						}
						if got := buf[q*b.mr*b.kc+pp*b.mr+rr]; got != want {
							errs[bi] = fmt.Sprintf("block %+v: panel %d p %d r %d = %v, want %v", b, q, pp, rr, got, want)
							return
						}
					}
				}
			}
			for _, v := range buf[np*b.mr*b.kc:] {
				if !cvIsNaN(v) {
					errs[bi] = fmt.Sprintf("block %+v: wrote past the panels", b)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
}

func TestIm2colPanel(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range convCases(true) {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			x := cvRandSlice(r, p.N*p.H*p.W*p.C)
			var a im2colPanel
			var buf []float32
			a.init(Default(), p.geom(), x, &buf)
			m, k := p.N*p.OutH()*p.OutW(), p.KH*p.KW*p.C
			cvCheckPacker(t, &a, m, k, func(i, q int) float32 { return cvIm2col(p, x, i, q) }, r)
		})
	}
}

func TestFilterPanel(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range convCases(true) {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			x := cvRandSlice(r, p.N*p.H*p.W*p.C)
			a := &filterPanel{g: p.geom(), x: x}
			m, k := p.KH*p.KW*p.C, p.N*p.OutH()*p.OutW()
			cvCheckPacker(t, a, m, k, func(i, q int) float32 { return cvIm2col(p, x, q, i) }, r)
		})
	}
}

func TestConvWorkspaceReuse(t *testing.T) {
	p := cvSame(1, 12, 12, 8, 3, 1, 8)
	x := make([]float32, 12*12*8)
	w := make([]float32, 9*64)
	y := make([]float32, 12*12*8)
	Conv2D(p, x, w, y, nil) // warm the workspace
	ws := Default().convWorkGet()
	xt := &ws.xt[:1][0]
	Default().convWorkPut(ws)
	Conv2D(p, x, w, y, nil)
	ws = Default().convWorkGet()
	defer Default().convWorkPut(ws)
	if &ws.xt[:1][0] != xt {
		t.Fatal("workspace buffer was not reused")
	}
}
