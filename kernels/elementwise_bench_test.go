package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/internal/cpu"
)

// Run with, e.g.:
//
//	go test ./kernels -run '^$' -bench 'Activation|EpilogueConv|DepthwiseFast' -count 5
//
// "legacy" sub-benchmarks run the implementations these kernels replaced
// (scalar float64 math.Exp; scalar depthwise loops), for a before/after
// comparison in the same run.

// legacyApplyActivation is the ApplyActivation of before the vectorised
// kernels (Swish only).
func legacyApplyActivationSwish(v []float32) {
	for i, x := range v {
		var s float32
		if x >= 0 {
			s = 1 / (1 + float32(math.Exp(float64(-x))))
		} else {
			e := float32(math.Exp(float64(x)))
			s = e / (1 + e)
		}
		v[i] = x * s
	}
}

func ewBenchPaths(b *testing.B, f func(b *testing.B)) {
	for _, fs := range ewFeatureSets {
		b.Run(fs.name, func(b *testing.B) {
			defer cpu.Disable(fs.off)()
			f(b)
		})
	}
}

func BenchmarkApplyActivation(b *testing.B) {
	const n = 1 << 20
	r := rand.New(rand.NewPCG(1, 1))
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(r.NormFloat64() * 4)
	}
	v := make([]float32, n)
	run := func(b *testing.B, f func()) {
		b.ReportAllocs()
		b.SetBytes(8 * n) // read + write
		for b.Loop() {
			copy(v, src) // keep the inputs realistic (not saturated)
			f()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
	}
	b.Run("Swish1M/legacy", func(b *testing.B) { run(b, func() { legacyApplyActivationSwish(v) }) })
	for _, act := range []struct {
		name string
		a    Activation
	}{{"Swish1M", ActSwish}, {"ReLU1M", ActReLU}, {"HardSwish1M", ActHardSwish}, {"Sigmoid1M", ActSigmoid}} {
		b.Run(act.name, func(b *testing.B) {
			ewBenchPaths(b, func(b *testing.B) { run(b, func() { ApplyActivation(act.a, v) }) })
		})
	}
	b.Run("copyOnly", func(b *testing.B) { run(b, func() {}) })
}

func BenchmarkActivationBackward(b *testing.B) {
	const n = 1 << 20
	r := rand.New(rand.NewPCG(1, 1))
	x, dy, dx := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], dy[i] = float32(r.NormFloat64()*4), float32(r.NormFloat64())
	}
	b.Run("Swish1M/legacy", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(12 * n)
		for b.Loop() {
			for i := range dx {
				xv := x[i]
				var s float32
				if xv >= 0 {
					s = 1 / (1 + float32(math.Exp(float64(-xv))))
				} else {
					e := float32(math.Exp(float64(xv)))
					s = e / (1 + e)
				}
				dx[i] += dy[i] * (s * (1 + xv*(1-s)))
			}
		}
	})
	b.Run("Swish1M", func(b *testing.B) {
		ewBenchPaths(b, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(12 * n)
			for b.Loop() {
				ActivationBackward(ActSwish, dx, x, dy, true)
			}
		})
	})
}

// BenchmarkEpilogueConv is the 1×1 convolution 64→256 at 80×80 (a SpineNet
// bottleneck expansion) with and without a bias+Swish epilogue.
func BenchmarkEpilogueConv(b *testing.B) {
	p := ConvParams{N: 1, H: 80, W: 80, C: 64, KH: 1, KW: 1, OC: 256, StrideH: 1, StrideW: 1}
	u := newConvBufs(p)
	r := rand.New(rand.NewPCG(3, 3))
	for _, tc := range []struct {
		name string
		ep   *Epilogue
	}{
		{"1x1_64to256_80/none", nil},
		{"1x1_64to256_80/bias+relu", &Epilogue{Bias: cvRandSlice(r, p.OC), Act: ActReLU}},
		{"1x1_64to256_80/bias+swish", &Epilogue{Bias: cvRandSlice(r, p.OC), Act: ActSwish}},
		{"1x1_64to256_80/bias+res+swish", &Epilogue{Bias: cvRandSlice(r, p.OC), Residual: cvRandSlice(r, 80*80*p.OC), LdResidual: p.OC, Act: ActSwish}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Conv2D(p, u.x, u.w, u.y, tc.ep)
			}
			reportGFLOPS(b, 2*convMACs(p))
		})
	}
}

