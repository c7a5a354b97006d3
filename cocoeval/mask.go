package cocoeval

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// This file ports pycocotools' maskApi.c (common/maskApi.c in the cocoapi
// repository) operation for operation. Counts are uint32 and wrap exactly as
// the C "uint" arithmetic does; floating-point expressions carry explicit
// float64 conversions where the C code rounds each product, so that the Go
// compiler cannot fuse them into FMA instructions.

// RLE is a run-length encoded binary mask of H rows and W columns, in
// pycocotools' layout: pixels are visited in column-major (Fortran) order,
// index x*H+y, and Counts alternates runs of 0s and 1s starting with 0s (a
// mask whose first pixel is set starts with a zero-length run).
type RLE struct {
	// H and W are the mask's height and width in pixels, JSON "size"
	// [h w].
	H, W int
	// Counts are the run lengths, summing to H·W once read by ReadDataset
	// or ReadDetections (short runs are completed with background).
	Counts []uint32
}

// MaxMaskPixels bounds the height×width of the images and RLE masks that
// ReadDataset and ReadDetections accept (16384² by default), so that a file
// claiming a 10⁹-pixel image is refused before any mask of that size is
// made. Raise it before reading larger images.
var MaxMaskPixels int64 = 1 << 28

// MaxPolygonPoints bounds the points FrPoly traces along one polygon's edges
// on its 5× grid (pycocotools allocates them all). 2²² points trace a
// perimeter of about 840,000 pixels, far beyond any real annotation; a
// polygon with far-away or huge coordinates is refused instead of
// allocating without bound.
var MaxPolygonPoints = 1 << 22

// checkMaskSize reports whether an h×w mask is allowed: both non-negative
// and h·w at most MaxMaskPixels.
func checkMaskSize(h, w int) error {
	if h < 0 || w < 0 {
		return errors.New("sizes must not be negative")
	}
	if h != 0 && int64(w) > MaxMaskPixels/int64(h) {
		return fmt.Errorf("more than cocoeval.MaxMaskPixels = %d pixels", MaxMaskPixels)
	}
	return nil
}

// complete checks that r's runs cover at most its H·W pixels and, when they
// cover fewer, extends the last background run (or adds one) to cover the
// rest. Decode treats missing pixels as background, as pycocotools does;
// making the runs cover the mask exactly keeps Merge and MaskIoU, which walk
// two masks' runs in step, from running past one of them.
func (r *RLE) complete() error {
	if err := checkMaskSize(r.H, r.W); err != nil {
		return fmt.Errorf("RLE size [%d %d]: %w", r.H, r.W, err)
	}
	var sum uint64
	for _, c := range r.Counts {
		sum += uint64(c)
	}
	n := uint64(r.H) * uint64(r.W)
	switch {
	case sum > n:
		return fmt.Errorf("invalid RLE: runs cover %d pixels, more than its %d×%d size", sum, r.H, r.W)
	case sum == n && len(r.Counts) > 0:
		return nil
	case len(r.Counts)%2 == 1:
		r.Counts[len(r.Counts)-1] += uint32(n - sum)
	default:
		r.Counts = append(r.Counts, uint32(n-sum))
	}
	return nil
}

// Encode run-length encodes a column-major mask of h rows and w columns
// (mask[x*h+y], length h*w), like maskApi rleEncode: a new run starts
// wherever a byte differs from the previous one.
func Encode(mask []byte, h, w int) (RLE, error) {
	if h < 0 || w < 0 || len(mask) != h*w {
		return RLE{}, fmt.Errorf("cocoeval: encode: mask has %d bytes, want %d×%d", len(mask), h, w)
	}
	var cnts []uint32
	var p byte
	var c uint32
	for _, v := range mask {
		if v != p {
			cnts = append(cnts, c)
			c = 0
			p = v
		}
		c++
	}
	cnts = append(cnts, c)
	return RLE{H: h, W: w, Counts: cnts}, nil
}

// Decode expands r into a column-major mask of r.H*r.W bytes holding 0 or 1
// (mask[x*H+y]). Like pycocotools 2.0.11 it fails when the runs cover more
// than H*W pixels; pixels beyond the last run are 0.
func (r RLE) Decode() ([]byte, error) {
	if err := checkMaskSize(r.H, r.W); err != nil {
		return nil, fmt.Errorf("cocoeval: decode: RLE size [%d %d]: %w", r.H, r.W, err)
	}
	n := r.H * r.W
	mask := make([]byte, n)
	pos := 0
	var v byte
	for _, c := range r.Counts {
		if int64(pos)+int64(c) > int64(n) {
			return nil, errors.New("cocoeval: invalid RLE: runs exceed the mask size")
		}
		if v == 1 {
			for k := pos; k < pos+int(c); k++ {
				mask[k] = 1
			}
		}
		pos += int(c)
		v ^= 1
	}
	return mask, nil
}

