package kernels

//go:generate sh -c "cd _asm && go run ./winograd -out ../winograd_amd64.s -stubs ../winograd_amd64.go -pkg kernels"

import (
	"math"
	"sync/atomic"
)

// Winograd convolution for 3×3 stride-1 kernels.
//
// F(m×m, 3×3) computes an m×m block of outputs from a T×T input tile
// (T = m+2) as
//
//	Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//
// where g is the 3×3 filter and d the input tile. Summed over input channels,
// the elementwise product becomes T·T independent matrix products
//
//	M[ξ] (tiles×OC) = V[ξ] (tiles×C) · U[ξ] (C×OC),   ξ = (i, j) in T×T
//
// with V[ξ][tile][c] the transformed input and U[ξ][c][oc] the transformed
// filter, which run through GemmEx. Per output pixel this needs T²/m² of the
// 9 multiply-adds of direct convolution: 36/16 for F(4×4) (4× fewer) and
// 16/4 for F(2×2) (2.25× fewer).
//
// Both transforms use the interpolation points 0, ±a, ±b and ∞ (Toom–Cook).
// F(4×4) uses a = 1/2, b = 2 (0, ±1/2, ±2, ∞), which measured the smallest
// float32 error of the variants tried (0, ±1, ±2 is the classic choice and
// about 1.7× less accurate; see TestWinogradPointsAccuracy). F(2×2) uses
// 0, ±1, ∞.
//
// The convolution runs over blocks of output tiles. For each block the
// threads of a small worker pool transform the input tiles into V (channels
// innermost, so every transform loop is a contiguous run over channels), the
// T² GEMMs produce M, and the threads transform M back into y, adding the
// epilogue (bias, residual, activation) while the result is still in cache.
// A block is sized so its V and M fit in the L2 caches.

// Interpolation points of F(4×4, 3×3): 0, ±winoA, ±winoB, ∞.
const (
	winoA = 0.5
	winoB = 2.0

	wA2   = winoA * winoA
	wB2   = winoB * winoB
	wA2B2 = wA2 * wB2
	wSum2 = wA2 + wB2
	wA3   = wA2 * winoA
	wB3   = wB2 * winoB
	// Lagrange denominators Π(p − q) over the other finite points.
	wN0 = wA2B2                 // point 0
	wNA = 2 * wA2 * (wA2 - wB2) // points ±a
	wNB = 2 * wB2 * (wB2 - wA2) // points ±b
	wG0 = 1 / wN0               // G row of point 0: [wG0, 0, 0]
	wGA = 1 / wNA               // G rows of ±a: [1, ±a, a²]·wGA
	wGB = 1 / wNB               // G rows of ±b: [1, ±b, b²]·wGB
)

// WinogradWeights holds 3×3 convolution weights transformed for
// Conv2DWinogradPre: U[ξ][c][oc] for the T·T transform positions ξ.
// A WinogradWeights is read-only during a convolution and may be shared by
// concurrent calls.
type WinogradWeights struct {
	c, oc int
	m     int // output tile size: 4 for F(4×4, 3×3), 2 for F(2×2, 3×3)
	u     []float32
}

// winoDefaultTile is the output tile size TransformWinogradWeights and
// Conv2DWinograd use (4 or 2); a variable so benchmarks can compare.
var winoDefaultTile = 4

// TransformWinogradWeights is Default().TransformWinogradWeights.
func TransformWinogradWeights(c, oc int, w []float32) *WinogradWeights {
	return Default().TransformWinogradWeights(c, oc, w)
}

// TransformWinogradWeights transforms the 3×3 weights w ([3, 3, c, oc], HWIO)
// for Conv2DWinogradPre, on e's threads.
func (e *Exec) TransformWinogradWeights(c, oc int, w []float32) *WinogradWeights {
	ww := new(WinogradWeights)
	ww.transform(e, c, oc, winoDefaultTile, w)
	return ww
}

// Transform refills ww from the 3×3 weights w ([3, 3, c, oc]) on Default()'s
// threads, reusing its memory when it is large enough.
func (ww *WinogradWeights) Transform(c, oc int, w []float32) {
	ww.transform(Default(), c, oc, winoDefaultTile, w)
}

