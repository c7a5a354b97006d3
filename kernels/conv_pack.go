package kernels

import "unsafe"

// Packers that let GemmEx run a convolution as an implicit GEMM.
//
// Forward (and backward-data) convolution: A is the im2col matrix,
//
//	A[(n·OH+oh)·OW+ow][(kh·KW+kw)·C+c] = x[n, oh·sh+kh−pt, ow·sw+kw−pl, c]
//
// and a packed A panel stores, for each column p, mr consecutive rows, i.e. mr
// consecutive output pixels. In NHWC those are C floats apart, so packing
// straight from x is a scalar transpose of every element of A (KH·KW times the
// input size). Instead im2colPanel first copies x once into a channel-major,
// zero-padded, stride-phase-split layout xt, in which the values a panel
// needs for one (kh, kw, c) and a run of output pixels in the same output row
// are contiguous. PackA is then one fixed-size block move per column: the
// transpose is paid once per input element instead of once per A element.
//
// Backward filter: A is the transposed im2col matrix (rows (kh, kw, c),
// columns pixels), whose panels need mr consecutive channels of one input
// pixel: contiguous in NHWC x already, so filterPanel moves them directly.

// convGeom is the geometry of an implicit-GEMM convolution: input
// [n, h, w, c], kernel kh×kw, strides sh, sw, top/left padding pt, pl (either
// may be negative, meaning the first input rows or columns are skipped) and
// output oh×ow. Rows or columns of the padded input outside [0, h)×[0, w) are
// zero.
type convGeom struct {
	n, h, w, c     int
	kh, kw, sh, sw int
	pt, pl         int
	oh, ow         int
}

// im2colPanel is the PanelA of an implicit-GEMM convolution.
//
// xt holds, for every image n and padded input row h' in [0, hx) (input row
// h'−pt), a c×rowW block: channel c, phase φ in [0, sw), position u in
// [0, nu) holds x[n, h'−pt, φ+u·sw−pl, c] (zero outside the input). Output
// pixel ow with tap kw reads padded column ow·sw+kw, which is phase kw mod sw,
// position ow + kw/sw, so consecutive output pixels read consecutive floats.
type im2colPanel struct {
	g    convGeom
	xt   []float32
	hx   int       // padded input rows per image
	nu   int       // positions per phase
	rowW int       // floats per channel row: sw·nu
	x    []float32 // the input, while init runs
}

// init fills xt (grown from buf) from x for geometry g, on e's threads.
func (a *im2colPanel) init(e *Exec, g convGeom, x []float32, buf *[]float32) {
	a.g = g
	a.hx = (g.oh-1)*g.sh + g.kh
	wp := (g.ow-1)*g.sw + g.kw
	a.nu = cvCeilDiv(wp, g.sw)
	a.rowW = g.sw * a.nu
	a.xt = cvGrow(buf, g.n*a.hx*g.c*a.rowW)
	a.x = x
	e.Parallel(g.n*a.hx, len(a.xt), a)
	a.x = nil
}

// RunRange implements Ranger: it builds padded rows [lo, hi).
func (a *im2colPanel) RunRange(lo, hi int) { a.buildRows(a.x, lo, hi) }

// buildRows fills the xt blocks of padded rows [lo, hi) (counted over all
// images).
func (a *im2colPanel) buildRows(x []float32, lo, hi int) {
	g := a.g
	c, rowW, nu, sw := g.c, a.rowW, a.nu, g.sw
	blk := c * rowW
	wp := (g.ow-1)*g.sw + g.kw
	for row := lo; row < hi; row++ {
		n := row / a.hx
		ih := row - n*a.hx - g.pt
		dst := a.xt[row*blk : (row+1)*blk]
		if ih < 0 || ih >= g.h {
			clear(dst)
			continue
		}
		src := x[(n*g.h+ih)*g.w*c : (n*g.h+ih+1)*g.w*c]
		for ph := 0; ph < sw; ph++ {
			// Positions u of this phase whose input column ph+u·sw−pl lies
			// in [0, w) and whose padded column lies in [0, wp).
			ulo := min(max(cvCeilDiv(g.pl-ph, sw), 0), nu)
			uhi := min(cvCeilDiv(g.w+g.pl-ph, sw), cvCeilDiv(wp-ph, sw), nu)
			uhi = max(uhi, ulo)
			base := ph * nu
			for ch := 0; ch < c; ch++ {
				d := dst[ch*rowW+base : ch*rowW+base+nu]
				clear(d[:ulo])
				clear(d[uhi:])
			}
			if uhi == ulo {
				continue
			}
			iw0 := ph + ulo*sw - g.pl
			cvTransposeStrided(dst[base+ulo:], rowW, src[iw0*c:], sw*c, uhi-ulo, c)
		}
	}
}

