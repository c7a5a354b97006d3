package kernels

import "errors"

// ConvParams describes a 2-D convolution (or pooling window) over an NHWC
// input of shape [N, H, W, C] producing an NHWC output [N, OutH(), OutW(), OC].
//
// The kernel is KH×KW with strides StrideH, StrideW. The input is conceptually
// surrounded by PadTop rows above, PadBottom rows below, PadLeft columns on the
// left and PadRight on the right; padding reads as zero for convolutions and
// as -∞ for max pooling. Output pixel (oh, ow) sees input pixels
//
//	ih = oh·StrideH + kh − PadTop,  iw = ow·StrideW + kw − PadLeft
//
// for kh < KH, kw < KW. Pooling kernels ignore OC.
type ConvParams struct {
	N, H, W, C       int
	KH, KW           int
	OC               int
	StrideH, StrideW int
	PadTop           int
	PadBottom        int
	PadLeft          int
	PadRight         int
}

// OutH returns the output height (H + PadTop + PadBottom − KH)/StrideH + 1.
func (p ConvParams) OutH() int { return (p.H+p.PadTop+p.PadBottom-p.KH)/p.StrideH + 1 }

// OutW returns the output width (W + PadLeft + PadRight − KW)/StrideW + 1.
func (p ConvParams) OutW() int { return (p.W+p.PadLeft+p.PadRight-p.KW)/p.StrideW + 1 }

// SamePadding returns TensorFlow's 'SAME' padding for one spatial dimension of
// size in with kernel size k and stride stride: the output has ceil(in/stride)
// elements and
//
//	total  = max((out−1)·stride + k − in, 0)
//	before = total/2
//	after  = total − before
//
// so an odd total puts the extra row or column after (bottom/right), as in TF.
func SamePadding(in, k, stride int) (before, after int) {
	if in < 1 || k < 1 || stride < 1 {
		panic("kernels: SamePadding needs positive sizes")
	}
	out := (in + stride - 1) / stride
	total := max((out-1)*stride+k-in, 0)
	before = total / 2
	return before, total - before
}

