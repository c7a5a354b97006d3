package kernels

import (
	"math/rand/v2"
	"testing"
)

// Run with, e.g.:
//
//	go test ./kernels -run '^$' -bench 'Conv2D|ConvPack|Depthwise|Pool' -count 5 -benchmem
//
// GFLOP/s counts 2 flops per multiply-add of the direct convolution.

func convMACs(p ConvParams) float64 {
	return float64(p.N*p.OutH()*p.OutW()) * float64(p.KH*p.KW*p.C) * float64(p.OC)
}

func reportGFLOPS(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

type convBufs struct{ x, w, y, dy, dx, dw []float32 }

func newConvBufs(p ConvParams) convBufs {
	r := rand.New(rand.NewPCG(1, 1))
	out := p.N * p.OutH() * p.OutW() * p.OC
	return convBufs{
		x: cvRandSlice(r, p.N*p.H*p.W*p.C), w: cvRandSlice(r, p.KH*p.KW*p.C*p.OC),
		y: make([]float32, out), dy: cvRandSlice(r, out),
		dx: make([]float32, p.N*p.H*p.W*p.C), dw: make([]float32, p.KH*p.KW*p.C*p.OC),
	}
}

func BenchmarkConv2D(b *testing.B) {
	conv3 := cvSame(1, 160, 160, 64, 3, 1, 64)
	b.Run("3x3_64to64_160/fwd", func(b *testing.B) {
		u := newConvBufs(conv3)
		b.ReportAllocs()
		for b.Loop() {
			Conv2D(conv3, u.x, u.w, u.y, nil)
		}
		reportGFLOPS(b, 2*convMACs(conv3))
	})
	b.Run("3x3_64to64_160/fwd+bwd", func(b *testing.B) {
		u := newConvBufs(conv3)
		b.ReportAllocs()
		for b.Loop() {
			Conv2D(conv3, u.x, u.w, u.y, nil)
			Conv2DBackwardData(conv3, u.dy, u.w, u.dx, false)
			Conv2DBackwardFilter(conv3, u.x, u.dy, u.dw, false)
		}
		reportGFLOPS(b, 3*2*convMACs(conv3))
	})
	b.Run("bottleneck_256_80/fwd", func(b *testing.B) {
		// SpineNet bottleneck block at inference, batch 1, 80×80: folded
		// batch norm as bias, ReLU, residual add before the last ReLU.
		c1 := ConvParams{N: 1, H: 80, W: 80, C: 256, KH: 1, KW: 1, OC: 64, StrideH: 1, StrideW: 1}
		c2 := cvSame(1, 80, 80, 64, 3, 1, 64)
		c3 := ConvParams{N: 1, H: 80, W: 80, C: 64, KH: 1, KW: 1, OC: 256, StrideH: 1, StrideW: 1}
		r := rand.New(rand.NewPCG(2, 2))
		x := cvRandSlice(r, 80*80*256)
		w1, w2, w3 := cvRandSlice(r, 256*64), cvRandSlice(r, 9*64*64), cvRandSlice(r, 64*256)
		t1, t2, y := make([]float32, 80*80*64), make([]float32, 80*80*64), make([]float32, 80*80*256)
		ep1 := &Epilogue{Bias: cvRandSlice(r, 64), Act: ActReLU}
		ep2 := &Epilogue{Bias: cvRandSlice(r, 64), Act: ActReLU}
		ep3 := &Epilogue{Bias: cvRandSlice(r, 256), Residual: x, LdResidual: 256, Act: ActReLU}
		b.ReportAllocs()
		for b.Loop() {
			Conv2D(c1, x, w1, t1, ep1)
			Conv2D(c2, t1, w2, t2, ep2)
			Conv2D(c3, t2, w3, y, ep3)
		}
		reportGFLOPS(b, 2*(convMACs(c1)+convMACs(c2)+convMACs(c3)))
	})
	for _, part := range []struct {
		name string
		p    ConvParams
		ep   bool
	}{
		{"bottleneck_part1_1x1_256to64_80", ConvParams{N: 1, H: 80, W: 80, C: 256, KH: 1, KW: 1, OC: 64, StrideH: 1, StrideW: 1}, true},
		{"bottleneck_part2_3x3_64to64_80", cvSame(1, 80, 80, 64, 3, 1, 64), true},
		{"bottleneck_part3_1x1_64to256_80", ConvParams{N: 1, H: 80, W: 80, C: 64, KH: 1, KW: 1, OC: 256, StrideH: 1, StrideW: 1}, true},
	} {
		b.Run(part.name, func(b *testing.B) {
			u := newConvBufs(part.p)
			ep := &Epilogue{Bias: u.w[:part.p.OC], Act: ActReLU}
			b.ReportAllocs()
			for b.Loop() {
				Conv2D(part.p, u.x, u.w, u.y, ep)
			}
			reportGFLOPS(b, 2*convMACs(part.p))
		})
	}
	s2 := cvSame(1, 160, 160, 64, 3, 2, 128)
	b.Run("3x3s2_64to128_160/fwd", func(b *testing.B) {
		u := newConvBufs(s2)
		b.ReportAllocs()
		for b.Loop() {
			Conv2D(s2, u.x, u.w, u.y, nil)
		}
		reportGFLOPS(b, 2*convMACs(s2))
	})
	b.Run("3x3s2_64to128_160/bwd_data", func(b *testing.B) {
		u := newConvBufs(s2)
		b.ReportAllocs()
		for b.Loop() {
			Conv2DBackwardData(s2, u.dy, u.w, u.dx, false)
		}
		reportGFLOPS(b, 2*convMACs(s2))
	})
	stem := cvSame(1, 320, 320, 3, 7, 2, 64)
	b.Run("stem7x7s2_3to64_320/fwd", func(b *testing.B) {
		u := newConvBufs(stem)
		b.ReportAllocs()
		for b.Loop() {
			Conv2D(stem, u.x, u.w, u.y, nil)
		}
		reportGFLOPS(b, 2*convMACs(stem))
	})
}

// BenchmarkConvPack measures the implicit-GEMM packers alone, as a fast GEMM
// would drive them (AVX-512 tile mr = 12, kc = 256, mc = 144), over the whole
// A operand once. pack-%@195GF is the packing time as a percentage of the
// time the GEMM itself needs at 195 GFLOP/s (the fast GEMM's target on this
// 2-core machine); the packers run on one thread here, while the GEMM would
// spread them over its threads.
func BenchmarkConvPack(b *testing.B) {
	const mr, kc, mc = 12, 256, 144
	packAll := func(a PanelA, m, k int, buf []float32) {
		for p0 := 0; p0 < k; p0 += kc {
			kb := min(kc, k-p0)
			for i0 := 0; i0 < m; i0 += mc {
				a.PackA(buf, mr, i0, min(mc, m-i0), p0, kb)
			}
		}
	}
	report := func(b *testing.B, p ConvParams, elems int) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(elems), "ns/elem")
		gemmNs := 2 * convMACs(p) / 195
		b.ReportMetric(100*float64(b.Elapsed().Nanoseconds())/float64(b.N)/gemmNs, "pack-%@195GF")
	}
	for _, tc := range []struct {
		name string
		p    ConvParams
	}{
		{"3x3_64to64_160", cvSame(1, 160, 160, 64, 3, 1, 64)},
		{"3x3s2_64to128_160", cvSame(1, 160, 160, 64, 3, 2, 128)},
		{"stem7x7s2_320", cvSame(1, 320, 320, 3, 7, 2, 64)},
	} {
		p := tc.p
		u := newConvBufs(p)
		m, k := p.N*p.OutH()*p.OutW(), p.KH*p.KW*p.C
		buf := make([]float32, (mc+mr)*kc)
		b.Run(tc.name+"/im2col_build", func(b *testing.B) {
			var a im2colPanel
			var xt []float32
			b.ReportAllocs()
			for b.Loop() {
				a.init(Default(), p.geom(), u.x, &xt)
			}
			report(b, p, m*k)
		})
		b.Run(tc.name+"/im2col_packA", func(b *testing.B) {
			var a im2colPanel
			var xt []float32
			a.init(Default(), p.geom(), u.x, &xt)
			b.ReportAllocs()
			for b.Loop() {
				packAll(&a, m, k, buf)
			}
			report(b, p, m*k)
		})
		b.Run(tc.name+"/filter_packA", func(b *testing.B) {
			a := &filterPanel{g: p.geom(), x: u.x}
			b.ReportAllocs()
			for b.Loop() {
				packAll(a, k, m, buf)
			}
			report(b, p, m*k)
		})
	}
}