// cvTransposeStrided sets dst[ch·ds + j] = src[j·ss + ch] for j < cnt, ch < c.
func cvTransposeStrided(dst []float32, ds int, src []float32, ss, cnt, c int) {
	j := 0
	for ; j+8 <= cnt; j += 8 {
		s := src[j*ss : j*ss+7*ss+c]
		for ch := 0; ch < c; ch++ {
			d := (*[8]float32)(dst[ch*ds+j:])
			d[0] = s[ch]
			d[1] = s[ss+ch]
			d[2] = s[2*ss+ch]
			d[3] = s[3*ss+ch]
			d[4] = s[4*ss+ch]
			d[5] = s[5*ss+ch]
			d[6] = s[6*ss+ch]
			d[7] = s[7*ss+ch]
		}
	}
	for ; j < cnt; j++ {
		s := src[j*ss : j*ss+c]
		for ch, v := range s {
			dst[ch*ds+j] = v
		}
	}
}

// cvSeg is a run of rows of one packed panel whose output pixels are
// consecutive within one output row: l rows starting at dst (the offset of
// the first row's column p0 in the packed block), reading xt from src (the
// offset for tap (0, 0), channel 0).
type cvSeg struct{ dst, src, l int }

// PackA implements PanelA for the im2col matrix of a.g.
//
// The block's rows are split into segments (runs of consecutive output
// pixels inside one panel and one output row). Columns are visited grouped
// by kernel row kh, and within a group segment by segment, tap by tap: the
// taps kw of one kernel row read overlapping stretches of the same xt rows,
// and consecutive segments read adjacent stretches, so the source stays in
// L1 between moves.
func (a *im2colPanel) PackA(dst []float32, mr, i0, mc, p0, kc int) {
	g := a.g
	ohw := g.oh * g.ow
	var segBuf [64]cvSeg
	segs := segBuf[:0]
	n := i0 / ohw
	oh := (i0 - n*ohw) / g.ow
	ow := i0 - n*ohw - oh*g.ow
	for q := 0; q*mr < mc; q++ {
		rows := min(mr, mc-q*mr)
		for r0 := 0; r0 < rows; {
			l := min(rows-r0, g.ow-ow)
			if len(segs) == cap(segs) {
				a.packSegs(dst, mr, segs, p0, kc)
				segs = segs[:0]
			}
			segs = append(segs, cvSeg{q*mr*kc + r0, (n*a.hx+oh*g.sh)*g.c*a.rowW + ow, l})
			r0 += l
			ow += l
			if ow == g.ow {
				ow = 0
				if oh++; oh == g.oh {
					oh = 0
					n++
				}
			}
		}
		if rows < mr {
			cvZeroCols(dst, q*mr*kc+rows, mr, kc, mr-rows)
		}
	}
	a.packSegs(dst, mr, segs, p0, kc)
}

