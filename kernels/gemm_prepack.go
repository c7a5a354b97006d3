package kernels

// PackedWeights is a k×n right-hand GEMM operand (a convolution's weights
// viewed as a (KH·KW·C)×OC matrix) packed once, in advance, in the layout
// the GEMM driver uses, so that calls that use it skip packing B and the
// wait for it. It implements PanelB (packing from the source matrix), so a
// call whose blocking does not match the packed layout — another micro-
// kernel selected since, or B too wide for one column block — still works.
//
// The source matrix is referenced, not copied: it must not change while
// the PackedWeights is in use.
type PackedWeights struct {
	src  Matrix
	k, n int
	kc   int
	kern *microKernel
	raw  []float32
	data []float32
}

// PackConvWeights packs the weights w [KH, KW, C, OC] of convolutions with
// the kernel size, channels and stride of p (the input size and padding do
// not matter, except that a 1×1 stride-1 convolution is read differently)
// for Conv2DPre.
func PackConvWeights(p ConvParams, w []float32) *PackedWeights {
	k, n := p.KH*p.KW*p.C, p.OC
	if k < 1 || n < 1 || len(w) < k*n {
		panic("kernels: PackConvWeights bad sizes")
	}
	// A 1×1 stride-1 unpadded convolution passes the input as a stored
	// matrix, which gemmPlan may read in place; others pack A (im2col).
	// The packing must match the kernel and blocking GemmEx will choose.
	oneByOne := p.KH == 1 && p.KW == 1 && p.StrideH == 1 && p.StrideW == 1
	kern, direct := gemmPlan(oneByOne, false, n)
	return packWeights(Matrix{Data: w, Stride: n}, k, n, kern, direct)
}

func packWeights(src Matrix, k, n int, kern *microKernel, direct bool) *PackedWeights {
	pw := &PackedWeights{src: src, k: k, n: n, kern: kern}
	kc, nc := gemmBlocking(kern, k, n, direct)
	if nc < n {
		return pw // several column blocks: packed per call
	}
	nr := kern.nr
	np := ceilDivInt(n, nr)
	nk := ceilDivInt(k, kc)
	pw.kc = kc
	pw.data = alignedView(&pw.raw, nk*kc*np*nr)
	for pi := 0; pi < nk; pi++ {
		pc := pi * kc
		kcur := min(kc, k-pc)
		blk := pw.data[pi*kc*np*nr:]
		src.PackB(blk[:np*nr*kcur], nr, pc, kcur, 0, n)
	}
	return pw
}

// PackB implements PanelB from the source matrix.
func (pw *PackedWeights) PackB(dst []float32, nr, p0, kc, j0, nc int) {
	pw.src.PackB(dst, nr, p0, kc, j0, nc)
}

// Conv2DPre is Default().Conv2DPre.
func Conv2DPre(p ConvParams, x []float32, pw *PackedWeights, y []float32, ep *Epilogue) {
	Default().Conv2DPre(p, x, pw, y, ep)
}

// Conv2DPre is Conv2D with weights packed by PackConvWeights (for p's
// kernel size, channels and stride).
func (e *Exec) Conv2DPre(p ConvParams, x []float32, pw *PackedWeights, y []float32, ep *Epilogue) {
	p.mustValid(false)
	oh, ow := p.OutH(), p.OutW()
	m, k := p.N*oh*ow, p.KH*p.KW*p.C
	if pw == nil || pw.k != k || pw.n != p.OC {
		panic("kernels: packed weights do not match the convolution")
	}
	if len(x) < p.N*p.H*p.W*p.C || len(y) < m*p.OC {
		panic("kernels: Conv2D slice too short")
	}
	cvCheckEpilogue(ep, m, p.OC)
	ws := e.convWorkGet()
	if p.is1x1() {
		ws.amat = Matrix{Data: x, Stride: p.C}
		e.GemmEx(m, p.OC, k, &ws.amat, pw, y, p.OC, false, ep)
	} else {
		ws.im2col.init(e, p.geom(), x, &ws.xt)
		e.GemmEx(m, p.OC, k, &ws.im2col, pw, y, p.OC, false, ep)
	}
	e.convWorkPut(ws)
}

// Floats returns the number of float32 values pw holds itself (the packed
// panels; the referenced source matrix is not counted).
func (pw *PackedWeights) Floats() int { return len(pw.raw) }
