package kernels

// Depthwise convolutions (channel multiplier 1), as used by SpineNet-Mobile's
// inverted bottlenecks. They are direct loops: each tap adds a contiguous run
// of C products, so the inner loops are bounds-check free slices of equal
// length.

func depthwiseCheck(p ConvParams, xLen, wLen, yLen int, name string) {
	p.mustValid(false)
	if p.OC != p.C {
		panic("kernels: depthwise convolution needs OC == C")
	}
	if xLen < p.N*p.H*p.W*p.C || wLen < p.KH*p.KW*p.C || yLen < p.N*p.OutH()*p.OutW()*p.C {
		panic("kernels: " + name + " slice too short")
	}
}

// DepthwiseConv2D computes the depthwise convolution
//
//	for n, oh, ow, c:
//	    s := 0
//	    for kh, kw with ih = oh·StrideH+kh−PadTop, iw = ow·StrideW+kw−PadLeft inside the input:
//	        s += x[n, ih, iw, c] · w[kh, kw, c]
//	    y[n, oh, ow, c] = Act(s + ep.Bias[c] + ep.Residual[(n·OH+oh)·OW+ow row, c])
//
// x is [N, H, W, C], w is [KH, KW, C], y is [N, OH, OW, C]; p.OC must equal
// p.C. ep may be nil. y is overwritten.
func DepthwiseConv2D(p ConvParams, x, w, y []float32, ep *Epilogue) {
	depthwiseCheck(p, len(x), len(w), len(y), "DepthwiseConv2D")
	oh, ow, c := p.OutH(), p.OutW(), p.C
	cvCheckEpilogue(ep, p.N*oh*ow, c)
	rows := p.N * oh
	convParallel(rows, rows*ow*c*p.KH*p.KW, func(lo, hi int) {
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
				cvEpilogueRow(ep, yr, pix)
			}
		}
	})
}

// cvEpilogueRow applies ep to output row pix (one pixel's channels).
func cvEpilogueRow(ep *Epilogue, row []float32, pix int) {
	if ep == nil {
		return
	}
	if ep.Bias != nil {
		b := ep.Bias[:len(row)]
		for i := range row {
			row[i] += b[i]
		}
	}
	if ep.Residual != nil {
		res := ep.Residual[pix*ep.LdResidual : pix*ep.LdResidual+len(row)]
		for i := range row {
			row[i] += res[i]
		}
	}
	ApplyActivation(ep.Act, row)
}

// DepthwiseConv2DBackwardData computes the input gradient of
// DepthwiseConv2D (without epilogue): dx = (accumulate ? dx : 0) + ∂L/∂x,
//
//	for n, oh, ow, c, kh, kw with ih = oh·StrideH+kh−PadTop, iw = ow·StrideW+kw−PadLeft inside the input:
//	    dx[n, ih, iw, c] += dy[n, oh, ow, c] · w[kh, kw, c]
//
// It runs in gather form (each dx pixel sums the taps that reach it), so
// rows of dx are independent and computed in parallel.
func DepthwiseConv2DBackwardData(p ConvParams, dy, w, dx []float32, accumulate bool) {
	depthwiseCheck(p, len(dx), len(w), len(dy), "DepthwiseConv2DBackwardData")
	oh, ow, c := p.OutH(), p.OutW(), p.C
	rows := p.N * p.H
	convParallel(rows, rows*p.W*c*p.KH*p.KW, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, ih := r/p.H, r%p.H
			for iw := 0; iw < p.W; iw++ {
				pix := r*p.W + iw
				dr := dx[pix*c : pix*c+c]
				if !accumulate {
					clear(dr)
				}
				for kh := 0; kh < p.KH; kh++ {
					t := ih + p.PadTop - kh
					if t < 0 || t%p.StrideH != 0 || t/p.StrideH >= oh {
						continue
					}
					dyrow := dy[(n*oh+t/p.StrideH)*ow*c : (n*oh+t/p.StrideH+1)*ow*c]
					for kw := 0; kw < p.KW; kw++ {
						u := iw + p.PadLeft - kw
						if u < 0 || u%p.StrideW != 0 || u/p.StrideW >= ow {
							continue
						}
						g := dyrow[u/p.StrideW*c : u/p.StrideW*c+c]
						ws := w[(kh*p.KW+kw)*c : (kh*p.KW+kw)*c+c]
						g, ws = g[:len(dr)], ws[:len(dr)]
						for i := range dr {
							dr[i] += g[i] * ws[i]
						}
					}
				}
			}
		}
	})
}

// DepthwiseConv2DBackwardFilter computes the weight gradient of
// DepthwiseConv2D: dw = (accumulate ? dw : 0) + ∂L/∂w,
//
//	for n, oh, ow, c, kh, kw with ih = oh·StrideH+kh−PadTop, iw = ow·StrideW+kw−PadLeft inside the input:
//	    dw[kh, kw, c] += x[n, ih, iw, c] · dy[n, oh, ow, c]
//
// Taps are independent and are split across threads.
func DepthwiseConv2DBackwardFilter(p ConvParams, x, dy, dw []float32, accumulate bool) {
	depthwiseCheck(p, len(x), len(dw), len(dy), "DepthwiseConv2DBackwardFilter")
	oh, ow, c := p.OutH(), p.OutW(), p.C
	taps := p.KH * p.KW
	convParallel(taps, taps*p.N*oh*ow*c, func(lo, hi int) {
		for tap := lo; tap < hi; tap++ {
			kh, kw := tap/p.KW, tap%p.KW
			acc := dw[tap*c : tap*c+c]
			if !accumulate {
				clear(acc)
			}
			// Output columns whose input column lies inside the input.
			owLo := max(cvCeilDiv(p.PadLeft-kw, p.StrideW), 0)
			owHi := min(cvCeilDiv(p.W+p.PadLeft-kw, p.StrideW), ow)
			for n := 0; n < p.N; n++ {
				for y0 := 0; y0 < oh; y0++ {
					ih := y0*p.StrideH + kh - p.PadTop
					if ih < 0 || ih >= p.H {
						continue
					}
					xrow := x[(n*p.H+ih)*p.W*c : (n*p.H+ih+1)*p.W*c]
					dyrow := dy[(n*oh+y0)*ow*c : (n*oh+y0+1)*ow*c]
					for x0 := owLo; x0 < owHi; x0++ {
						iw := x0*p.StrideW + kw - p.PadLeft
						xs := xrow[iw*c : iw*c+c]
						g := dyrow[x0*c : x0*c+c]
						xs, g = xs[:len(acc)], g[:len(acc)]
						for i := range acc {
							acc[i] += xs[i] * g[i]
						}
					}
				}
			}
		}
	})
}