// packSegs packs columns [p0, p0+kc) of the rows described by segs.
func (a *im2colPanel) packSegs(dst []float32, mr int, segs []cvSeg, p0, kc int) {
	g := a.g
	c, rowW, nu, sw := g.c, a.rowW, a.nu, g.sw
	var offBuf [256]int
	tap := p0 / c
	c0 := p0 - tap*c
	for pp := 0; pp < kc; {
		// Columns [pp, ppEnd) belong to kernel row kh; offs[j] is the
		// xt offset of column pp+j relative to a segment's src.
		kh := tap / g.kw
		if c >= 16 {
			// Long channel runs: one strided move per tap and segment.
			tapEnd := (kh + 1) * g.kw
			ppEnd := min(pp+(tapEnd-tap)*c-c0, kc)
			for _, sg := range segs {
				t, cc := tap, c0
				for p := pp; p < ppEnd; {
					kw := t - kh*g.kw
					run := min(c-cc, ppEnd-p)
					s := sg.src + (kh*c+cc)*rowW + (kw%sw)*nu + kw/sw
					cvMoveCols(dst, sg.dst+p*mr, mr, a.xt, s, rowW, run, sg.l)
					p += run
					t++
					cc = 0
				}
			}
			pp, tap, c0 = ppEnd, tapEnd, 0
			continue
		}
		// Short channel runs (the stem): a table of source offsets for
		// all columns of the kernel row, shared by the segments.
		ppEnd := min(pp+((kh+1)*g.kw-tap)*c-c0, kc, pp+len(offBuf))
		offs := offBuf[:ppEnd-pp]
		for j := range offs {
			kw := tap - kh*g.kw
			offs[j] = (kh*c+c0)*rowW + (kw%sw)*nu + kw/sw
			if c0++; c0 == c {
				c0 = 0
				tap++
			}
		}
		for _, sg := range segs {
			cvMoveTable(dst, sg.dst+pp*mr, mr, a.xt, sg.src, offs, sg.l)
		}
		pp = ppEnd
	}
}

// cvMoveTable copies len(offs) blocks of l floats: block j goes from
// src[s+offs[j]:] to dst[d+j·ds:]. offs must be non-negative.
func cvMoveTable(dst []float32, d, ds int, src []float32, s int, offs []int, l int) {
	if len(offs) == 0 || l <= 0 {
		return
	}
	maxOff := 0
	for _, o := range offs {
		maxOff = max(maxOff, o)
	}
	if d < 0 || s < 0 || ds < 0 || d+(len(offs)-1)*ds+l > len(dst) || s+maxOff+l > len(src) {
		panic("kernels: cvMoveTable out of range")
	}
	dp := unsafe.Pointer(unsafe.SliceData(dst))
	db := uintptr(d) * 4
	sp := unsafe.Add(unsafe.Pointer(unsafe.SliceData(src)), uintptr(s)*4)
	dstep := uintptr(ds) * 4
	switch l {
	case 16:
		for _, o := range offs {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, uintptr(o)*4)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			*(*[4]float32)(unsafe.Add(dq, 16)) = *(*[4]float32)(unsafe.Add(sq, 16))
			*(*[4]float32)(unsafe.Add(dq, 32)) = *(*[4]float32)(unsafe.Add(sq, 32))
			*(*[4]float32)(unsafe.Add(dq, 48)) = *(*[4]float32)(unsafe.Add(sq, 48))
			db += dstep
		}
	case 14:
		for _, o := range offs {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, uintptr(o)*4)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			*(*[4]float32)(unsafe.Add(dq, 16)) = *(*[4]float32)(unsafe.Add(sq, 16))
			*(*[4]float32)(unsafe.Add(dq, 32)) = *(*[4]float32)(unsafe.Add(sq, 32))
			*(*[2]float32)(unsafe.Add(dq, 48)) = *(*[2]float32)(unsafe.Add(sq, 48))
			db += dstep
		}
	case 12:
		for _, o := range offs {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, uintptr(o)*4)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			*(*[4]float32)(unsafe.Add(dq, 16)) = *(*[4]float32)(unsafe.Add(sq, 16))
			*(*[4]float32)(unsafe.Add(dq, 32)) = *(*[4]float32)(unsafe.Add(sq, 32))
			db += dstep
		}
	case 8:
		for _, o := range offs {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, uintptr(o)*4)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			*(*[4]float32)(unsafe.Add(dq, 16)) = *(*[4]float32)(unsafe.Add(sq, 16))
			db += dstep
		}
	case 6:
		for _, o := range offs {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, uintptr(o)*4)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			*(*[2]float32)(unsafe.Add(dq, 16)) = *(*[2]float32)(unsafe.Add(sq, 16))
			db += dstep
		}
	case 4:
		for _, o := range offs {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, uintptr(o)*4)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			db += dstep
		}
	default:
		for _, o := range offs {
			dd := unsafe.Slice((*float32)(unsafe.Add(dp, db)), l)
			sv := unsafe.Slice((*float32)(unsafe.Add(sp, uintptr(o)*4)), l)
			for j := range dd {
				dd[j] = sv[j]
			}
			db += dstep
		}
	}
}