// C returns the number of input channels of the transformed weights.
func (ww *WinogradWeights) C() int { return ww.c }

// OC returns the number of output channels of the transformed weights.
func (ww *WinogradWeights) OC() int { return ww.oc }

// Floats returns the number of transformed filter values ww holds.
func (ww *WinogradWeights) Floats() int { return len(ww.u) }

func (ww *WinogradWeights) transform(e *Exec, c, oc, m int, w []float32) {
	if c < 1 || oc < 1 {
		panic("kernels: Winograd weights need positive channel counts")
	}
	if len(w) < 9*c*oc {
		panic("kernels: Winograd weights slice too short")
	}
	if m != 2 && m != 4 {
		panic("kernels: Winograd tile must be 2 or 4")
	}
	t := m + 2
	ww.c, ww.oc, ww.m = c, oc, m
	ww.u = cvGrow(&ww.u, t*t*c*oc)
	ws := e.winoWorkGet()
	ws.ww = ww
	ws.w = w
	ws.phase = winoPhaseWeights
	ws.items = c
	ws.parallel(c * oc * 100)
	e.winoWorkPut(ws)
}

// WinogradFaster reports whether Conv2DWinograd (with pre-transformed weights)
// is expected to beat Conv2D for p on this machine; p must be a 3×3 stride-1
// convolution. The rule comes from BenchmarkWinograd (medians of -count 5,
// 2 cores): Winograd won by 1.5–5× whenever there were at least ~50 output
// tiles of 4×4 (e.g. 28×28 and larger at batch 1) and C, OC ≥ 16, broke even
// at 25 tiles (20×20) and lost at 9 (10×10), where packing U for the T² GEMMs
// (36·C·OC floats per call) outweighs the arithmetic saved.
func WinogradFaster(p ConvParams) bool {
	if !winoApplies(p) || p.check(false) != "" {
		return false
	}
	tiles := p.N * cvCeilDiv(p.OutH(), 4) * cvCeilDiv(p.OutW(), 4)
	return p.C >= 16 && p.OC >= 16 && tiles >= 36
}

func winoApplies(p ConvParams) bool {
	return p.KH == 3 && p.KW == 3 && p.StrideH == 1 && p.StrideW == 1
}

// Conv2DWinograd is Default().Conv2DWinograd.
func Conv2DWinograd(p ConvParams, x, w, y []float32, ep *Epilogue) {
	Default().Conv2DWinograd(p, x, w, y, ep)
}

// Conv2DWinogradPre is Default().Conv2DWinogradPre.
func Conv2DWinogradPre(p ConvParams, x []float32, ww *WinogradWeights, y []float32, ep *Epilogue) {
	Default().Conv2DWinogradPre(p, x, ww, y, ep)
}

// Conv2DWinograd computes the same convolution as Conv2D (including the
// epilogue) with the Winograd algorithm; p must be a 3×3 stride-1
// convolution, with any padding. It transforms w on every call; inference
// should transform once with TransformWinogradWeights and call
// Conv2DWinogradPre.
func (e *Exec) Conv2DWinograd(p ConvParams, x, w, y []float32, ep *Epilogue) {
	if !winoApplies(p) {
		panic("kernels: Conv2DWinograd needs a 3×3 stride-1 convolution")
	}
	p.mustValid(false)
	if len(w) < 9*p.C*p.OC {
		panic("kernels: Conv2DWinograd slice too short")
	}
	ws := e.winoWorkGet()
	ws.ownW.transform(e, p.C, p.OC, winoDefaultTile, w)
	ws.conv(p, x, &ws.ownW, y, ep)
	e.winoWorkPut(ws)
}

