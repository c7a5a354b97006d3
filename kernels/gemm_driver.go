package kernels

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// The GEMM driver follows BLIS/GotoBLAS with a twist for two-thread
// machines that are shared and noisy. For each nc-wide column block of B
// (usually all of n) the threads first pack the whole k×nc block of B into a
// shared buffer of nr-column micro-panels, kc rows deep each, and meet at a
// barrier. Then they take work items (a block of rows of C times a group of
// B micro-panels) from an atomic counter, so a thread slowed down by another
// process simply takes fewer items; there is no other synchronisation. For
// each item and kc slice a thread packs its mc×kc block of A into private
// memory (mr-row micro-panels) and runs the register-tiled micro-kernel over
// every mr×nr tile, with the B micro-panel as the outer loop so it stays in
// L1 while the A micro-panels stream from L2. After the last kc slice of a
// tile the epilogue runs on it while it is still in cache.
//
// When A is a plain Matrix and B is narrow (few uses per element of A, so
// packing A would cost as much as the arithmetic), A is not packed at all:
// the micro-kernels read it in place through their RowA (row-major) or ColA
// (transposed) addressing, and kc grows to cover most of k.

// Tunables (variables so benchmarks can explore them).
var (
	// gemmParallelMinFlops is the smallest 2·m·n·k worth waking workers for.
	gemmParallelMinFlops = 4 << 20
	// gemmDirectMaxN is the widest n for which a Matrix A is read in place.
	gemmDirectMaxN = 256
	// gemmMaxPackedB caps the packed B buffer (floats); wider B is blocked by nc.
	gemmMaxPackedB = 4 << 20
	// gemmWideDirect lets a row-major A be read in place against a wide B
	// (see gemmPlan).
	gemmWideDirect = true
	// gemmItemsPerThread is how many work items per thread the driver aims
	// for, trading load balance against B reuse.
	gemmItemsPerThread = 4
)

// gemmOperands are the inputs of one GEMM: A and B either as stored
// matrices (aIsMat, bIsMat; no interface conversion, no allocation) or as
// packers. bScale multiplies B while it is packed.
type gemmOperands struct {
	a      PanelA
	b      PanelB
	aMat   Matrix
	bMat   Matrix
	aIsMat bool
	bIsMat bool
	bScale float32
	pre    *PackedWeights // B packed in advance (bMat is its source), or nil
}

// gemmScratch is the per-thread packing memory, grown once and reused.
type gemmScratch struct {
	aRaw []float32
	tile [maxTileElems + 16]float32
	_    [64]byte // keep neighbouring scratches' hot data apart
}

const maxTileElems = 512

// alignedView returns a 64-byte aligned slice of n floats from *raw, growing
// it if needed.
func alignedView(raw *[]float32, n int) []float32 {
	if cap(*raw) < n+16 {
		*raw = make([]float32, n+16)
	}
	b := (*raw)[:cap(*raw)]
	off := int((64 - uintptr(unsafe.Pointer(&b[0]))%64) % 64 / 4)
	return b[off : off+n]
}

func (s *gemmScratch) tileBuf() []float32 {
	off := int((64 - uintptr(unsafe.Pointer(&s.tile[0]))%64) % 64 / 4)
	return s.tile[off : off+maxTileElems]
}

// gemmJob is one GEMM call, shared by the threads that run it.
type gemmJob struct {
	m, n, k int
	ops     gemmOperands
	c       []float32
	ldc     int
	accum   bool
	ep      Epilogue
	hasEp   bool
	direct  bool // read A in place instead of packing it
	prepack bool // bbuf is ops.pre's packed B: nothing to pack

	kern     *microKernel
	kc, nc   int // block sizes for this call
	mcMax    int
	nthreads int

	// Work items: row blocks of tilesPerItem mr-row tiles × groups of
	// panelsPerGroup B micro-panels.
	tilesPerItem, mItems   int
	panelsPerGroup, groups int

	bRaw    []float32
	bbuf    []float32
	bar     barrier
	next    atomic.Int64 // next work item of the current column block
	_       [56]byte
	bNext   atomic.Int64 // next B packing unit to claim
	_       [56]byte
	bDone   atomic.Int64 // B packing units finished
	_       [56]byte
	crew    crew // the workers of a multi-threaded run
	scratch []*gemmScratch
}

func ceilDivInt(a, b int) int { return (a + b - 1) / b }

func roundUpInt(a, b int) int { return ceilDivInt(a, b) * b }

