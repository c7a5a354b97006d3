package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Run with, e.g.:
//
//	go test ./kernels -run '^$' -bench 'Winograd' -count 5 -benchmem
//
// GFLOP/s counts 2 flops per multiply-add of the direct convolution, so a
// Winograd figure above the FMA peak means it does fewer multiplies.
//
// Sub-benchmarks per shape:
//
//	conv2d    Conv2D (direct implicit GEMM), re-measured in the same run
//	pre       Conv2DWinogradPre, F(4×4, 3×3), weights transformed once
//	pre_f2    the same with F(2×2, 3×3)
//	pre_whole F(4×4) with the whole image as one tile block
//	wtrans    Conv2DWinograd (weights transformed on every call)

type winoBenchShape struct {
	name string
	p    ConvParams
}

func winoBenchShapes() []winoBenchShape {
	var s []winoBenchShape
	for _, hw := range []int{80, 40, 20, 10, 5} {
		s = append(s, winoBenchShape{fmt.Sprintf("head_256to256_%d", hw), winoSame(1, hw, hw, 256, 256)})
	}
	s = append(s,
		winoBenchShape{"cls_256to819_80", winoSame(1, 80, 80, 256, 819)},
		winoBenchShape{"cls_256to819_20", winoSame(1, 20, 20, 256, 819)},
		winoBenchShape{"box_256to36_80", winoSame(1, 80, 80, 256, 36)},
		winoBenchShape{"bneck_64to64_160", winoSame(1, 160, 160, 64, 64)},
		winoBenchShape{"bneck_128to128_80", winoSame(1, 80, 80, 128, 128)},
		winoBenchShape{"train_b4_128to128_40", winoSame(4, 40, 40, 128, 128)},
		// Around the WinogradFaster threshold.
		winoBenchShape{"rule_b4_256to256_20", winoSame(4, 20, 20, 256, 256)},
		winoBenchShape{"rule_64to64_40", winoSame(1, 40, 40, 64, 64)},
		winoBenchShape{"rule_64to64_28", winoSame(1, 28, 28, 64, 64)},
		winoBenchShape{"rule_32to32_80", winoSame(1, 80, 80, 32, 32)},
		winoBenchShape{"rule_16to16_80", winoSame(1, 80, 80, 16, 16)},
		winoBenchShape{"rule_256to256_28", winoSame(1, 28, 28, 256, 256)},
	)
	return s
}

func BenchmarkWinograd(b *testing.B) {
	for _, sh := range winoBenchShapes() {
		p := sh.p
		r := rand.New(rand.NewPCG(1, 1))
		x := winoRand(r, p.N*p.H*p.W*p.C)
		w := winoRand(r, 9*p.C*p.OC)
		y := make([]float32, p.N*p.OutH()*p.OutW()*p.OC)
		ep := &Epilogue{Bias: winoRand(r, p.OC), Act: ActReLU}
		flops := 2 * float64(p.N*p.OutH()*p.OutW()) * float64(9*p.C) * float64(p.OC)
		b.Run(sh.name+"/conv2d", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Conv2D(p, x, w, y, ep)
			}
			reportGFLOPS(b, flops)
		})
		for _, v := range []struct {
			name  string
			tile  int
			block int
		}{{"pre", 4, winoBlockFloats}, {"pre_f2", 2, winoBlockFloats}, {"pre_whole", 4, 0}} {
			b.Run(sh.name+"/"+v.name, func(b *testing.B) {
				defer func(t, bf int) { winoDefaultTile, winoBlockFloats = t, bf }(winoDefaultTile, winoBlockFloats)
				winoDefaultTile, winoBlockFloats = v.tile, v.block
				ww := TransformWinogradWeights(p.C, p.OC, w)
				Conv2DWinogradPre(p, x, ww, y, ep)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					Conv2DWinogradPre(p, x, ww, y, ep)
				}
				reportGFLOPS(b, flops)
			})
		}
		b.Run(sh.name+"/wtrans", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Conv2DWinograd(p, x, w, y, ep)
			}
			reportGFLOPS(b, flops)
		})
	}
}

func BenchmarkWinogradBlockSweep(b *testing.B) {
	for _, sh := range []winoBenchShape{
		{"head_256to256_80", winoSame(1, 80, 80, 256, 256)},
		{"bneck_64to64_160", winoSame(1, 160, 160, 64, 64)},
		{"head_256to256_20", winoSame(1, 20, 20, 256, 256)},
	} {
		p := sh.p
		r := rand.New(rand.NewPCG(1, 1))
		x := winoRand(r, p.N*p.H*p.W*p.C)
		w := winoRand(r, 9*p.C*p.OC)
		y := make([]float32, p.N*p.OutH()*p.OutW()*p.OC)
		ep := &Epilogue{Bias: winoRand(r, p.OC), Act: ActReLU}
		flops := 2 * float64(p.N*p.OutH()*p.OutW()) * float64(9*p.C) * float64(p.OC)
		ww := TransformWinogradWeights(p.C, p.OC, w)
		for _, bf := range []int{1 << 19, 1 << 20, 1 << 21, 1 << 22, 1 << 23, 0} {
			b.Run(fmt.Sprintf("%s/block%d", sh.name, bf), func(b *testing.B) {
				defer func(bf, mt int) { winoBlockFloats, winoMinBlockTiles = bf, mt }(winoBlockFloats, winoMinBlockTiles)
				winoBlockFloats, winoMinBlockTiles = bf, 1
				for b.Loop() {
					Conv2DWinogradPre(p, x, ww, y, ep)
				}
				reportGFLOPS(b, flops)
			})
		}
	}
}