// Conv2DWinogradPre is Conv2DWinograd with weights transformed in advance by
// TransformWinogradWeights (for p.C input and p.OC output channels).
func (e *Exec) Conv2DWinogradPre(p ConvParams, x []float32, ww *WinogradWeights, y []float32, ep *Epilogue) {
	if !winoApplies(p) {
		panic("kernels: Conv2DWinograd needs a 3×3 stride-1 convolution")
	}
	p.mustValid(false)
	if ww == nil || ww.c != p.C || ww.oc != p.OC {
		panic("kernels: Winograd weights do not match the convolution")
	}
	ws := e.winoWorkGet()
	ws.conv(p, x, ww, y, ep)
	e.winoWorkPut(ws)
}

// Tile blocking. The T² GEMMs of a block each pack all of U[ξ] (C×OC), so
// a block must hold enough tiles to amortise that (about winoMinBlockTiles);
// beyond that, blocks are sized so V plus M take about winoBlockFloats. Both
// are variables so tests and benchmarks can change them; winoBlockFloats = 0
// means the whole batch is one block.
var (
	winoBlockFloats   = 1 << 21
	winoMinBlockTiles = 384
)

// winoNoAsm forces the pure-Go transforms (tests and benchmarks).
var winoNoAsm bool

const (
	winoPhaseWeights = iota
	winoPhaseIn
	winoPhaseOut
)

// winoWork is the scratch memory and job description of one Winograd call.
type winoWork struct {
	// call
	p     ConvParams
	x, y  []float32
	w     []float32 // untransformed weights (weight phase)
	ww    *WinogradWeights
	ep    Epilogue
	hasEp bool

	m, t           int // output tile size, input tile size
	oh, ow         int
	tilesH, tilesW int
	tiles          int
	tb             int // tiles per block (stride of the V and M planes)
	t0, t1         int // current block

	v, mm []float32 // V[ξ][tile][C], M[ξ][tile][OC] of one block
	amat  Matrix
	bmat  Matrix
	ownW  WinogradWeights // weights transformed by Conv2DWinograd
	exec  *Exec           // the Exec running the call

	// parallel phases
	phase    int
	items    int // work items of the current phase
	chunk    int // items claimed at once
	nthreads int
	next     atomic.Int64
	_        [56]byte
	crew     crew
	asm      bool           // use the assembly transforms
	scratch  []*winoScratch // per-thread transform memory
}

const winoWorkMaxFree = 4 // free-list bound (per Exec)

// The transform worker pool of an Exec: persistent goroutines like the
// GEMM pool's, separate from it because the transforms run between GEMM
// calls.

// winoTicket invites a worker to one phase of a call (see crew).
type winoTicket struct {
	w   *winoWork
	gen uint32
}

func winoWorker(t int, ch chan winoTicket) {
	for tk := range ch {
		if tk.w.crew.enter(tk.gen) {
			tk.w.work(t)
			tk.w.crew.leave()
		}
	}
}

// parallel runs the current phase over ws.items work items on up to
// ws.exec.Threads() threads; work is the approximate cost in scalar
// operations.
func (ws *winoWork) parallel(work int) {
	e := ws.exec
	n := min(e.threads, ws.items, max(work/(1<<16), 1))
	ws.next.Store(0)
	ws.chunk = max(1, ws.items/(8*n))
	if n > 1 && e.winoMu.TryLock() {
		if e.closed.Load() {
			e.winoMu.Unlock()
		} else {
			w := e.workers
			for len(w.wino) < n-1 {
				ch := make(chan winoTicket, 1)
				w.wino = append(w.wino, ch)
				go winoWorker(len(w.wino), ch)
			}
			ws.nthreads = n
			ws.grow(n)
			// Items are claimed dynamically: a worker that is slow to start
			// finds none left, and the caller does not wait for it.
			gen := ws.crew.open()
			for t := 1; t < n; t++ {
				select {
				case w.wino[t-1] <- winoTicket{ws, gen}:
					e.wakeups.Add(1)
				default: // still holding a stale ticket
				}
			}
			ws.work(0)
			ws.crew.close()
			e.winoMu.Unlock()
			return
		}
	}
	ws.nthreads = 1
	ws.grow(1)
	ws.work(0)
}

func (ws *winoWork) grow(n int) {
	for len(ws.scratch) < n {
		ws.scratch = append(ws.scratch, new(winoScratch))
	}
}

