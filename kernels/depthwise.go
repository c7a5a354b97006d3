package kernels

// Depthwise convolutions (channel multiplier 1), as used by SpineNet-Mobile's
// inverted bottlenecks. They are direct loops over pixels whose inner loop is
// dwMAC (elementwise.go): for a run of pixels, a sum over taps of products of
// two contiguous runs of C channels, vectorised (AVX-512 / AVX2 assembly, or
// pure Go). Interior pixels, where every tap is inside the input, go through
// one dwMAC call per output row; border pixels one call each with their valid
// taps. Rows are split across threads.

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
func (e *Exec) DepthwiseConv2D(p ConvParams, x, w, y []float32, ep *Epilogue) {
	depthwiseCheck(p, len(x), len(w), len(y), "DepthwiseConv2D")
	oh, ow, c := p.OutH(), p.OutW(), p.C
	cvCheckEpilogue(ep, p.N*oh*ow, c)
	rows := p.N * oh
	sw := p.StrideW
	// Output columns [xLo, xHi) have every kw inside the input.
	xLo := min(cvCeilDiv(p.PadLeft, sw), ow)
	xHi := max(min(cvFloorDiv(p.W-p.KW+p.PadLeft, sw)+1, ow), xLo)
	e.ParallelFunc(rows, rows*ow*c*p.KH*p.KW, func(lo, hi int) {
		ta := make([]*float32, 0, p.KH*p.KW)
		tb := make([]*float32, 0, p.KH*p.KW)
		for r := lo; r < hi; r++ {
			n, y0 := r/oh, r%oh
			yrow := y[r*ow*c : (r+1)*ow*c]
			// taps collects the valid taps of output column x0 (all kw if
			// interior).
			taps := func(x0 int, interior bool) {
				ta, tb = ta[:0], tb[:0]
				for kh := 0; kh < p.KH; kh++ {
					ih := y0*p.StrideH + kh - p.PadTop
					if ih < 0 || ih >= p.H {
						continue
					}
					xrow := (n*p.H + ih) * p.W
					for kw := 0; kw < p.KW; kw++ {
						iw := x0*sw + kw - p.PadLeft
						if !interior && (iw < 0 || iw >= p.W) {
							continue
						}
						ta = append(ta, &x[(xrow+iw)*c])
						tb = append(tb, &w[(kh*p.KW+kw)*c])
					}
				}
			}
			if xHi > xLo {
				taps(xLo, true)
				dwMAC(yrow[xLo*c:], c, ta, tb, sw*c, 0, c, xHi-xLo, false)
			}
			for x0 := 0; x0 < ow; x0++ {
				if x0 == xLo && xHi > xLo {
					x0 = xHi - 1
					continue
				}
				taps(x0, false)
				dwMAC(yrow[x0*c:], c, ta, tb, 0, 0, c, 1, false)
			}
			if ep != nil {
				var res []float32
				if ep.Residual != nil {
					res = ep.Residual[r*ow*ep.LdResidual:]
				}
				EpilogueRows(ep.Act, yrow, c, ow, c, ep.Bias, res, ep.LdResidual)
			}
		}
	})
}

// cvEpilogueRow applies ep to output row pix (one pixel's channels).
func cvEpilogueRow(ep *Epilogue, row []float32, pix int) {
	if ep == nil {
		return
	}
	var res []float32
	if ep.Residual != nil {
		res = ep.Residual[pix*ep.LdResidual:]
	}
	EpilogueRows(ep.Act, row, len(row), 1, len(row), ep.Bias, res, ep.LdResidual)
}

