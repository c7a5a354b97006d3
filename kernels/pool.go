package kernels

import "math"

// MaxPool2D computes max pooling over KH×KW windows of the NHWC input x
// [N, H, W, C] into y [N, OH, OW, C] (p.OC is ignored):
//
//	for n, oh, ow, c:
//	    y[n, oh, ow, c] = −∞; argmax = −1
//	    for kh, kw (row-major) with ih = oh·StrideH+kh−PadTop, iw = ow·StrideW+kw−PadLeft inside the input:
//	        if v := x[n, ih, iw, c]; v > y[n, oh, ow, c] or argmax == −1:
//	            y[n, oh, ow, c] = v; argmax = ((n·H+ih)·W+iw)·C+c
//	    argmax[(n·OH+oh)·OW+ow)·C+c] = argmax
//
// Padding behaves as −∞ and never wins: a window that covers no input element
// yields −∞ and index −1. Ties go to the first element in window order; NaN
// only wins as a window's first element. argmax, the flat index into x of
// each output's source, may be nil (inference); MaxPool2DBackward needs it.
func MaxPool2D(p ConvParams, x, y []float32, argmax []int32) {
	p.mustValid(true)
	oh, ow, c := p.OutH(), p.OutW(), p.C
	if len(x) < p.N*p.H*p.W*c || len(y) < p.N*oh*ow*c || (argmax != nil && len(argmax) < p.N*oh*ow*c) {
		panic("kernels: MaxPool2D slice too short")
	}
	if p.N*p.H*p.W*c > math.MaxInt32 {
		panic("kernels: MaxPool2D input too large for int32 indices")
	}
	ninf := float32(math.Inf(-1))
	rows := p.N * oh
	convParallel(rows, rows*ow*c*p.KH*p.KW, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, y0 := r/oh, r%oh
			for x0 := 0; x0 < ow; x0++ {
				pix := r*ow + x0
				yr := y[pix*c : pix*c+c]
				var am []int32
				if argmax != nil {
					am = argmax[pix*c : pix*c+c]
					am = am[:len(yr)]
				}
				first := true
				for kh := 0; kh < p.KH; kh++ {
					ih := y0*p.StrideH + kh - p.PadTop
					if ih < 0 || ih >= p.H {
						continue
					}
					for kw := 0; kw < p.KW; kw++ {
						iw := x0*p.StrideW + kw - p.PadLeft
						if iw < 0 || iw >= p.W {
							continue
						}
						base := ((n*p.H+ih)*p.W + iw) * c
						xs := x[base : base+c]
						xs = xs[:len(yr)]
						switch {
						case first && am != nil:
							copy(yr, xs)
							for i := range am {
								am[i] = int32(base + i)
							}
						case first:
							copy(yr, xs)
						case am != nil:
							for i, v := range xs {
								if v > yr[i] {
									yr[i] = v
									am[i] = int32(base + i)
								}
							}
						default:
							for i, v := range xs {
								yr[i] = cvMax32(yr[i], v)
							}
						}
						first = false
					}
				}
				if first { // the window holds only padding
					for i := range yr {
						yr[i] = ninf
					}
					for i := range am {
						am[i] = -1
					}
				}
			}
		}
	})
}

// cvMax32 returns b if b > a, else a (so a NaN in b never wins).
func cvMax32(a, b float32) float32 {
	if b > a {
		return b
	}
	return a
}

// MaxPool2DBackward routes the output gradient dy [N, OH, OW, C] back to the
// input positions recorded by MaxPool2D in argmax:
//
//	dx = accumulate ? dx : 0
//	for i: if argmax[i] >= 0 { dx[argmax[i]] += dy[i] }
//
// dx is [N, H, W, C]. Images are processed in parallel.
func MaxPool2DBackward(p ConvParams, dy []float32, argmax []int32, dx []float32, accumulate bool) {
	p.mustValid(true)
	oh, ow, c := p.OutH(), p.OutW(), p.C
	in, out := p.H*p.W*c, oh*ow*c
	if len(dy) < p.N*out || len(argmax) < p.N*out || len(dx) < p.N*in {
		panic("kernels: MaxPool2DBackward slice too short")
	}
	convParallel(p.N, p.N*(in+out), func(lo, hi int) {
		if !accumulate {
			clear(dx[lo*in : hi*in])
		}
		// Indices of image n lie in [n·in, (n+1)·in).
		d := dx[lo*in : hi*in]
		g := dy[lo*out : hi*out]
		am := argmax[lo*out : hi*out]
		am = am[:len(g)]
		off := int32(lo * in)
		for i, v := range g {
			if j := am[i]; j >= 0 {
				d[j-off] += v
			}
		}
	})
}

// AvgPoolGlobal averages each channel over all pixels: for x [N, H, W, C]
// and y [N, C],
//
//	y[n, c] = (Σ_{h,w} x[n, h, w, c]) / (H·W)
func AvgPoolGlobal(n, h, w, c int, x, y []float32) {
	if n < 0 || h < 1 || w < 1 || c < 0 {
		panic("kernels: AvgPoolGlobal bad sizes")
	}
	if len(x) < n*h*w*c || len(y) < n*c {
		panic("kernels: AvgPoolGlobal slice too short")
	}
	hw := h * w
	scale := 1 / float32(hw)
	convParallel(n, n*hw*c, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			acc := y[b*c : b*c+c]
			clear(acc)
			img := x[b*hw*c : (b+1)*hw*c]
			for q := 0; q < hw; q++ {
				xs := img[q*c : q*c+c]
				xs = xs[:len(acc)]
				for i := range acc {
					acc[i] += xs[i]
				}
			}
			for i := range acc {
				acc[i] *= scale
			}
		}
	})
}

// AvgPoolGlobalBackward is the gradient of AvgPoolGlobal: for dy [N, C] and
// dx [N, H, W, C],
//
//	dx[n, h, w, c] = (accumulate ? dx[n, h, w, c] : 0) + dy[n, c] / (H·W)
func AvgPoolGlobalBackward(n, h, w, c int, dy, dx []float32, accumulate bool) {
	if n < 0 || h < 1 || w < 1 || c < 0 {
		panic("kernels: AvgPoolGlobalBackward bad sizes")
	}
	if len(dy) < n*c || len(dx) < n*h*w*c {
		panic("kernels: AvgPoolGlobalBackward slice too short")
	}
	hw := h * w
	scale := 1 / float32(hw)
	convParallel(n*h, n*hw*c, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			g := dy[r/h*c : r/h*c+c]
			for q := r * w; q < (r+1)*w; q++ {
				d := dx[q*c : q*c+c]
				d = d[:len(g)]
				if accumulate {
					for i := range d {
						d[i] += g[i] * scale
					}
				} else {
					for i := range d {
						d[i] = g[i] * scale
					}
				}
			}
		}
	})
}