// work is thread t's share of the current phase: it claims chunks of work
// items until none are left.
func (ws *winoWork) work(t int) {
	for {
		i0 := int(ws.next.Add(int64(ws.chunk))) - ws.chunk
		if i0 >= ws.items {
			return
		}
		i1 := min(i0+ws.chunk, ws.items)
		switch ws.phase {
		case winoPhaseWeights:
			ws.ww.transformRows(ws.w, i0, i1, &ws.scratch[t].buf)
		case winoPhaseIn:
			ws.inputTiles(ws.t0+i0, ws.t0+i1, ws.scratch[t])
		case winoPhaseOut:
			ws.outputTiles(ws.t0+i0, ws.t0+i1, ws.scratch[t])
		}
	}
}

// conv runs the whole convolution.
func (ws *winoWork) conv(p ConvParams, x []float32, ww *WinogradWeights, y []float32, ep *Epilogue) {
	oh, ow := p.OutH(), p.OutW()
	if len(x) < p.N*p.H*p.W*p.C || len(y) < p.N*oh*ow*p.OC {
		panic("kernels: Conv2DWinograd slice too short")
	}
	cvCheckEpilogue(ep, p.N*oh*ow, p.OC)
	ws.p, ws.x, ws.y, ws.ww = p, x, y, ww
	ws.hasEp = ep != nil
	if ep != nil {
		ws.ep = *ep
	}
	m := ww.m
	t := m + 2
	ws.asm = winoAsm() && !winoNoAsm
	ws.m, ws.t = m, t
	ws.oh, ws.ow = oh, ow
	ws.tilesH, ws.tilesW = cvCeilDiv(oh, m), cvCeilDiv(ow, m)
	ws.tiles = p.N * ws.tilesH * ws.tilesW
	tt := t * t
	tb := ws.tiles
	if winoBlockFloats > 0 {
		tb = max(winoBlockFloats/(tt*(p.C+p.OC)), winoMinBlockTiles, 1)
		nb := max(1, (ws.tiles+tb/2)/tb) // even blocks
		tb = cvCeilDiv(ws.tiles, nb)
	}
	ws.tb = tb
	ws.v = cvGrow(&ws.v, tt*tb*p.C)
	ws.mm = cvGrow(&ws.mm, tt*tb*p.OC)
	for t0 := 0; t0 < ws.tiles; t0 += tb {
		t1 := min(t0+tb, ws.tiles)
		nt := t1 - t0
		ws.t0, ws.t1 = t0, t1
		ws.phase = winoPhaseIn
		ws.items = nt
		ws.parallel(nt * p.C * tt * 8)
		for xi := 0; xi < tt; xi++ {
			ws.amat = Matrix{Data: ws.v[xi*tb*p.C : (xi*tb+nt)*p.C], Stride: p.C}
			ws.bmat = Matrix{Data: ww.u[xi*p.C*p.OC : (xi+1)*p.C*p.OC], Stride: p.OC}
			ws.exec.GemmEx(nt, p.OC, p.C, &ws.amat, &ws.bmat, ws.mm[xi*tb*p.OC:(xi*tb+nt)*p.OC], p.OC, false, nil)
		}
		ws.phase = winoPhaseOut
		ws.items = nt
		ws.parallel(nt * p.OC * tt * 6)
	}
}

// winoChunk is the number of channels a pure-Go transform handles at once.
const winoChunk = 64

// winoScratch is one thread's transform memory.
type winoScratch struct {
	buf []float32
	in  [36]*float32 // tile input rows for winoIn6
	out [16]*float32 // tile output pixels for winoOut6
}

