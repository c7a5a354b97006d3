package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/internal/cpu"
)

func depthwiseCases(short bool) []convCase {
	var cs []convCase
	for _, tc := range convCases(short) {
		tc.p.OC = tc.p.C
		cs = append(cs, tc)
	}
	return append(cs,
		convCase{"mobile3x3s1", cvSame(2, 10, 9, 35, 3, 1, 35)},
		convCase{"mobile3x3s2", cvSame(1, 11, 10, 24, 3, 2, 24)},
		convCase{"mobile5x5s1", cvSame(1, 9, 12, 33, 5, 1, 33)},
		convCase{"mobile5x5s2", cvSame(2, 13, 8, 18, 5, 2, 18)},
		convCase{"mobile3x3s1c149", cvSame(1, 9, 11, 149, 3, 1, 149)},
		convCase{"mobile3x3s2c149", cvSame(2, 12, 9, 149, 3, 2, 149)},
		convCase{"mobile5x5s2c96", cvSame(1, 11, 10, 96, 5, 2, 96)},
	)
}

func refDepthwise(p ConvParams, x, w, dy []float32) (y, ymag, dx, dxmag, dw, dwmag []float64) {
	oh, ow, c := p.OutH(), p.OutW(), p.C
	y, ymag = make([]float64, p.N*oh*ow*c), make([]float64, p.N*oh*ow*c)
	dx, dxmag = make([]float64, len(x)), make([]float64, len(x))
	dw, dwmag = make([]float64, len(w)), make([]float64, len(w))
	cvForEachTap(p, func(n, y0, x0, kh, kw, ih, iw int) {
		for ch := 0; ch < c; ch++ {
			xi := ((n*p.H+ih)*p.W+iw)*c + ch
			yi := ((n*oh+y0)*ow+x0)*c + ch
			wi := (kh*p.KW+kw)*c + ch
			t := float64(x[xi]) * float64(w[wi])
			y[yi] += t
			ymag[yi] += math.Abs(t)
			t = float64(dy[yi]) * float64(w[wi])
			dx[xi] += t
			dxmag[xi] += math.Abs(t)
			t = float64(x[xi]) * float64(dy[yi])
			dw[wi] += t
			dwmag[wi] += math.Abs(t)
		}
	})
	return
}

func TestDepthwiseConv2D(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	acts := []Activation{ActReLU, ActNone, ActHardSwish}
	for ci, tc := range depthwiseCases(testing.Short()) {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			oh, ow, c := p.OutH(), p.OutW(), p.C
			x := cvRandSlice(r, p.N*p.H*p.W*c)
			w := cvRandSlice(r, p.KH*p.KW*c)
			dy := cvRandSlice(r, p.N*oh*ow*c)
			y0, ymag, dx0, dxmag, dw0, dwmag := refDepthwise(p, x, w, dy)

			y, check := cvGuarded(t, len(y0), cvNaNFill)
			DepthwiseConv2D(p, x, w, y, nil)
			check()
			cvCompare(t, "forward", y, y0, ymag)

			ld := c + 2
			ep := &Epilogue{Bias: cvRandSlice(r, c), Residual: cvRandSlice(r, p.N*oh*ow*ld), LdResidual: ld, Act: acts[ci%len(acts)]}
			cvRefEpilogue(y0, ymag, c, ep)
			y2, check2 := cvGuarded(t, len(y0), cvNaNFill)
			DepthwiseConv2D(p, x, w, y2, ep)
			check2()
			cvCompare(t, "forward+epilogue", y2, y0, ymag)

			for _, acc := range []bool{false, true} {
				initX, initW := cvRandSlice(r, len(dx0)), cvRandSlice(r, len(dw0))
				fill := func(init []float32) func(int) float32 {
					if !acc {
						return cvNaNFill
					}
					return func(i int) float32 { return init[i] }
				}
				dx, checkX := cvGuarded(t, len(dx0), fill(initX))
				dw, checkW := cvGuarded(t, len(dw0), fill(initW))
				DepthwiseConv2DBackwardData(p, dy, w, dx, acc)
				DepthwiseConv2DBackwardFilter(p, x, dy, dw, acc)
				checkX()
				checkW()
				wantX, wantW := append([]float64(nil), dx0...), append([]float64(nil), dw0...)
				magX, magW := append([]float64(nil), dxmag...), append([]float64(nil), dwmag...)
				if acc {
					for i := range wantX {
						wantX[i] += float64(initX[i])
						magX[i] += math.Abs(float64(initX[i]))
					}
					for i := range wantW {
						wantW[i] += float64(initW[i])
						magW[i] += math.Abs(float64(initW[i]))
					}
				}
				cvCompare(t, "backward data", dx, wantX, magX)
				cvCompare(t, "backward filter", dw, wantW, magW)
			}
		})
	}
}

// TestDepthwiseConv2DPaths reruns TestDepthwiseConv2D on the AVX2 and pure-Go
// paths of dwMAC and the epilogue.
func TestDepthwiseConv2DPaths(t *testing.T) {
	for _, fs := range ewFeatureSets[1:] {
		t.Run(fs.name, func(t *testing.T) {
			defer cpu.Disable(fs.off)()
			TestDepthwiseConv2D(t)
		})
	}
}