// DepthwiseConv2DBackwardData computes the input gradient of
// DepthwiseConv2D (without epilogue): dx = (accumulate ? dx : 0) + ∂L/∂x,
//
//	for n, oh, ow, c, kh, kw with ih = oh·StrideH+kh−PadTop, iw = ow·StrideW+kw−PadLeft inside the input:
//	    dx[n, ih, iw, c] += dy[n, oh, ow, c] · w[kh, kw, c]
//
// It runs in gather form (each dx pixel sums the taps that reach it), so
// rows of dx are independent and computed in parallel. The columns of a row
// are taken by phase (iw mod StrideW), which fixes the set of kw that reach
// them, so interior columns of one phase form one dwMAC run.
func (e *Exec) DepthwiseConv2DBackwardData(p ConvParams, dy, w, dx []float32, accumulate bool) {
	depthwiseCheck(p, len(dx), len(w), len(dy), "DepthwiseConv2DBackwardData")
	oh, ow, c := p.OutH(), p.OutW(), p.C
	rows := p.N * p.H
	sw := p.StrideW
	e.ParallelFunc(rows, rows*p.W*c*p.KH*p.KW, func(lo, hi int) {
		ta := make([]*float32, 0, p.KH*p.KW)
		tb := make([]*float32, 0, p.KH*p.KW)
		for r := lo; r < hi; r++ {
			n, ih := r/p.H, r%p.H
			dxrow := dx[r*p.W*c : (r+1)*p.W*c]
			// taps collects the taps reaching column iw; all reports whether
			// every kw of the phase reached it.
			taps := func(iw int) (all bool) {
				ta, tb = ta[:0], tb[:0]
				all = true
				for kh := 0; kh < p.KH; kh++ {
					t := ih + p.PadTop - kh
					if t < 0 || t%p.StrideH != 0 || t/p.StrideH >= oh {
						continue
					}
					dyrow := (n*oh + t/p.StrideH) * ow
					for kw := 0; kw < p.KW; kw++ {
						u := iw + p.PadLeft - kw
						if cvFloorDiv(u, sw)*sw != u {
							continue
						}
						if u < 0 || u/sw >= ow {
							all = false
							continue
						}
						ta = append(ta, &dy[(dyrow+u/sw)*c])
						tb = append(tb, &w[(kh*p.KW+kw)*c])
					}
				}
				return all
			}
			for ph := 0; ph < sw && ph < p.W; ph++ {
				// Columns ph, ph+sw, ...: a run of interior ones goes in one call.
				iw := ph
				for iw < p.W {
					if !taps(iw) {
						dwMAC(dxrow[iw*c:], c, ta, tb, 0, 0, c, 1, accumulate)
						iw += sw
						continue
					}
					end := iw + sw
					for end < p.W {
						u := end + p.PadLeft - p.KW + 1 // smallest u of the phase's kw is ≥ this
						if u < 0 || (end+p.PadLeft)/sw >= ow {
							break
						}
						end += sw
					}
					dwMAC(dxrow[iw*c:], sw*c, ta, tb, c, 0, c, (end-iw)/sw, accumulate)
					iw = end
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
// Output rows are split into blocks that depend only on the shape (see
// dwFilterBlocks); each block sums into its own partial dw, and the
// partials are added to dw in block order, so the result does not depend on
// the number of threads or on which thread ran which block. Within a row,
// for each kh the output columns whose every kw is inside the input go in
// one dwMAC call (taps = columns, pixels = kw); the border columns are
// added per kw.
func (e *Exec) DepthwiseConv2DBackwardFilter(p ConvParams, x, dy, dw []float32, accumulate bool) {
	depthwiseCheck(p, len(x), len(dw), len(dy), "DepthwiseConv2DBackwardFilter")
	oh, ow, c := p.OutH(), p.OutW(), p.C
	taps := p.KH * p.KW
	dw = dw[:taps*c]
	if !accumulate {
		clear(dw)
	}
	rows := p.N * oh
	sw := p.StrideW
	xLo := min(cvCeilDiv(p.PadLeft, sw), ow)
	xHi := max(min(cvFloorDiv(p.W-p.KW+p.PadLeft, sw)+1, ow), xLo)
	per, blocks := dwFilterBlocks(rows, ow*c*taps)
	ws := e.convWorkGet()
	part := cvGrow(&ws.out, blocks*taps*c)
	e.ParallelFunc(blocks, rows*ow*c*taps, func(lo, hi int) {
		ta := make([]*float32, 0, ow)
		tb := make([]*float32, 0, ow)
		one := make([]*float32, 2)
		for b := lo; b < hi; b++ {
			acc := part[b*taps*c : (b+1)*taps*c]
			clear(acc)
			for r := b * per; r < min((b+1)*per, rows); r++ {
				n, y0 := r/oh, r%oh
				dyrow := r * ow
				for kh := 0; kh < p.KH; kh++ {
					ih := y0*p.StrideH + kh - p.PadTop
					if ih < 0 || ih >= p.H {
						continue
					}
					xrow := (n*p.H + ih) * p.W
					if xHi > xLo {
						ta, tb = ta[:0], tb[:0]
						for x0 := xLo; x0 < xHi; x0++ {
							ta = append(ta, &x[(xrow+x0*sw-p.PadLeft)*c])
							tb = append(tb, &dy[(dyrow+x0)*c])
						}
						dwMAC(acc[kh*p.KW*c:], c, ta, tb, c, 0, c, p.KW, true)
					}
					for x0 := 0; x0 < ow; x0++ {
						if x0 == xLo && xHi > xLo {
							x0 = xHi - 1
							continue
						}
						for kw := 0; kw < p.KW; kw++ {
							iw := x0*sw + kw - p.PadLeft
							if iw < 0 || iw >= p.W {
								continue
							}
							one[0], one[1] = &x[(xrow+iw)*c], &dy[(dyrow+x0)*c]
							dwMAC(acc[(kh*p.KW+kw)*c:], 0, one[:1], one[1:], 0, 0, c, 1, true)
						}
					}
				}
			}
		}
	})
	for b := 0; b < blocks; b++ {
		acc := part[b*taps*c : (b+1)*taps*c]
		for i, v := range acc {
			dw[i] += v
		}
	}
	e.convWorkPut(ws)
}

// dwFilterBlocks splits rows output rows of rowWork element operations
// each into blocks for DepthwiseConv2DBackwardFilter: rows per block and
// the number of blocks. The split depends only on the shape: about
// dwFilterBlockWork operations per block, at most dwFilterMaxBlocks blocks
// (each holds a partial dw).
func dwFilterBlocks(rows, rowWork int) (per, blocks int) {
	blocks = min(max(rows*rowWork/dwFilterBlockWork, 1), dwFilterMaxBlocks, rows)
	per = cvCeilDiv(rows, blocks)
	return per, cvCeilDiv(rows, per)
}

const (
	dwFilterBlockWork = 1 << 16
	dwFilterMaxBlocks = 16
)

// DepthwiseConv2D is Default().DepthwiseConv2D.
func DepthwiseConv2D(p ConvParams, x, w, y []float32, ep *Epilogue) {
	Default().DepthwiseConv2D(p, x, w, y, ep)
}

// DepthwiseConv2DBackwardData is Default().DepthwiseConv2DBackwardData.
func DepthwiseConv2DBackwardData(p ConvParams, dy, w, dx []float32, accumulate bool) {
	Default().DepthwiseConv2DBackwardData(p, dy, w, dx, accumulate)
}

// DepthwiseConv2DBackwardFilter is Default().DepthwiseConv2DBackwardFilter.
func DepthwiseConv2DBackwardFilter(p ConvParams, x, dy, dw []float32, accumulate bool) {
	Default().DepthwiseConv2DBackwardFilter(p, x, dy, dw, accumulate)
}