// inputTiles transforms input tiles [i0, i1) (global tile indices) into V.
// With assembly, the first C&^15 channels of an F(4×4) tile go through
// winoIn6 and the rest through the Go transforms.
func (ws *winoWork) inputTiles(i0, i1 int, sc *winoScratch) {
	p := &ws.p
	m, t, c := ws.m, ws.t, p.C
	cc := min(c, winoChunk)
	c16 := 0
	if t == 6 && ws.asm {
		c16 = c &^ 15
	}
	scr := cvGrow(&sc.buf, t*t*cc+max(c, cc)+36*16)
	tmp := scr[:t*t*cc]
	zero := scr[t*t*cc : t*t*cc+max(c, cc)]
	atmp := scr[t*t*cc+max(c, cc):]
	clear(zero)
	plane := ws.tb * c
	var src [6][]float32
	for ti := i0; ti < i1; ti++ {
		n := ti / (ws.tilesH * ws.tilesW)
		r := ti % (ws.tilesH * ws.tilesW)
		ih0 := (r/ws.tilesW)*m - p.PadTop
		iw0 := (r%ws.tilesW)*m - p.PadLeft
		vo := (ti - ws.t0) * c
		if c16 > 0 {
			for k := 0; k < 6; k++ {
				ih := ih0 + k
				for j := 0; j < 6; j++ {
					iw := iw0 + j
					if ih < 0 || ih >= p.H || iw < 0 || iw >= p.W {
						sc.in[k*6+j] = &zero[0]
					} else {
						sc.in[k*6+j] = &ws.x[((n*p.H+ih)*p.W+iw)*c]
					}
				}
			}
			_ = ws.v[vo+35*plane+c16-1]
			winoIn6(&ws.v[vo], plane, &sc.in, &atmp[0], c16)
		}
		for c0 := c16; c0 < c; c0 += cc {
			l := min(cc, c-c0)
			// Pass 1: column j of the tile, rows k → tmp[(i*t+j)*cc].
			for j := 0; j < t; j++ {
				iw := iw0 + j
				for k := 0; k < t; k++ {
					ih := ih0 + k
					if ih < 0 || ih >= p.H || iw < 0 || iw >= p.W {
						src[k] = zero[:l]
					} else {
						o := ((n*p.H+ih)*p.W+iw)*c + c0
						src[k] = ws.x[o : o+l]
					}
				}
				if t == 6 {
					winoBT6(tmp[j*cc:j*cc+l], tmp[(6+j)*cc:(6+j)*cc+l], tmp[(12+j)*cc:(12+j)*cc+l],
						tmp[(18+j)*cc:(18+j)*cc+l], tmp[(24+j)*cc:(24+j)*cc+l], tmp[(30+j)*cc:(30+j)*cc+l],
						src[0], src[1], src[2], src[3], src[4], src[5])
				} else {
					winoBT4(tmp[j*cc:j*cc+l], tmp[(4+j)*cc:(4+j)*cc+l], tmp[(8+j)*cc:(8+j)*cc+l],
						tmp[(12+j)*cc:(12+j)*cc+l], src[0], src[1], src[2], src[3])
				}
			}
			// Pass 2: row i of tmp → V[i*t+l'][tile][c0:].
			v := ws.v[vo+c0:]
			for i := 0; i < t; i++ {
				s := tmp[i*t*cc:]
				b := i * t * plane
				if t == 6 {
					winoBT6(v[b:b+l], v[b+plane:b+plane+l], v[b+2*plane:b+2*plane+l],
						v[b+3*plane:b+3*plane+l], v[b+4*plane:b+4*plane+l], v[b+5*plane:b+5*plane+l],
						s[:l], s[cc:cc+l], s[2*cc:2*cc+l], s[3*cc:3*cc+l], s[4*cc:4*cc+l], s[5*cc:5*cc+l])
				} else {
					winoBT4(v[b:b+l], v[b+plane:b+plane+l], v[b+2*plane:b+2*plane+l], v[b+3*plane:b+3*plane+l],
						s[:l], s[cc:cc+l], s[2*cc:2*cc+l], s[3*cc:3*cc+l])
				}
			}
		}
	}
}