// Area is the number of set pixels (maskApi rleArea: the sum of the odd
// runs, in uint32 arithmetic).
func (r RLE) Area() uint32 {
	var a uint32
	for j := 1; j < len(r.Counts); j += 2 {
		a += r.Counts[j]
	}
	return a
}

// ToBbox returns the tight box [x, y, w, h] around the set pixels, as
// pycocotools 2.0.11's rleToBbox (the version that walks foreground runs);
// an RLE with fewer than two runs gives [0 0 0 0].
func (r RLE) ToBbox() [4]float64 {
	h, w := uint32(r.H), uint32(r.W)
	m := len(r.Counts) / 2 * 2
	if m == 0 || h == 0 {
		return [4]float64{}
	}
	xs, ys, xe, ye := w, h, uint32(0), uint32(0)
	var cc uint32
	for j := 0; j < m; j++ {
		start := cc
		cc += r.Counts[j]
		if j%2 == 0 || r.Counts[j] == 0 {
			continue
		}
		yStart := start % h
		xStart := (start - yStart) / h
		yEnd := (cc - 1) % h
		xEnd := (cc - 1 - yEnd) / h
		xs = min(xs, xStart)
		xe = max(xe, xEnd)
		if xStart < xEnd {
			ys, ye = 0, h-1
		} else {
			ys = min(ys, yStart)
			ye = max(ye, yEnd)
		}
	}
	// uint arithmetic as in C: an all-background RLE gives xe-xs+1 wrapped.
	return [4]float64{float64(xs), float64(ys), float64(xe - xs + 1), float64(ye - ys + 1)}
}

// String returns the compressed "counts" string pycocotools stores in JSON
// (maskApi rleToString): each count, minus the count two places earlier from
// the fourth on, in a LEB128-like code of 5 data bits and a continuation bit
// per character, offset by 48 ('0').
func (r RLE) String() string {
	s := make([]byte, 0, len(r.Counts)*2)
	for i, cnt := range r.Counts {
		x := int64(cnt)
		if i > 2 {
			x -= int64(r.Counts[i-2])
		}
		for more := true; more; {
			c := byte(x & 0x1f)
			x >>= 5
			if c&0x10 != 0 {
				more = x != -1
			} else {
				more = x != 0
			}
			if more {
				c |= 0x20
			}
			s = append(s, c+48)
		}
	}
	return string(s)
}

// DecodeString parses a compressed counts string (maskApi rleFrString) into
// an RLE of h rows and w columns.
func DecodeString(s string, h, w int) (RLE, error) {
	cnts := make([]uint32, 0, len(s))
	for p := 0; p < len(s); {
		var x int64
		k := 0
		for more := true; more; {
			if p >= len(s) {
				return RLE{}, errors.New("cocoeval: truncated RLE counts string")
			}
			if s[p] < 48 || s[p] > 111 {
				return RLE{}, fmt.Errorf("cocoeval: invalid character %q in RLE counts string", s[p])
			}
			if k > 12 {
				return RLE{}, errors.New("cocoeval: RLE counts string holds a value too large")
			}
			c := int64(s[p] - 48)
			x |= (c & 0x1f) << (5 * k)
			more = c&0x20 != 0
			p++
			k++
			if !more && c&0x10 != 0 {
				x |= -1 << (5 * k)
			}
		}
		if m := len(cnts); m > 2 {
			x += int64(cnts[m-2])
		}
		cnts = append(cnts, uint32(x))
	}
	return RLE{H: h, W: w, Counts: cnts}, nil
}