// Validate reports whether p describes a convolution the kernels can run:
// positive sizes and strides, non-negative padding and a kernel that fits in
// the padded input. The pooling kernels ignore OC.
func (p ConvParams) Validate() error {
	if msg := p.check(false); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// check returns "" if p is valid, otherwise a constant message.
func (p ConvParams) check(pool bool) string {
	switch {
	case p.N < 1 || p.H < 1 || p.W < 1 || p.C < 1:
		return "kernels: convolution input sizes must be positive"
	case p.KH < 1 || p.KW < 1:
		return "kernels: convolution kernel sizes must be positive"
	case !pool && p.OC < 1:
		return "kernels: convolution output channels must be positive"
	case p.StrideH < 1 || p.StrideW < 1:
		return "kernels: convolution strides must be positive"
	case p.PadTop < 0 || p.PadBottom < 0 || p.PadLeft < 0 || p.PadRight < 0:
		return "kernels: convolution padding must be non-negative"
	case p.H+p.PadTop+p.PadBottom < p.KH || p.W+p.PadLeft+p.PadRight < p.KW:
		return "kernels: convolution kernel larger than padded input"
	}
	return ""
}

func (p ConvParams) mustValid(pool bool) {
	if msg := p.check(pool); msg != "" {
		panic(msg)
	}
}

// is1x1 reports whether the convolution is a plain matrix product: 1×1 kernel,
// unit stride, no padding.
func (p ConvParams) is1x1() bool {
	return p.KH == 1 && p.KW == 1 && p.StrideH == 1 && p.StrideW == 1 &&
		p.PadTop == 0 && p.PadBottom == 0 && p.PadLeft == 0 && p.PadRight == 0
}

func (p ConvParams) geom() convGeom {
	return convGeom{
		n: p.N, h: p.H, w: p.W, c: p.C,
		kh: p.KH, kw: p.KW, sh: p.StrideH, sw: p.StrideW,
		pt: p.PadTop, pl: p.PadLeft,
		oh: p.OutH(), ow: p.OutW(),
	}
}

func cvCheckEpilogue(ep *Epilogue, m, n int) {
	if ep == nil {
		return
	}
	if ep.Bias != nil && len(ep.Bias) < n {
		panic("kernels: epilogue bias too short")
	}
	if ep.Residual != nil && (ep.LdResidual < n || len(ep.Residual) < (m-1)*ep.LdResidual+n) {
		panic("kernels: epilogue residual too short")
	}
}

// Conv2D is Default().Conv2D.
func Conv2D(p ConvParams, x, w, y []float32, ep *Epilogue) { Default().Conv2D(p, x, w, y, ep) }

// Conv2DBackwardData is Default().Conv2DBackwardData.
func Conv2DBackwardData(p ConvParams, dy, w, dx []float32, accumulate bool) {
	Default().Conv2DBackwardData(p, dy, w, dx, accumulate)
}

// Conv2DBackwardFilter is Default().Conv2DBackwardFilter.
func Conv2DBackwardFilter(p ConvParams, x, dy, dw []float32, accumulate bool) {
	Default().Conv2DBackwardFilter(p, x, dy, dw, accumulate)
}

// Conv2D computes the convolution y = Act(conv(x, w) + Bias + Residual):
//
//	for n, oh, ow, oc:
//	    s := 0
//	    for kh, kw, c with ih = oh·StrideH+kh−PadTop, iw = ow·StrideW+kw−PadLeft inside the input:
//	        s += x[n, ih, iw, c] · w[kh, kw, c, oc]
//	    y[n, oh, ow, oc] = s
//	then y = Act(y + ep.Bias[oc] + ep.Residual[(n·OH+oh)·OW+ow row, oc])   (if ep != nil)
//
// x is [N, H, W, C], w is [KH, KW, C, OC], y is [N, OH, OW, OC], all dense.
// ep may be nil; its Residual is indexed by output pixel with row stride
// LdResidual. y is overwritten.
//
// A 1×1 unit-stride unpadded convolution is one GEMM on x viewed as an
// (N·H·W)×C matrix. Every other shape is an implicit GEMM of M = N·OH·OW,
// K = KH·KW·C, N = OC whose A operand is gathered from x while packing.
// A 3×3 stride-1 convolution for which WinogradFaster holds runs as
// Conv2DWinograd instead (4× fewer multiplies, relative error ~3e-6) unless
// e.SetWinograd(false) turned that off.
func (e *Exec) Conv2D(p ConvParams, x, w, y []float32, ep *Epilogue) {
	p.mustValid(false)
	oh, ow := p.OutH(), p.OutW()
	m, k := p.N*oh*ow, p.KH*p.KW*p.C
	if len(x) < p.N*p.H*p.W*p.C || len(w) < k*p.OC || len(y) < m*p.OC {
		panic("kernels: Conv2D slice too short")
	}
	cvCheckEpilogue(ep, m, p.OC)
	if e.wino.Load() && WinogradFaster(p) {
		// 3×3 stride 1 with enough channels and tiles: Winograd F(4×4,3×3)
		// needs 4× fewer multiplies (relative error ~3e-6).
		e.Conv2DWinograd(p, x, w, y, ep)
		return
	}
	ws := e.convWorkGet()
	ws.bmat = Matrix{Data: w, Stride: p.OC}
	if p.is1x1() {
		ws.amat = Matrix{Data: x, Stride: p.C}
		e.GemmEx(m, p.OC, k, &ws.amat, &ws.bmat, y, p.OC, false, ep)
	} else {
		ws.im2col.init(e, p.geom(), x, &ws.xt)
		e.GemmEx(m, p.OC, k, &ws.im2col, &ws.bmat, y, p.OC, false, ep)
	}
	e.convWorkPut(ws)
}

// Conv2DBackwardData computes the gradient of Conv2D with respect to its
// input: dx = (accumulate ? dx : 0) + ∂L/∂x, where
//
//	for n, oh, ow, oc, kh, kw, c with ih = oh·StrideH+kh−PadTop, iw = ow·StrideW+kw−PadLeft inside the input:
//	    dx[n, ih, iw, c] += dy[n, oh, ow, oc] · w[kh, kw, c, oc]
//
// dy is [N, OH, OW, OC], w is [KH, KW, C, OC], dx is [N, H, W, C].
//
// For stride 1 this is a forward implicit-GEMM convolution of dy with the
// spatially flipped, in/out-transposed kernel and padding KH−1−PadTop etc.
// For larger strides dx is split into StrideH·StrideW phases (ih mod StrideH,
// iw mod StrideW); each phase is a unit-stride convolution of dy with the
// taps of w that reach it, computed the same way into scratch and scattered.
// No im2col column buffer is formed.
func (e *Exec) Conv2DBackwardData(p ConvParams, dy, w, dx []float32, accumulate bool) {
	p.mustValid(false)
	oh, ow := p.OutH(), p.OutW()
	if len(dy) < p.N*oh*ow*p.OC || len(w) < p.KH*p.KW*p.C*p.OC || len(dx) < p.N*p.H*p.W*p.C {
		panic("kernels: Conv2DBackwardData slice too short")
	}
	ws := e.convWorkGet()
	if p.is1x1() {
		ws.amat = Matrix{Data: dy, Stride: p.OC}
		ws.bmat = Matrix{Data: w, Stride: p.OC, Trans: true}
		e.GemmEx(p.N*p.H*p.W, p.C, p.OC, &ws.amat, &ws.bmat, dx, p.C, accumulate, nil)
		e.convWorkPut(ws)
		return
	}
	sh, sw := p.StrideH, p.StrideW
	for ph := 0; ph < sh; ph++ {
		th := cvCeilDiv(p.H-ph, sh) // rows of dx in this phase
		kh0 := (ph + p.PadTop) % sh
		nj := max(cvCeilDiv(p.KH-kh0, sh), 0)
		dh := (ph + p.PadTop - kh0) / sh
		for pw := 0; pw < sw; pw++ {
			tw := cvCeilDiv(p.W-pw, sw)
			if th <= 0 || tw <= 0 {
				continue
			}
			kw0 := (pw + p.PadLeft) % sw
			ni := max(cvCeilDiv(p.KW-kw0, sw), 0)
			dwo := (pw + p.PadLeft - kw0) / sw
			if nj == 0 || ni == 0 {
				// No tap reaches this phase: its gradient is zero.
				if !accumulate {
					e.phaseScatter(p, nil, dx, ph, pw, th, tw, false)
				}
				continue
			}
			// wt[(j', i', oc), c] = w[kh0+sh·(nj−1−j'), kw0+sw·(ni−1−i'), c, oc]
			wt := cvGrow(&ws.wt, nj*ni*p.OC*p.C)
			for j := 0; j < nj; j++ {
				kh := kh0 + sh*(nj-1-j)
				for i := 0; i < ni; i++ {
					kw := kw0 + sw*(ni-1-i)
					src := w[(kh*p.KW+kw)*p.C*p.OC : (kh*p.KW+kw+1)*p.C*p.OC]
					dst := wt[(j*ni+i)*p.OC*p.C : (j*ni+i+1)*p.OC*p.C]
					cvTranspose(dst, src, p.C, p.OC)
				}
			}
			g := convGeom{
				n: p.N, h: oh, w: ow, c: p.OC,
				kh: nj, kw: ni, sh: 1, sw: 1,
				pt: nj - 1 - dh, pl: ni - 1 - dwo,
				oh: th, ow: tw,
			}
			if sh == 1 && sw == 1 && e.wino.Load() {
				// The input gradient of a stride-1 convolution is a stride-1
				// convolution of dy with the flipped kernel: Winograd when it pays.
				q := ConvParams{N: p.N, H: oh, W: ow, C: p.OC, KH: nj, KW: ni, OC: p.C, StrideH: 1, StrideW: 1,
					PadTop: g.pt, PadLeft: g.pl, PadBottom: th - oh - g.pt + nj - 1, PadRight: tw - ow - g.pl + ni - 1}
				if WinogradFaster(q) {
					if accumulate {
						tmp := cvGrow(&ws.out, p.N*p.H*p.W*p.C)
						e.Conv2DWinograd(q, dy, wt, tmp, nil)
						for i, v := range tmp {
							dx[i] += v
						}
					} else {
						e.Conv2DWinograd(q, dy, wt, dx, nil)
					}
					continue
				}
			}
			m := p.N * th * tw
			ws.im2col.init(e, g, dy, &ws.xt)
			ws.bmat = Matrix{Data: wt, Stride: p.C}
			if sh == 1 && sw == 1 {
				e.GemmEx(m, p.C, nj*ni*p.OC, &ws.im2col, &ws.bmat, dx, p.C, accumulate, nil)
				continue
			}
			out := cvGrow(&ws.out, m*p.C)
			e.GemmEx(m, p.C, nj*ni*p.OC, &ws.im2col, &ws.bmat, out, p.C, false, nil)
			e.phaseScatter(p, out, dx, ph, pw, th, tw, accumulate)
		}
	}
	e.convWorkPut(ws)
}

// phaseScatter writes (or adds, with accumulate) the dense phase gradient
// out[n, t, u, c] to dx[n, ph+t·StrideH, pw+u·StrideW, c]. A nil out writes
// zeros.
func (e *Exec) phaseScatter(p ConvParams, out, dx []float32, ph, pw, th, tw int, accumulate bool) {
	t := phaseScatterTasks.Get()
	*t = phaseScatterTask{p: p, out: out, dx: dx, ph: ph, pw: pw, th: th, tw: tw, accumulate: accumulate}
	rows := p.N * th
	e.Parallel(rows, rows*tw*p.C, t)
	phaseScatterTasks.Put(t)
}

// phaseScatterTask holds phaseScatter's arguments for its parallel loop.
type phaseScatterTask struct {
	p              ConvParams
	out, dx        []float32
	ph, pw, th, tw int
	accumulate     bool
}

var phaseScatterTasks ArgPool[phaseScatterTask]

// RunRange scatters rows [lo, hi) of the phase gradient (rows count n·th).
func (t *phaseScatterTask) RunRange(lo, hi int) {
	p, out, dx, th, tw := t.p, t.out, t.dx, t.th, t.tw
	c := p.C
	for r := lo; r < hi; r++ {
		n, y := r/th, r%th
		drow := dx[((n*p.H+t.ph+y*p.StrideH)*p.W)*c : ((n*p.H+t.ph+y*p.StrideH)*p.W+p.W)*c]
		for u := 0; u < tw; u++ {
			d := drow[(t.pw+u*p.StrideW)*c : (t.pw+u*p.StrideW)*c+c]
			switch {
			case out == nil:
				clear(d)
			case t.accumulate:
				s := out[(r*tw+u)*c : (r*tw+u)*c+c]
				s = s[:len(d)]
				for i := range d {
					d[i] += s[i]
				}
			default:
				copy(d, out[(r*tw+u)*c:(r*tw+u)*c+c])
			}
		}
	}
}

// cvTranspose writes the transpose of the rows×cols row-major matrix src
// into dst (cols×rows).
func cvTranspose(dst, src []float32, rows, cols int) {
	src = src[:rows*cols]
	dst = dst[:rows*cols]
	for r := 0; r < rows; r++ {
		s := src[r*cols : r*cols+cols]
		for c, v := range s {
			dst[c*rows+r] = v
		}
	}
}

// Conv2DBackwardFilter computes the gradient of Conv2D with respect to its
// weights: dw = (accumulate ? dw : 0) + ∂L/∂w, where
//
//	for n, oh, ow, oc, kh, kw, c with ih = oh·StrideH+kh−PadTop, iw = ow·StrideW+kw−PadLeft inside the input:
//	    dw[kh, kw, c, oc] += x[n, ih, iw, c] · dy[n, oh, ow, oc]
//
// x is [N, H, W, C], dy is [N, OH, OW, OC], dw is [KH, KW, C, OC].
//
// It is one implicit GEMM dw = patchesᵀ·dy with M = KH·KW·C, K = N·OH·OW and
// N = OC, whose A operand (the transposed im2col matrix) is gathered from x
// while packing; a 1×1 unit-stride unpadded convolution uses xᵀ directly.
func (e *Exec) Conv2DBackwardFilter(p ConvParams, x, dy, dw []float32, accumulate bool) {
	p.mustValid(false)
	oh, ow := p.OutH(), p.OutW()
	k, np := p.KH*p.KW*p.C, p.N*oh*ow
	if len(x) < p.N*p.H*p.W*p.C || len(dy) < np*p.OC || len(dw) < k*p.OC {
		panic("kernels: Conv2DBackwardFilter slice too short")
	}
	ws := e.convWorkGet()
	ws.bmat = Matrix{Data: dy, Stride: p.OC}
	if p.is1x1() {
		ws.amat = Matrix{Data: x, Stride: p.C, Trans: true}
		e.GemmEx(k, p.OC, np, &ws.amat, &ws.bmat, dw, p.OC, accumulate, nil)
	} else {
		ws.filt = filterPanel{g: p.geom(), x: x}
		e.GemmEx(k, p.OC, np, &ws.filt, &ws.bmat, dw, p.OC, accumulate, nil)
	}
	e.convWorkPut(ws)
}

// cvFloorDiv returns ⌊a/b⌋ for b > 0.
func cvFloorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// cvCeilDiv returns ⌈a/b⌉ for b > 0.
func cvCeilDiv(a, b int) int { return -cvFloorDiv(-a, b) }