// outputTiles transforms M of tiles [i0, i1) back into y and applies the
// epilogue. With assembly, the first OC&^15 channels of an F(4×4) tile go
// through winoOut6 (which adds the bias and fuses ReLU when there is no
// residual) and the rest through the Go transforms.
func (ws *winoWork) outputTiles(i0, i1 int, sc *winoScratch) {
	p := &ws.p
	m, t, oc := ws.m, ws.t, p.OC
	cc := min(oc, winoChunk)
	c16 := 0
	if t == 6 && ws.asm {
		c16 = oc &^ 15
	}
	zl := max(oc, cc)
	scr := cvGrow(&sc.buf, m*t*cc+2*zl+24*16)
	tmp := scr[:m*t*cc]
	zero := scr[m*t*cc : m*t*cc+zl]
	dummy := scr[m*t*cc+zl : m*t*cc+2*zl]
	atmp := scr[m*t*cc+2*zl:]
	clear(zero)
	plane := ws.tb * oc
	ep := &ws.ep
	bias := zero
	lo := float32(math.Inf(-1))
	asmDone := !ws.hasEp // the assembly leaves no epilogue work
	if ws.hasEp {
		if ep.Bias != nil {
			bias = ep.Bias
		}
		if ep.Residual == nil && (ep.Act == ActNone || ep.Act == ActReLU) {
			asmDone = true
			if ep.Act == ActReLU {
				lo = 0
			}
		}
	}
	var dst [4][]float32
	for ti := i0; ti < i1; ti++ {
		n := ti / (ws.tilesH * ws.tilesW)
		r := ti % (ws.tilesH * ws.tilesW)
		oh0 := (r / ws.tilesW) * m
		ow0 := (r % ws.tilesW) * m
		mo := (ti - ws.t0) * oc
		if c16 > 0 {
			for i := 0; i < 4; i++ {
				for k := 0; k < 4; k++ {
					if oh0+i < ws.oh && ow0+k < ws.ow {
						sc.out[i*4+k] = &ws.y[((n*ws.oh+oh0+i)*ws.ow+ow0+k)*oc]
					} else {
						sc.out[i*4+k] = &dummy[0]
					}
				}
			}
			_ = ws.mm[mo+35*plane+c16-1]
			_ = bias[c16-1]
			winoOut6(&sc.out, &ws.mm[mo], plane, &bias[0], &atmp[0], c16, lo)
			if !asmDone {
				for i := 0; i < 4 && oh0+i < ws.oh; i++ {
					for k := 0; k < 4 && ow0+k < ws.ow; k++ {
						px := (n*ws.oh+oh0+i)*ws.ow + ow0 + k
						row := ws.y[px*oc : px*oc+c16]
						if ep.Residual != nil {
							res := ep.Residual[px*ep.LdResidual : px*ep.LdResidual+c16]
							for q := range row {
								row[q] += res[q]
							}
						}
						winoActivate(ep.Act, row)
					}
				}
			}
		}
		for c0 := c16; c0 < oc; c0 += cc {
			l := min(cc, oc-c0)
			mv := ws.mm[mo+c0:]
			// Pass 1: column j of M, rows k → tmp[(i*t+j)*cc], i < m.
			for j := 0; j < t; j++ {
				if t == 6 {
					winoAT6(tmp[j*cc:j*cc+l], tmp[(6+j)*cc:(6+j)*cc+l], tmp[(12+j)*cc:(12+j)*cc+l], tmp[(18+j)*cc:(18+j)*cc+l],
						mv[j*plane:j*plane+l], mv[(6+j)*plane:(6+j)*plane+l], mv[(12+j)*plane:(12+j)*plane+l],
						mv[(18+j)*plane:(18+j)*plane+l], mv[(24+j)*plane:(24+j)*plane+l], mv[(30+j)*plane:(30+j)*plane+l])
				} else {
					winoAT4(tmp[j*cc:j*cc+l], tmp[(4+j)*cc:(4+j)*cc+l],
						mv[j*plane:j*plane+l], mv[(4+j)*plane:(4+j)*plane+l], mv[(8+j)*plane:(8+j)*plane+l], mv[(12+j)*plane:(12+j)*plane+l])
				}
			}
			// Pass 2: row i of tmp → output row oh0+i, columns ow0..ow0+m-1.
			for i := 0; i < m; i++ {
				oh := oh0 + i
				if oh >= ws.oh {
					break
				}
				rowBase := (n*ws.oh + oh) * ws.ow
				for k := 0; k < m; k++ {
					if ow0+k < ws.ow {
						o := (rowBase+ow0+k)*oc + c0
						dst[k] = ws.y[o : o+l]
					} else {
						dst[k] = dummy[:l]
					}
				}
				s := tmp[i*t*cc:]
				if t == 6 {
					winoAT6(dst[0], dst[1], dst[2], dst[3],
						s[:l], s[cc:cc+l], s[2*cc:2*cc+l], s[3*cc:3*cc+l], s[4*cc:4*cc+l], s[5*cc:5*cc+l])
				} else {
					winoAT4(dst[0], dst[1], s[:l], s[cc:cc+l], s[2*cc:2*cc+l], s[3*cc:3*cc+l])
				}
				if !ws.hasEp {
					continue
				}
				for k := 0; k < m && ow0+k < ws.ow; k++ {
					row := dst[k]
					if ep.Bias != nil {
						b := ep.Bias[c0 : c0+l]
						for q := range row {
							row[q] += b[q]
						}
					}
					if ep.Residual != nil {
						o := (rowBase+ow0+k)*ep.LdResidual + c0
						res := ep.Residual[o : o+l]
						for q := range row {
							row[q] += res[q]
						}
					}
					winoActivate(ep.Act, row)
				}
			}
		}
	}
}

