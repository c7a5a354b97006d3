package kernels

import (
	"math"
	"unsafe"
)

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
func (e *Exec) MaxPool2D(p ConvParams, x, y []float32, argmax []int32) {
	p.mustValid(true)
	oh, ow, c := p.OutH(), p.OutW(), p.C
	if len(x) < p.N*p.H*p.W*c || len(y) < p.N*oh*ow*c || (argmax != nil && len(argmax) < p.N*oh*ow*c) {
		panic("kernels: MaxPool2D slice too short")
	}
	if p.N*p.H*p.W*c > math.MaxInt32 {
		panic("kernels: MaxPool2D input too large for int32 indices")
	}
	if argmax == nil {
		e.maxPoolFwd(p, x, y)
		return
	}
	ninf := float32(math.Inf(-1))
	rows := p.N * oh
	t := maxPoolArgmaxTasks.Get()
	*t = maxPoolArgmaxTask{p: p, x: x, y: y, argmax: argmax, oh: oh, ow: ow, c: c, ninf: ninf}
	e.Parallel(rows, rows*ow*c*p.KH*p.KW, t)
	maxPoolArgmaxTasks.Put(t)
}

// maxPoolArgmaxTask holds the arguments of MaxPool2D's parallel loop.
type maxPoolArgmaxTask struct {
	p         ConvParams
	x, y      []float32
	argmax    []int32
	oh, ow, c int
	ninf      float32
}

var maxPoolArgmaxTasks ArgPool[maxPoolArgmaxTask]

func (t *maxPoolArgmaxTask) RunRange(lo, hi int) {
	p, x, y, argmax, oh, ow, c, ninf := t.p, t.x, t.y, t.argmax, t.oh, t.ow, t.c, t.ninf
	for r := lo; r < hi; r++ {
		n, y0 := r/oh, r%oh
		for x0 := 0; x0 < ow; x0++ {
			pix := r*ow + x0
			yr := y[pix*c : pix*c+c]
			am := argmax[pix*c : pix*c+c]
			am = am[:len(yr)]
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
					if first {
						copy(yr, xs)
						for i := range am {
							am[i] = int32(base + i)
						}
					} else {
						for i, v := range xs {
							if v > yr[i] {
								yr[i] = v
								am[i] = int32(base + i)
							}
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
}

// maxPoolFwd is MaxPool2D without argmax (inference). Like the depthwise
// convolution it runs poolMax once per output row over the interior columns
// (every kw inside the input, so the same taps at a fixed step) and once per
// border pixel with its valid taps.
func (e *Exec) maxPoolFwd(p ConvParams, x, y []float32) {
	oh, ow, c := p.OutH(), p.OutW(), p.C
	sw := p.StrideW
	xLo := min(cvCeilDiv(p.PadLeft, sw), ow)
	xHi := max(min(cvFloorDiv(p.W-p.KW+p.PadLeft, sw)+1, ow), xLo)
	rows := p.N * oh
	e.ParallelFunc(rows, rows*ow*c*p.KH*p.KW, func(lo, hi int) {
		var buf [64]*float32
		ta := buf[:0]
		if p.KH*p.KW > len(buf) {
			ta = make([]*float32, 0, p.KH*p.KW)
		}
		for r := lo; r < hi; r++ {
			n, y0 := r/oh, r%oh
			yrow := y[r*ow*c : (r+1)*ow*c]
			taps := func(x0 int, interior bool) {
				ta = ta[:0]
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
					}
				}
			}
			if xHi > xLo {
				taps(xLo, true)
				poolMax(yrow[xLo*c:], c, ta, sw*c, c, xHi-xLo)
			}
			for x0 := 0; x0 < ow; x0++ {
				if x0 == xLo && xHi > xLo {
					x0 = xHi - 1
					continue
				}
				taps(x0, false)
				poolMax(yrow[x0*c:], c, ta, 0, c, 1)
			}
		}
	})
}

// poolMax sets, for p < npix and ch < c,
//
//	dst[p·dstStep+ch] = the maximum of a[t][p·aStep+ch] over t in order,
//	                    replaced only by a strictly greater value
//
// (so ties keep the first tap and a NaN wins only as the first tap), or −∞
// if a is empty. a[t] point into float32 slices (steps in floats); the
// caller guarantees every address is in bounds.
func poolMax(dst []float32, dstStep int, a []*float32, aStep, c, npix int) {
	if npix <= 0 || c <= 0 {
		return
	}
	if len(a) == 0 {
		ninf := float32(math.Inf(-1))
		for p := 0; p < npix; p++ {
			d := dst[p*dstStep : p*dstStep+c]
			for i := range d {
				d[i] = ninf
			}
		}
		return
	}
	_ = dst[(npix-1)*dstStep+c-1]
	if poolMaxAsm(dst, dstStep, a, aStep, c, npix) {
		return
	}
	poolMaxGo(dst, dstStep, a, aStep, c, npix)
}

// poolMaxGo is the pure-Go poolMax (len(a) ≥ 1), branch-free in the inner
// loop.
func poolMaxGo(dst []float32, dstStep int, a []*float32, aStep, c, npix int) {
	for p := 0; p < npix; p++ {
		d := dst[p*dstStep : p*dstStep+c]
		copy(d, unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(a[0]), 4*p*aStep)), c))
		for t := 1; t < len(a); t++ {
			v := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(a[t]), 4*p*aStep)), c)
			v = v[:len(d)]
			for i := range d {
				d[i] = maxFirst(d[i], v[i])
			}
		}
	}
}

// maxFirst returns v if v > m, else m (a NaN v never wins), without a
// branch: the comparison becomes a mask that selects the bits.
func maxFirst(m, v float32) float32 {
	var gt uint32
	if v > m {
		gt = 1
	}
	mb, vb := math.Float32bits(m), math.Float32bits(v)
	return math.Float32frombits(mb ^ (mb^vb)&-gt)
}