// FrPoly rasterizes one polygon given as [x0 y0 x1 y1 ...] into an RLE of h
// rows and w columns, exactly as maskApi rleFrPoly: the vertices are scaled
// by 5 and rounded, the edges are traced densely on that grid, and the
// crossings of pixel-column centres are downsampled to run boundaries. An odd
// trailing coordinate is dropped, as int(len(p)/2) does in pycocotools.
//
// Unlike pycocotools it fails, rather than allocating without bound, on a
// coordinate that is not finite, a mask size that checkMaskSize refuses,
// or a polygon that traces more than MaxPolygonPoints points.
func FrPoly(xy []float64, h, w int) (RLE, error) {
	const scale = 5.0
	if err := checkMaskSize(h, w); err != nil {
		return RLE{}, fmt.Errorf("cocoeval: polygon mask size [%d %d]: %w", h, w, err)
	}
	if h == 0 || w == 0 {
		// maskApi computes w−1 unsigned, so a zero width lets every
		// boundary point through and the runs cover more than the (empty)
		// mask; an empty mask is one empty run.
		return RLE{H: h, W: w, Counts: []uint32{0}}, nil
	}
	k := len(xy) / 2
	x := make([]int, k+1)
	y := make([]int, k+1)
	const limit = 1 << 40 // |scaled coordinate|: far beyond MaxPolygonPoints, far from int overflow
	for j := 0; j < 2*k; j++ {
		if v := scale * xy[j]; !(v > -limit && v < limit) {
			return RLE{}, fmt.Errorf("cocoeval: polygon coordinate %d is %g, want a finite number within ±%g", j, xy[j], limit/scale)
		}
	}
	for j := 0; j < k; j++ {
		x[j] = int(float64(scale*xy[j*2]) + .5)
		y[j] = int(float64(scale*xy[j*2+1]) + .5)
	}
	if k > 0 {
		x[k], y[k] = x[0], y[0]
	}
	m := 0
	for j := 0; j < k; j++ {
		m += max(iabs(x[j]-x[j+1]), iabs(y[j]-y[j+1])) + 1
		if m > MaxPolygonPoints {
			return RLE{}, fmt.Errorf("cocoeval: polygon of %d vertices traces more than cocoeval.MaxPolygonPoints = %d points (coordinates far outside the image?)", k, MaxPolygonPoints)
		}
	}
	u := make([]int, 0, m)
	v := make([]int, 0, m)
	for j := 0; j < k; j++ {
		xs, xe, ys, ye := x[j], x[j+1], y[j], y[j+1]
		dx, dy := iabs(xe-xs), iabs(ys-ye)
		flip := (dx >= dy && xs > xe) || (dx < dy && ys > ye)
		if flip {
			xs, xe = xe, xs
			ys, ye = ye, ys
		}
		var s float64
		if dx >= dy {
			s = float64(ye-ys) / float64(dx)
			for d := 0; d <= dx; d++ {
				t := d
				if flip {
					t = dx - d
				}
				u = append(u, t+xs)
				v = append(v, int(float64(float64(ys)+float64(s*float64(t)))+.5))
			}
		} else {
			s = float64(xe-xs) / float64(dy)
			for d := 0; d <= dy; d++ {
				t := d
				if flip {
					t = dy - d
				}
				v = append(v, t+ys)
				u = append(u, int(float64(float64(xs)+float64(s*float64(t)))+.5))
			}
		}
	}
	// Points along the y-boundary, downsampled.
	bx := make([]int, 0, len(u))
	by := make([]int, 0, len(u))
	wm1 := float64(w - 1)
	for j := 1; j < len(u); j++ {
		if u[j] == u[j-1] {
			continue
		}
		var xd float64
		if u[j] < u[j-1] {
			xd = float64(u[j])
		} else {
			xd = float64(u[j] - 1)
		}
		xd = (xd+.5)/scale - .5
		if math.Floor(xd) != xd || xd < 0 || xd > wm1 {
			continue
		}
		yd := float64(min(v[j], v[j-1]))
		yd = (yd+.5)/scale - .5
		if yd < 0 {
			yd = 0
		} else if yd > float64(h) {
			yd = float64(h)
		}
		yd = math.Ceil(yd)
		bx = append(bx, int(xd))
		by = append(by, int(yd))
	}
	// RLE from the boundary points.
	a := make([]uint32, 0, len(bx)+1)
	for j := range bx {
		a = append(a, uint32(int32(bx[j]*h+by[j])))
	}
	a = append(a, uint32(h*w))
	slices.Sort(a)
	var p uint32
	for j := range a {
		t := a[j]
		a[j] -= p
		p = t
	}
	b := make([]uint32, 0, len(a))
	j := 0
	b = append(b, a[j])
	j++
	for j < len(a) {
		if a[j] > 0 {
			b = append(b, a[j])
			j++
		} else {
			j++
			if j < len(a) {
				b[len(b)-1] += a[j]
				j++
			}
		}
	}
	return RLE{H: h, W: w, Counts: b}, nil
}

// FrBbox rasterizes the box [x y w h] as the polygon (x,y) (x,y+h) (x+w,y+h)
// (x+w,y), like maskApi rleFrBbox; it fails where FrPoly does.
func FrBbox(bb [4]float64, h, w int) (RLE, error) {
	xs, ys := bb[0], bb[1]
	xe, ye := xs+bb[2], ys+bb[3]
	return FrPoly([]float64{xs, ys, xs, ye, xe, ye, xe, ys}, h, w)
}