// gemm validates its arguments and runs C = A·B (+C) with the epilogue on
// e's threads.
func (e *Exec) gemm(m, n, k int, ops *gemmOperands, c []float32, ldc int, accumulate bool, ep *Epilogue) {
	if m < 0 || n < 0 || k < 0 {
		panic("kernels: negative GEMM dimension")
	}
	if m == 0 || n == 0 {
		return
	}
	if ldc < n {
		panic("kernels: GEMM ldc < n")
	}
	if len(c) < (m-1)*ldc+n {
		panic("kernels: GEMM C too short")
	}
	if ep != nil {
		if ep.Bias != nil && len(ep.Bias) < n {
			panic("kernels: epilogue bias too short")
		}
		if ep.Residual != nil && (ep.LdResidual < n || len(ep.Residual) < (m-1)*ep.LdResidual+n) {
			panic("kernels: epilogue residual too short")
		}
	}
	if k == 0 {
		if !accumulate {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		applyEpilogue(m, n, c, ldc, ep)
		return
	}
	if ops.aIsMat {
		checkMatrix(ops.aMat, m, k)
	}
	if ops.bIsMat {
		checkMatrix(ops.bMat, k, n)
	}

	kern, direct := gemmPlan(ops.aIsMat, ops.aMat.Trans, n)
	nthreads := e.threads
	if 2*m*n*k < gemmParallelMinFlops {
		nthreads = 1
	}
	if nthreads > 1 && e.gemmMu.TryLock() {
		if !e.closed.Load() {
			j := e.gemmJob
			j.setup(m, n, k, ops, c, ldc, accumulate, ep, kern, direct, nthreads)
			e.runJob(j, j.nthreads)
			j.release()
			e.gemmMu.Unlock()
			return
		}
		e.gemmMu.Unlock()
	}
	j := singleJobs.Get().(*gemmJob)
	j.setup(m, n, k, ops, c, ldc, accumulate, ep, kern, direct, 1)
	j.run(0)
	j.release()
	singleJobs.Put(j)
}

// gemmPlan picks the micro-kernel for a GEMM with a B n columns wide, and
// whether it reads A in place (aIsMat: A is a stored matrix, aTrans: stored
// transposed) instead of packing it. A narrow B gives few uses per element
// of A, so packing A would cost about as much as the arithmetic: A is read
// in place by the default kernel. Against a wide B a row-major A is read in
// place by the wide kernel where there is one (selectWideKernel); otherwise
// A is packed.
func gemmPlan(aIsMat, aTrans bool, n int) (kern *microKernel, direct bool) {
	kern = selectKernel()
	switch {
	case !aIsMat || kern.rowA == nil:
		return kern, false
	case n <= gemmDirectMaxN:
		return kern, true
	case !aTrans && gemmWideDirect:
		if w := selectWideKernel(); w != nil {
			return w, true
		}
	}
	return kern, false
}

// singleJobs holds jobs for single-threaded calls (small problems, one-thread
// Execs, or calls made while another GEMM owns the Exec's worker pool).
var singleJobs = sync.Pool{New: func() any { return new(gemmJob) }}

// checkMatrix panics unless x holds an r×c (possibly transposed) matrix.
func checkMatrix(x Matrix, r, c int) {
	if x.Trans {
		r, c = c, r
	}
	if x.Stride < c || len(x.Data) < (r-1)*x.Stride+c {
		panic("kernels: GEMM operand too short for its size and stride")
	}
}

// setup fills j for one call and sizes its buffers.
func (j *gemmJob) setup(m, n, k int, ops *gemmOperands, c []float32, ldc int, accumulate bool, ep *Epilogue, kern *microKernel, direct bool, nthreads int) {
	j.m, j.n, j.k = m, n, k
	j.ops = *ops
	j.c, j.ldc, j.accum = c, ldc, accumulate
	j.hasEp = ep != nil
	if ep != nil {
		j.ep = *ep
	}
	j.kern = kern
	mr, nr := kern.mr, kern.nr
	j.direct = direct

	j.kc, j.nc = gemmBlocking(kern, k, n, j.direct)
	nk := ceilDivInt(k, j.kc)
	j.mcMax = kern.mc

	// Work items: enough row blocks for balance (but no taller than mc),
	// and if m is short, split the B panels into groups too.
	mTiles := ceilDivInt(m, mr)
	nPanels := ceilDivInt(j.nc, nr)
	nthreads = min(nthreads, mTiles*nPanels)
	j.nthreads = nthreads
	target := 1
	if nthreads > 1 {
		target = gemmItemsPerThread * nthreads
	}
	mItems := max(ceilDivInt(m, j.mcMax), min(mTiles, target))
	j.tilesPerItem = ceilDivInt(mTiles, mItems)
	j.mItems = ceilDivInt(mTiles, j.tilesPerItem)
	groups := 1
	if j.mItems < target {
		groups = min(nPanels, ceilDivInt(target, j.mItems))
	}
	j.panelsPerGroup = ceilDivInt(nPanels, groups)
	j.groups = ceilDivInt(nPanels, j.panelsPerGroup)
	j.bar.n = int32(nthreads)

	if pre := ops.pre; pre != nil && pre.kern == kern && pre.kc == j.kc && j.nc >= n && pre.k == k && pre.n == n {
		j.prepack = true
		j.bbuf = pre.data
	} else {
		j.prepack = false
		j.bbuf = alignedView(&j.bRaw, nk*j.kc*nPanels*nr)
	}
	j.resetCounters()
	for len(j.scratch) < nthreads {
		j.scratch = append(j.scratch, new(gemmScratch))
	}
}

// gemmBlocking returns the k and n block sizes for a k×n B: as large as
// allowed, as even as possible.
func gemmBlocking(kern *microKernel, k, n int, direct bool) (kc, nc int) {
	nr := kern.nr
	kcMax := kern.kc
	if direct {
		kcMax = kern.kcDirect
	}
	nk := ceilDivInt(k, kcMax)
	kc = min(roundUpInt(ceilDivInt(k, nk), 4), k)
	ncMax := max(nr, gemmMaxPackedB/(nk*kc)/nr*nr)
	nn := ceilDivInt(n, ncMax)
	nc = roundUpInt(ceilDivInt(n, nn), nr)
	return kc, nc
}

// resetCounters readies the work counters for a new column block of B.
func (j *gemmJob) resetCounters() {
	j.next.Store(0)
	j.bNext.Store(0)
	j.bDone.Store(0)
}

// release drops the job's references to the caller's memory.
func (j *gemmJob) release() {
	j.ops = gemmOperands{}
	if j.prepack {
		j.bbuf = nil
	}
	j.c = nil
	j.ep = Epilogue{}
}

func (j *gemmJob) packA(dst []float32, mr, i0, mc, p0, kc int) {
	if j.ops.aIsMat {
		j.ops.aMat.PackA(dst, mr, i0, mc, p0, kc)
	} else {
		j.ops.a.PackA(dst, mr, i0, mc, p0, kc)
	}
}

func (j *gemmJob) packB(dst []float32, nr, p0, kc, j0, nc int) {
	if j.ops.bIsMat {
		j.ops.bMat.PackB(dst, nr, p0, kc, j0, nc)
	} else {
		j.ops.b.PackB(dst, nr, p0, kc, j0, nc)
	}
	if s := j.ops.bScale; s != 1 {
		for i := range dst[:ceilDivInt(nc, nr)*nr*kc] {
			dst[i] *= s
		}
	}
}

// run is the work of thread t.
func (j *gemmJob) run(t int) {
	if t >= j.nthreads {
		return
	}
	nr := j.kern.nr
	sc := j.scratch[t]
	nk := ceilDivInt(j.k, j.kc)
	items := j.mItems * j.groups
	for jc := 0; jc < j.n; jc += j.nc {
		ncur := min(j.nc, j.n-jc)
		np := ceilDivInt(ncur, nr)
		blk := j.kc * np * nr // floats per packed kc×ncur block of B
		if jc > 0 {
			if j.nthreads > 1 {
				j.bar.wait(j) // everyone is done with the previous B
			} else {
				j.resetCounters()
			}
		}
		// Pack B in units of (kc block, micro-panel), claimed dynamically so
		// a thread that is not running (the machine is shared) delays
		// nobody: the others pack its share. Weights packed in advance
		// skip this phase and its wait.
		units := nk * np
		if j.prepack {
			units = 0
		}
		chunk := max(1, units/(4*j.nthreads))
		for {
			u0 := int(j.bNext.Add(int64(chunk))) - chunk
			if u0 >= units {
				break
			}
			u1 := min(u0+chunk, units)
			for u := u0; u < u1; {
				pi, q0 := u/np, u%np
				q1 := min(np, q0+u1-u)
				pc := pi * j.kc
				kcur := min(j.kc, j.k-pc)
				dst := j.bbuf[pi*blk+q0*nr*kcur : pi*blk+q1*nr*kcur]
				j.packB(dst, nr, pc, kcur, jc+q0*nr, min(q1*nr, ncur)-q0*nr)
				u += q1 - q0
			}
			j.bDone.Add(int64(u1 - u0))
		}
		spinUntil(func() bool { return j.bDone.Load() >= int64(units) })
		for {
			it := int(j.next.Add(1)) - 1
			if it >= items {
				break
			}
			ib, g := it/j.groups, it%j.groups
			rows0 := ib * j.tilesPerItem * j.kern.mr
			rows1 := min(rows0+j.tilesPerItem*j.kern.mr, j.m)
			q0 := g * j.panelsPerGroup
			q1 := min(np, q0+j.panelsPerGroup)
			if q0 >= q1 {
				continue
			}
			for pi := 0; pi < nk; pi++ {
				pc := pi * j.kc
				kcur := min(j.kc, j.k-pc)
				flags := 0
				if j.accum || pc > 0 {
					flags = kernelAccumulate
				}
				j.macro(sc, rows0, rows1, jc, ncur, q0, q1, pc, kcur, j.bbuf[pi*blk:], flags, pi == nk-1)
			}
		}
	}
}

// macro runs the micro-kernel over rows [rows0, rows1) and B micro-panels
// [pp0, pp1) of the current (jc, pc) block.
func (j *gemmJob) macro(sc *gemmScratch, rows0, rows1, jc, ncur, pp0, pp1, pc, kcur int, bb []float32, flags int, last bool) {
	kern := j.kern
	mr, nr := kern.mr, kern.nr
	c, ldc := j.c, j.ldc
	nblk := ceilDivInt(rows1-rows0, j.mcMax)
	mc := roundUpInt(ceilDivInt(rows1-rows0, nblk), mr)
	am := j.ops.aMat
	for ic := rows0; ic < rows1; ic += mc {
		mcur := min(mc, rows1-ic)
		var ap []float32
		if !j.direct {
			ap = alignedView(&sc.aRaw, roundUpInt(mcur, mr)*kcur)
			j.packA(ap, mr, ic, mcur, pc, kcur)
		}
		for q := pp0; q < pp1; q++ {
			j0 := jc + q*nr
			nrEff := min(nr, jc+ncur-j0)
			bp := &bb[q*nr*kcur]
			for ir := 0; ir < mcur; ir += mr {
				i0 := ic + ir
				mrEff := min(mr, mcur-ir)
				fn := kern.colA
				rs, cs := 1, mr
				var aptr *float32
				switch {
				case !j.direct:
					aptr = &ap[ir*kcur]
				case mrEff < mr:
					// Ragged last tile: pack it (zero-padded) rather than
					// read past the end of A.
					ap = alignedView(&sc.aRaw, mr*kcur)
					j.packA(ap, mr, i0, mrEff, pc, kcur)
					aptr = &ap[0]
				case am.Trans:
					aptr, cs = &am.Data[pc*am.Stride+i0], am.Stride
				default:
					fn = kern.rowA
					aptr, rs, cs = &am.Data[i0*am.Stride+pc], am.Stride, 1
				}
				if mrEff == mr && nrEff == nr {
					fn(kcur, aptr, rs, cs, bp, &c[i0*ldc+j0], ldc, flags)
				} else {
					tile := sc.tileBuf()
					if flags&kernelAccumulate != 0 {
						for r := 0; r < mrEff; r++ {
							copy(tile[r*nr:r*nr+nrEff], c[(i0+r)*ldc+j0:])
						}
					}
					fn(kcur, aptr, rs, cs, bp, &tile[0], nr, flags)
					for r := 0; r < mrEff; r++ {
						copy(c[(i0+r)*ldc+j0:(i0+r)*ldc+j0+nrEff], tile[r*nr:])
					}
				}
				if last && j.hasEp {
					j.epilogueTile(i0, j0, mrEff, nrEff)
				}
			}
		}
	}
}

// epilogueTile applies the epilogue to the mr×nr tile of C at (i0, j0): one
// fused pass (bias, residual, activation) per row while the tile is in cache.
func (j *gemmJob) epilogueTile(i0, j0, mr, nr int) {
	ep := &j.ep
	var bias, res []float32
	if ep.Bias != nil {
		bias = ep.Bias[j0 : j0+nr]
	}
	if ep.Residual != nil {
		res = ep.Residual[i0*ep.LdResidual+j0:]
	}
	EpilogueRows(ep.Act, j.c[i0*j.ldc+j0:], j.ldc, mr, nr, bias, res, ep.LdResidual)
}