// legacyDepthwiseFwd is the scalar DepthwiseConv2D of before dwMAC (no
// epilogue, same parallel split).
func legacyDepthwiseFwd(p ConvParams, x, w, y []float32) {
	oh, ow, c := p.OutH(), p.OutW(), p.C
	rows := p.N * oh
	ParallelFunc(rows, rows*ow*c*p.KH*p.KW, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, y0 := r/oh, r%oh
			for x0 := 0; x0 < ow; x0++ {
				pix := r*ow + x0
				yr := y[pix*c : pix*c+c]
				clear(yr)
				for kh := 0; kh < p.KH; kh++ {
					ih := y0*p.StrideH + kh - p.PadTop
					if ih < 0 || ih >= p.H {
						continue
					}
					xrow := x[(n*p.H+ih)*p.W*c : (n*p.H+ih+1)*p.W*c]
					for kw := 0; kw < p.KW; kw++ {
						iw := x0*p.StrideW + kw - p.PadLeft
						if iw < 0 || iw >= p.W {
							continue
						}
						xs := xrow[iw*c : iw*c+c]
						ws := w[(kh*p.KW+kw)*c : (kh*p.KW+kw)*c+c]
						xs, ws = xs[:len(yr)], ws[:len(yr)]
						for i := range yr {
							yr[i] += xs[i] * ws[i]
						}
					}
				}
			}
		}
	})
}

// BenchmarkDepthwiseFast times the depthwise 3×3 convolution on
// 1×80×80×144 (SpineNet-Mobile), stride 1 and 2.
func BenchmarkDepthwiseFast(b *testing.B) {
	for _, s := range []int{1, 2} {
		p := cvSame(1, 80, 80, 144, 3, s, 144)
		u := newConvBufs(p)
		u.w = u.w[:p.KH*p.KW*p.C]
		flops := 2 * float64(p.N*p.OutH()*p.OutW()*p.C*p.KH*p.KW)
		name := "3x3_144_80_s" + string(rune('0'+s))
		b.Run(name+"/fwd/legacy", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				legacyDepthwiseFwd(p, u.x, u.w, u.y)
			}
			reportGFLOPS(b, flops)
		})
		ep := &Epilogue{Bias: u.w[:p.C], Act: ActHardSwish}
		for _, fs := range ewFeatureSets {
			b.Run(name+"/fwd/"+fs.name, func(b *testing.B) {
				defer cpu.Disable(fs.off)()
				b.ReportAllocs()
				for b.Loop() {
					DepthwiseConv2D(p, u.x, u.w, u.y, nil)
				}
				reportGFLOPS(b, flops)
			})
		}
		b.Run(name+"/fwd+bias+hswish", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				DepthwiseConv2D(p, u.x, u.w, u.y, ep)
			}
			reportGFLOPS(b, flops)
		})
		b.Run(name+"/bwdData", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				DepthwiseConv2DBackwardData(p, u.dy[:p.N*p.OutH()*p.OutW()*p.C], u.w, u.dx, false)
			}
			reportGFLOPS(b, flops)
		})
		b.Run(name+"/bwdFilter", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				DepthwiseConv2DBackwardFilter(p, u.x, u.dy[:p.N*p.OutH()*p.OutW()*p.C], u.dw[:p.KH*p.KW*p.C], false)
			}
			reportGFLOPS(b, flops)
		})
	}
}