// Merge returns the union (or, with intersect, the intersection) of RLEs of
// one size, as maskApi rleMerge. Masks of different sizes give an empty RLE
// of size 0×0, as in pycocotools; no RLEs give the same.
func Merge(rles []RLE, intersect bool) RLE {
	if len(rles) == 0 {
		return RLE{}
	}
	h, w := rles[0].H, rles[0].W
	if len(rles) == 1 {
		return RLE{H: h, W: w, Counts: slices.Clone(rles[0].Counts)}
	}
	cnts := slices.Clone(rles[0].Counts)
	for i := 1; i < len(rles); i++ {
		B := rles[i]
		if B.H != h || B.W != w {
			h, w, cnts = 0, 0, nil
			break
		}
		A := cnts
		cnts = make([]uint32, 0, len(A)+len(B.Counts))
		ca, cb := first(A), first(B.Counts)
		v, va, vb := false, false, false
		a, b := 1, 1
		var cc uint32
		for ct := uint32(1); ct > 0; {
			c := min(ca, cb)
			cc += c
			ct = 0
			ca -= c
			if ca == 0 && a < len(A) {
				ca = A[a]
				a++
				va = !va
			}
			ct += ca
			cb -= c
			if cb == 0 && b < len(B.Counts) {
				cb = B.Counts[b]
				b++
				vb = !vb
			}
			ct += cb
			vp := v
			if intersect {
				v = va && vb
			} else {
				v = va || vb
			}
			if v != vp || ct == 0 {
				cnts = append(cnts, cc)
				cc = 0
			}
		}
	}
	return RLE{H: h, W: w, Counts: cnts}
}

// MaskIoU returns the intersection over union of every detection mask with
// every ground-truth mask, ious[d][g], as maskApi rleIou: pairs whose
// bounding boxes do not overlap get 0 without looking at the masks, pairs of
// different sizes get -1, and for a crowd ground truth the union is the
// detection's area alone.
func MaskIoU(dt, gt []RLE, iscrowd []bool) [][]float64 {
	db := make([][4]float64, len(dt))
	for i := range dt {
		db[i] = dt[i].ToBbox()
	}
	gb := make([][4]float64, len(gt))
	for i := range gt {
		gb[i] = gt[i].ToBbox()
	}
	o := BoxIoU(db, gb, iscrowd)
	for g := range gt {
		crowd := g < len(iscrowd) && iscrowd[g]
		for d := range dt {
			if !(o[d][g] > 0) {
				continue
			}
			if dt[d].H != gt[g].H || dt[d].W != gt[g].W {
				o[d][g] = -1
				continue
			}
			o[d][g] = rleIou(dt[d], gt[g], crowd)
		}
	}
	return o
}

// rleIou is the inner loop of maskApi rleIou for one pair.
func rleIou(dt, gt RLE, crowd bool) float64 {
	ca, cb := first(dt.Counts), first(gt.Counts)
	ka, kb := len(dt.Counts), len(gt.Counts)
	va, vb := false, false
	a, b := 1, 1
	var i, u uint32
	for ct := uint32(1); ct > 0; {
		c := min(ca, cb)
		if va || vb {
			u += c
			if va && vb {
				i += c
			}
		}
		ct = 0
		ca -= c
		if ca == 0 && a < ka {
			ca = dt.Counts[a]
			a++
			va = !va
		}
		ct += ca
		cb -= c
		if cb == 0 && b < kb {
			cb = gt.Counts[b]
			b++
			vb = !vb
		}
		ct += cb
	}
	if i == 0 {
		u = 1
	} else if crowd {
		u = dt.Area()
	}
	return float64(i) / float64(u)
}

// BoxIoU returns the intersection over union of every detection box with
// every ground-truth box ([x y w h]), ious[d][g], as maskApi bbIou: for a
// crowd ground truth the union is the detection's area alone.
func BoxIoU(dt, gt [][4]float64, iscrowd []bool) [][]float64 {
	o := make([][]float64, len(dt))
	buf := make([]float64, len(dt)*len(gt))
	for d := range o {
		o[d] = buf[d*len(gt) : (d+1)*len(gt) : (d+1)*len(gt)]
	}
	for g, G := range gt {
		ga := float64(G[2] * G[3])
		crowd := g < len(iscrowd) && iscrowd[g]
		for d, D := range dt {
			da := float64(D[2] * D[3])
			iw := fmin(D[2]+D[0], G[2]+G[0]) - fmax(D[0], G[0])
			if iw <= 0 {
				continue
			}
			ih := fmin(D[3]+D[1], G[3]+G[1]) - fmax(D[1], G[1])
			if ih <= 0 {
				continue
			}
			i := float64(iw * ih)
			u := da
			if !crowd {
				u = float64(da+ga) - i
			}
			o[d][g] = i / u
		}
	}
	return o
}

// fmin and fmax follow C99: a NaN argument yields the other one.
func fmin(a, b float64) float64 {
	if a < b || b != b {
		return a
	}
	return b
}

func fmax(a, b float64) float64 {
	if a > b || b != b {
		return a
	}
	return b
}

func first(c []uint32) uint32 {
	if len(c) == 0 {
		return 0
	}
	return c[0]
}

func iabs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}