// cvMoveCols copies cnt blocks of l floats: block j goes from src[s+j·ss:] to
// dst[d+j·ds:]. The block sizes the micro-kernels use as mr (and the halves
// left where a panel straddles two output rows) are unrolled 16- and 8-byte
// moves: a larger array assignment would compile to a runtime.memmove call,
// since the compiler cannot rule out overlap.
func cvMoveCols(dst []float32, d, ds int, src []float32, s, ss, cnt, l int) {
	if cnt <= 0 || l <= 0 {
		return
	}
	// One bounds check for the whole loop (all offsets are increasing), then
	// unchecked moves.
	if d < 0 || s < 0 || ds < 0 || ss < 0 || d+(cnt-1)*ds+l > len(dst) || s+(cnt-1)*ss+l > len(src) {
		panic("kernels: cvMoveCols out of range")
	}
	dp := unsafe.Pointer(unsafe.SliceData(dst))
	sp := unsafe.Pointer(unsafe.SliceData(src))
	db, sb := uintptr(d)*4, uintptr(s)*4
	dstep, sstep := uintptr(ds)*4, uintptr(ss)*4
	switch l {
	case 16:
		for ; cnt > 0; cnt-- {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, sb)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			*(*[4]float32)(unsafe.Add(dq, 16)) = *(*[4]float32)(unsafe.Add(sq, 16))
			*(*[4]float32)(unsafe.Add(dq, 32)) = *(*[4]float32)(unsafe.Add(sq, 32))
			*(*[4]float32)(unsafe.Add(dq, 48)) = *(*[4]float32)(unsafe.Add(sq, 48))
			db += dstep
			sb += sstep
		}
	case 14:
		for ; cnt > 0; cnt-- {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, sb)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			*(*[4]float32)(unsafe.Add(dq, 16)) = *(*[4]float32)(unsafe.Add(sq, 16))
			*(*[4]float32)(unsafe.Add(dq, 32)) = *(*[4]float32)(unsafe.Add(sq, 32))
			*(*[2]float32)(unsafe.Add(dq, 48)) = *(*[2]float32)(unsafe.Add(sq, 48))
			db += dstep
			sb += sstep
		}
	case 12:
		for ; cnt > 0; cnt-- {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, sb)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			*(*[4]float32)(unsafe.Add(dq, 16)) = *(*[4]float32)(unsafe.Add(sq, 16))
			*(*[4]float32)(unsafe.Add(dq, 32)) = *(*[4]float32)(unsafe.Add(sq, 32))
			db += dstep
			sb += sstep
		}
	case 8:
		for ; cnt > 0; cnt-- {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, sb)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			*(*[4]float32)(unsafe.Add(dq, 16)) = *(*[4]float32)(unsafe.Add(sq, 16))
			db += dstep
			sb += sstep
		}
	case 6:
		for ; cnt > 0; cnt-- {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, sb)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			*(*[2]float32)(unsafe.Add(dq, 16)) = *(*[2]float32)(unsafe.Add(sq, 16))
			db += dstep
			sb += sstep
		}
	case 4:
		for ; cnt > 0; cnt-- {
			dq, sq := unsafe.Add(dp, db), unsafe.Add(sp, sb)
			*(*[4]float32)(unsafe.Add(dq, 0)) = *(*[4]float32)(unsafe.Add(sq, 0))
			db += dstep
			sb += sstep
		}
	default:
		for ; cnt > 0; cnt-- {
			dd := unsafe.Slice((*float32)(unsafe.Add(dp, db)), l)
			sv := unsafe.Slice((*float32)(unsafe.Add(sp, sb)), l)
			for j := range dd {
				dd[j] = sv[j]
			}
			db += dstep
			sb += sstep
		}
	}
}

// cvZeroCols clears cnt blocks of l floats starting at dst[d], ds apart.
func cvZeroCols(dst []float32, d, ds, cnt, l int) {
	for ; cnt > 0; cnt-- {
		clear(dst[d : d+l])
		d += ds
	}
}