// winoActivate is ApplyActivation with a branch-free ReLU (random signs
// make the compare-and-branch loop mispredict half the time).
func winoActivate(act Activation, v []float32) {
	if act != ActReLU {
		ApplyActivation(act, v)
		return
	}
	for i, x := range v {
		v[i] = max(x, 0)
	}
}

// transformRows computes U[ξ][c][·] for input channels [c0, c1) from w.
func (ww *WinogradWeights) transformRows(w []float32, c0, c1 int, buf *[]float32) {
	c, oc, t := ww.c, ww.oc, ww.m+2
	tmp := cvGrow(buf, 3*t*oc)
	plane := c * oc
	for ci := c0; ci < c1; ci++ {
		// Pass 1: column kw of g, rows kh → tmp[(i*3+kw)*oc].
		for kw := 0; kw < 3; kw++ {
			g0 := w[((0*3+kw)*c+ci)*oc : ((0*3+kw)*c+ci+1)*oc]
			g1 := w[((1*3+kw)*c+ci)*oc : ((1*3+kw)*c+ci+1)*oc]
			g2 := w[((2*3+kw)*c+ci)*oc : ((2*3+kw)*c+ci+1)*oc]
			if t == 6 {
				winoG6(tmp[kw*oc:(kw+1)*oc], tmp[(3+kw)*oc:(4+kw)*oc], tmp[(6+kw)*oc:(7+kw)*oc],
					tmp[(9+kw)*oc:(10+kw)*oc], tmp[(12+kw)*oc:(13+kw)*oc], tmp[(15+kw)*oc:(16+kw)*oc], g0, g1, g2)
			} else {
				winoG4(tmp[kw*oc:(kw+1)*oc], tmp[(3+kw)*oc:(4+kw)*oc], tmp[(6+kw)*oc:(7+kw)*oc],
					tmp[(9+kw)*oc:(10+kw)*oc], g0, g1, g2)
			}
		}
		// Pass 2: row i → U[i*t+j][ci][·].
		for i := 0; i < t; i++ {
			s := tmp[i*3*oc:]
			u := ww.u[(i*t*c+ci)*oc:]
			if t == 6 {
				winoG6(u[:oc], u[plane:plane+oc], u[2*plane:2*plane+oc], u[3*plane:3*plane+oc],
					u[4*plane:4*plane+oc], u[5*plane:5*plane+oc], s[:oc], s[oc:2*oc], s[2*oc:3*oc])
			} else {
				winoG4(u[:oc], u[plane:plane+oc], u[2*plane:2*plane+oc], u[3*plane:3*plane+oc],
					s[:oc], s[oc:2*oc], s[2*oc:3*oc])
			}
		}
	}
}