// MaxPool2DBackward routes the output gradient dy [N, OH, OW, C] back to the
// input positions recorded by MaxPool2D in argmax:
//
//	dx = accumulate ? dx : 0
//	for i: if argmax[i] >= 0 { dx[argmax[i]] += dy[i] }
//
// dx is [N, H, W, C]. Images are processed in parallel.
func (e *Exec) MaxPool2DBackward(p ConvParams, dy []float32, argmax []int32, dx []float32, accumulate bool) {
	p.mustValid(true)
	oh, ow, c := p.OutH(), p.OutW(), p.C
	in, out := p.H*p.W*c, oh*ow*c
	if len(dy) < p.N*out || len(argmax) < p.N*out || len(dx) < p.N*in {
		panic("kernels: MaxPool2DBackward slice too short")
	}
	t := maxPoolBackwardTasks.Get()
	*t = maxPoolBackwardTask{dy: dy, dx: dx, argmax: argmax, in: in, out: out, accumulate: accumulate}
	e.Parallel(p.N, p.N*(in+out), t)
	maxPoolBackwardTasks.Put(t)
}

// maxPoolBackwardTask holds the arguments of MaxPool2DBackward's parallel loop.
type maxPoolBackwardTask struct {
	dy, dx     []float32
	argmax     []int32
	in, out    int
	accumulate bool
}

var maxPoolBackwardTasks ArgPool[maxPoolBackwardTask]

func (t *maxPoolBackwardTask) RunRange(lo, hi int) {
	dy, dx, argmax, in, out, accumulate := t.dy, t.dx, t.argmax, t.in, t.out, t.accumulate
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
}

// AvgPoolGlobal averages each channel over all pixels: for x [N, H, W, C]
// and y [N, C],
//
//	y[n, c] = (Σ_{h,w} x[n, h, w, c]) / (H·W)
func (e *Exec) AvgPoolGlobal(n, h, w, c int, x, y []float32) {
	if n < 0 || h < 1 || w < 1 || c < 0 {
		panic("kernels: AvgPoolGlobal bad sizes")
	}
	if len(x) < n*h*w*c || len(y) < n*c {
		panic("kernels: AvgPoolGlobal slice too short")
	}
	hw := h * w
	scale := 1 / float32(hw)
	t := avgPoolGlobalTasks.Get()
	*t = avgPoolGlobalTask{x: x, y: y, hw: hw, c: c, scale: scale}
	e.Parallel(n, n*hw*c, t)
	avgPoolGlobalTasks.Put(t)
}

// avgPoolGlobalTask holds the arguments of AvgPoolGlobal's parallel loop.
type avgPoolGlobalTask struct {
	x, y  []float32
	hw, c int
	scale float32
}

var avgPoolGlobalTasks ArgPool[avgPoolGlobalTask]

func (t *avgPoolGlobalTask) RunRange(lo, hi int) {
	x, y, hw, c, scale := t.x, t.y, t.hw, t.c, t.scale
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
}

// AvgPoolGlobalBackward is the gradient of AvgPoolGlobal: for dy [N, C] and
// dx [N, H, W, C],
//
//	dx[n, h, w, c] = (accumulate ? dx[n, h, w, c] : 0) + dy[n, c] / (H·W)
func (e *Exec) AvgPoolGlobalBackward(n, h, w, c int, dy, dx []float32, accumulate bool) {
	if n < 0 || h < 1 || w < 1 || c < 0 {
		panic("kernels: AvgPoolGlobalBackward bad sizes")
	}
	if len(dy) < n*c || len(dx) < n*h*w*c {
		panic("kernels: AvgPoolGlobalBackward slice too short")
	}
	hw := h * w
	scale := 1 / float32(hw)
	t := avgPoolGlobalBackwardTasks.Get()
	*t = avgPoolGlobalBackwardTask{dy: dy, dx: dx, h: h, w: w, c: c, scale: scale, accumulate: accumulate}
	e.Parallel(n*h, n*hw*c, t)
	avgPoolGlobalBackwardTasks.Put(t)
}

// avgPoolGlobalBackwardTask holds the arguments of AvgPoolGlobalBackward's parallel loop.
type avgPoolGlobalBackwardTask struct {
	dy, dx     []float32
	h, w, c    int
	scale      float32
	accumulate bool
}

var avgPoolGlobalBackwardTasks ArgPool[avgPoolGlobalBackwardTask]

func (t *avgPoolGlobalBackwardTask) RunRange(lo, hi int) {
	dy, dx, h, w, c, scale, accumulate := t.dy, t.dx, t.h, t.w, t.c, t.scale, t.accumulate
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
}

// MaxPool2D is Default().MaxPool2D.
func MaxPool2D(p ConvParams, x, y []float32, argmax []int32) { Default().MaxPool2D(p, x, y, argmax) }

// MaxPool2DBackward is Default().MaxPool2DBackward.
func MaxPool2DBackward(p ConvParams, dy []float32, argmax []int32, dx []float32, accumulate bool) {
	Default().MaxPool2DBackward(p, dy, argmax, dx, accumulate)
}

// AvgPoolGlobal is Default().AvgPoolGlobal.
func AvgPoolGlobal(n, h, w, c int, x, y []float32) { Default().AvgPoolGlobal(n, h, w, c, x, y) }

// AvgPoolGlobalBackward is Default().AvgPoolGlobalBackward.
func AvgPoolGlobalBackward(n, h, w, c int, dy, dx []float32, accumulate bool) {
	Default().AvgPoolGlobalBackward(n, h, w, c, dy, dx, accumulate)
}