// filterPanel is the PanelA of the backward-filter GEMM: the transposed
// im2col matrix, A[(kh·KW+kw)·C+c][(n·OH+oh)·OW+ow] = x[n, oh·sh+kh−pt,
// ow·sw+kw−pl, c] (zero in the padding).
type filterPanel struct {
	g convGeom
	x []float32
}

// PackA implements PanelA.
//
// A panel's rows (kh, kw, c) that share kh are consecutive floats of one
// input row in NHWC: row (kh, kw, c) of pixel (oh, ow) is x at offset
// ((n·H+ih)·W + ow·sw − pl)·C + kw·C + c. So each panel is split only at
// kernel-row boundaries, and each output pixel whose taps all lie inside the
// input is one contiguous move; this matters for small C (the stem, C = 3).
func (a *filterPanel) PackA(dst []float32, mr, i0, mc, p0, kc int) {
	rowLen := a.g.kw * a.g.c // rows per kernel row kh
	for q := 0; q*mr < mc; q++ {
		panel := dst[q*mr*kc : (q+1)*mr*kc]
		rows := min(mr, mc-q*mr)
		i := i0 + q*mr
		kh := i / rowLen
		k0 := i - kh*rowLen
		for r0 := 0; r0 < rows; {
			l := min(rows-r0, rowLen-k0)
			a.packRun(panel, mr, r0, l, kh, k0, p0, kc)
			r0 += l
			kh++
			k0 = 0
		}
		if rows < mr {
			cvZeroCols(panel, rows, mr, kc, mr-rows)
		}
	}
}

// packRun packs columns (pixels) [p0, p0+kc) of the l rows (kh, k) for
// k = k0..k0+l−1 (k = kw·C + c) into rows r0..r0+l−1 of the panel.
func (a *filterPanel) packRun(panel []float32, mr, r0, l, kh, k0, p0, kc int) {
	g := a.g
	ohw := g.oh * g.ow
	n := p0 / ohw
	oh := (p0 - n*ohw) / g.ow
	ow := p0 - n*ohw - oh*g.ow
	// Output columns for which every tap kwFirst..kwLast is inside the input.
	kwFirst, kwLast := k0/g.c, (k0+l-1)/g.c
	owLo := max(cvCeilDiv(g.pl-kwFirst, g.sw), 0)
	owHi := min(cvCeilDiv(g.w+g.pl-kwLast, g.sw), g.ow)
	d := r0
	for left := kc; left > 0; {
		run := min(left, g.ow-ow)
		end := ow + run
		ih := oh*g.sh + kh - g.pt
		if ih < 0 || ih >= g.h {
			cvZeroCols(panel, d, mr, run, l)
		} else {
			row := (n*g.h + ih) * g.w * g.c
			lo := min(max(owLo, ow), end)
			hi := max(min(owHi, end), lo)
			a.packEdge(panel, d, mr, row, ow, lo, l, k0)
			if hi > lo {
				s := row + (lo*g.sw-g.pl)*g.c + k0
				cvMoveCols(panel, d+(lo-ow)*mr, mr, a.x, s, g.sw*g.c, hi-lo, l)
			}
			a.packEdge(panel, d+(hi-ow)*mr, mr, row, hi, end, l, k0)
		}
		d += run * mr
		left -= run
		ow = 0
		if oh++; oh == g.oh {
			oh = 0
			n++
		}
	}
}

// packEdge packs output columns ow0..ow1−1 of input row offset row for rows
// k0..k0+l−1 tap by tap, with zeros where a tap falls outside the input (the
// left and right borders).
func (a *filterPanel) packEdge(panel []float32, d, mr, row, ow0, ow1, l, k0 int) {
	g := a.g
	for ow := ow0; ow < ow1; ow++ {
		dd := panel[d : d+l]
		for j := 0; j < l; {
			kw := (k0 + j) / g.c
			cc := k0 + j - kw*g.c
			run := min(g.c-cc, l-j)
			if iw := ow*g.sw + kw - g.pl; iw >= 0 && iw < g.w {
				copy(dd[j:j+run], a.x[row+iw*g.c+cc:])
			} else {
				clear(dd[j : j+run])
			}
			j += run
		}
		d += mr
	}
}
