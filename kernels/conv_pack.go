package kernels

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
	hx   int // padded input rows per image
	nu   int // positions per phase
	rowW int // floats per channel row: sw·nu
}

// init fills xt (grown from buf) from x for geometry g.
func (a *im2colPanel) init(g convGeom, x []float32, buf *[]float32) {
	a.g = g
	a.hx = (g.oh-1)*g.sh + g.kh
	wp := (g.ow-1)*g.sw + g.kw
	a.nu = cvCeilDiv(wp, g.sw)
	a.rowW = g.sw * a.nu
	a.xt = cvGrow(buf, g.n*a.hx*g.c*a.rowW)
	rows := g.n * a.hx
	convParallel(rows, len(a.xt), func(lo, hi int) { a.buildRows(x, lo, hi) })
}

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

// PackA implements PanelA for the im2col matrix of a.g.
func (a *im2colPanel) PackA(dst []float32, mr, i0, mc, p0, kc int) {
	g := a.g
	ohw := g.oh * g.ow
	for q := 0; q*mr < mc; q++ {
		panel := dst[q*mr*kc : (q+1)*mr*kc]
		rows := min(mr, mc-q*mr)
		i := i0 + q*mr
		n := i / ohw
		oh := (i - n*ohw) / g.ow
		ow := i - n*ohw - oh*g.ow
		// Split the panel's rows into runs within one output row.
		for r0 := 0; r0 < rows; {
			l := min(rows-r0, g.ow-ow)
			a.packRun(panel, mr, r0, l, n, oh, ow, p0, kc)
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
			cvZeroCols(panel, rows, mr, kc, mr-rows)
		}
	}
}

// packRun packs columns [p0, p0+kc) of the l rows for output pixels
// (n, oh, ow..ow+l−1) into rows r0..r0+l−1 of the panel.
func (a *im2colPanel) packRun(panel []float32, mr, r0, l, n, oh, ow, p0, kc int) {
	g := a.g
	c, rowW := g.c, a.rowW
	tap := p0 / c
	c0 := p0 - tap*c
	d := r0
	rowBase := (n*a.hx + oh*g.sh) * c * rowW
	for left := kc; left > 0; {
		kh := tap / g.kw
		kw := tap - kh*g.kw
		run := min(c-c0, left)
		s := rowBase + (kh*c+c0)*rowW + (kw%g.sw)*a.nu + ow + kw/g.sw
		cvMoveCols(panel, d, mr, a.xt, s, rowW, run, l)
		d += run * mr
		left -= run
		tap++
		c0 = 0
	}
}

// cvMoveCols copies cnt blocks of l floats: block j goes from src[s+j·ss:] to
// dst[d+j·ds:]. The block sizes the micro-kernels use as mr (and the halves
// left where a panel straddles two output rows) are fixed-size array moves.
func cvMoveCols(dst []float32, d, ds int, src []float32, s, ss, cnt, l int) {
	switch l {
	case 16:
		for ; cnt > 0; cnt-- {
			*(*[16]float32)(dst[d:]) = *(*[16]float32)(src[s:])
			d += ds
			s += ss
		}
	case 14:
		for ; cnt > 0; cnt-- {
			*(*[14]float32)(dst[d:]) = *(*[14]float32)(src[s:])
			d += ds
			s += ss
		}
	case 12:
		for ; cnt > 0; cnt-- {
			*(*[12]float32)(dst[d:]) = *(*[12]float32)(src[s:])
			d += ds
			s += ss
		}
	case 8:
		for ; cnt > 0; cnt-- {
			*(*[8]float32)(dst[d:]) = *(*[8]float32)(src[s:])
			d += ds
			s += ss
		}
	case 6:
		for ; cnt > 0; cnt-- {
			*(*[6]float32)(dst[d:]) = *(*[6]float32)(src[s:])
			d += ds
			s += ss
		}
	case 4:
		for ; cnt > 0; cnt-- {
			*(*[4]float32)(dst[d:]) = *(*[4]float32)(src[s:])
			d += ds
			s += ss
		}
	case 1:
		for ; cnt > 0; cnt-- {
			dst[d] = src[s]
			d += ds
			s += ss
		}
	default:
		for ; cnt > 0; cnt-- {
			dd := dst[d : d+l]
			sv := src[s : s+l]
			sv = sv[:len(dd)]
			for j := range dd {
				dd[j] = sv[j]
			}
			d += ds
			s += ss
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
func (a *filterPanel) PackA(dst []float32, mr, i0, mc, p0, kc int) {
	c := a.g.c
	for q := 0; q*mr < mc; q++ {
		panel := dst[q*mr*kc : (q+1)*mr*kc]
		rows := min(mr, mc-q*mr)
		i := i0 + q*mr
		tap := i / c
		c0 := i - tap*c
		// Split the panel's rows into runs of channels of one tap.
		for r0 := 0; r0 < rows; {
			l := min(rows-r0, c-c0)
			kh := tap / a.g.kw
			a.packRun(panel, mr, r0, l, kh, tap-kh*a.g.kw, c0, p0, kc)
			r0 += l
			tap++
			c0 = 0
		}
		if rows < mr {
			cvZeroCols(panel, rows, mr, kc, mr-rows)
		}
	}
}

// packRun packs columns (pixels) [p0, p0+kc) of the l rows for tap (kh, kw),
// channels c0..c0+l−1 into rows r0..r0+l−1 of the panel.
func (a *filterPanel) packRun(panel []float32, mr, r0, l, kh, kw, c0, p0, kc int) {
	g := a.g
	ohw := g.oh * g.ow
	n := p0 / ohw
	oh := (p0 - n*ohw) / g.ow
	ow := p0 - n*ohw - oh*g.ow
	// Output columns whose input column ow·sw+kw−pl lies in [0, w).
	owLo := max(cvCeilDiv(g.pl-kw, g.sw), 0)
	owHi := min(cvCeilDiv(g.w+g.pl-kw, g.sw), g.ow)
	d := r0
	for left := kc; left > 0; {
		run := min(left, g.ow-ow)
		end := ow + run
		ih := oh*g.sh + kh - g.pt
		if ih < 0 || ih >= g.h {
			cvZeroCols(panel, d, mr, run, l)
		} else {
			lo := min(max(owLo, ow), end)
			hi := max(min(owHi, end), lo)
			cvZeroCols(panel, d, mr, lo-ow, l)
			s := ((n*g.h+ih)*g.w+lo*g.sw+kw-g.pl)*g.c + c0
			cvMoveCols(panel, d+(lo-ow)*mr, mr, a.x, s, g.sw*g.c, hi-lo, l)
			cvZeroCols(panel, d+(hi-ow)*mr, mr, end-hi, l)
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