func BenchmarkDepthwiseConv2D(b *testing.B) {
	for _, tc := range []struct {
		name string
		p    ConvParams
	}{
		{"3x3_96_80", cvSame(1, 80, 80, 96, 3, 1, 96)},
		{"5x5s2_144_80", cvSame(1, 80, 80, 144, 5, 2, 144)},
	} {
		p := tc.p
		r := rand.New(rand.NewPCG(3, 3))
		x, w := cvRandSlice(r, p.N*p.H*p.W*p.C), cvRandSlice(r, p.KH*p.KW*p.C)
		y := make([]float32, p.N*p.OutH()*p.OutW()*p.C)
		macs := float64(len(y) * p.KH * p.KW)
		b.Run(tc.name+"/fwd", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				DepthwiseConv2D(p, x, w, y, nil)
			}
			reportGFLOPS(b, 2*macs)
		})
		b.Run(tc.name+"/fwd+bwd", func(b *testing.B) {
			dx, dw := make([]float32, len(x)), make([]float32, len(w))
			b.ReportAllocs()
			for b.Loop() {
				DepthwiseConv2D(p, x, w, y, nil)
				DepthwiseConv2DBackwardData(p, y, w, dx, false)
				DepthwiseConv2DBackwardFilter(p, x, y, dw, false)
			}
			reportGFLOPS(b, 3*2*macs)
		})
	}
}

func BenchmarkPool(b *testing.B) {
	p := cvSame(1, 160, 160, 64, 3, 2, 0)
	r := rand.New(rand.NewPCG(4, 4))
	x := cvRandSlice(r, 160*160*64)
	y := make([]float32, 80*80*64)
	idx := make([]int32, len(y))
	dx := make([]float32, len(x))
	b.Run("maxpool3x3s2_64_160/fwd", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			MaxPool2D(p, x, y, idx)
		}
	})
	b.Run("maxpool3x3s2_64_160/bwd", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			MaxPool2DBackward(p, y, idx, dx, false)
		}
	})
	big := make([]float32, 160*160*64)
	b.Run("upsample2x_64_80", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			UpsampleNearest(1, 80, 80, 64, 160, 160, x, big)
		}
	})
}
