// Package resample is the one bilinear image resampler of the module, used
// by the detection transform (package data) and the classification
// transform (package data/labeled).
//
// Resampling uses half-pixel centres: output pixel u at inverse scale inv
// (source pixels per output pixel) samples source coordinate
// (u + 0.5)·inv − 0.5 (Center), whose two neighbours are clamped to the
// image (At), as TF2 tf.image.resize(method="bilinear") without
// antialiasing. A caller maps its output grid to source coordinates (crop
// offsets, flips, windows, shifts), builds one Tap per output column and
// row, and Bilinear.Rows interpolates: each needed source row is
// interpolated horizontally once (two rows are cached, so upscaling reuses
// them), and each output row blends two of those vertically. The values
// are the source's, unnormalised, so each transform normalises and
// converts channels as it needs.
package resample

// Tap is one output coordinate's two neighbouring source indices along an
// axis and the weight of the second: v = (1 − W)·src[I0] + W·src[I1].
type Tap struct {
	// I0 and I1 are the 0-based source pixel indices, I1 = I0+1 inside
	// the image, both the border pixel when clamped.
	I0, I1 int32
	// W is the weight of I1 in [0, 1); 0 when clamped.
	W float32
}

// Center returns the source coordinate of output pixel u at inverse scale
// inv (source pixels per output pixel): (u + 0.5)·inv − 0.5.
func Center(u int, inv float64) float64 { return (float64(u)+0.5)*inv - 0.5 }

// At returns the taps of source coordinate f on an axis of n pixels,
// clamping at the borders (f ≤ 0 gives pixel 0, f ≥ n−1 pixel n−1, both
// with weight 0).
func At(f float64, n int) Tap {
	if f <= 0 {
		return Tap{}
	}
	if f >= float64(n-1) {
		return Tap{int32(n - 1), int32(n - 1), 0}
	}
	i0 := int(f)
	return Tap{int32(i0), int32(i0 + 1), float32(f - float64(i0))}
}

// Image is an interleaved 8-bit image: pixel (x, y) channel k is
// Pix[(y·Width + x)·Channels + k].
type Image struct {
	// Pix holds Width·Height·Channels bytes, rows top to bottom.
	Pix []uint8
	// Width and Height are the size in pixels; Channels the samples per
	// pixel, e.g. 1 for gray or 3 for RGB.
	Width, Height, Channels int
}

// Bilinear holds the row buffers of Rows. The zero value is ready; reuse
// one per goroutine to avoid reallocating them.
type Bilinear struct {
	buf []float32
}

// Rows resamples img at the given column and row taps (source indices into
// img) and calls emit(y, row) for every output row y = 0…len(rows)−1 in
// order. row holds len(cols)·img.Channels interpolated values, output
// column by column, each in the source's channel order and value range;
// it is valid only during the call.
//
// Per channel the value is top + wy·(bottom − top), where top and bottom
// are the horizontal interpolations a + wx·(b − a) of the two source rows,
// in float32.
func (r *Bilinear) Rows(img Image, cols, rows []Tap, emit func(y int, row []float32)) {
	c := img.Channels
	n := len(cols) * c
	if cap(r.buf) < 3*n {
		r.buf = make([]float32, 3*n)
	}
	buf := r.buf[:3*n]
	hrow := [2][]float32{buf[:n], buf[n : 2*n]}
	out := buf[2*n:]
	held := [2]int32{-1, -1} // source row in each buffer
	stride := img.Width * c
	src := func(y int32) []uint8 { return img.Pix[int(y)*stride : (int(y)+1)*stride] }
	for y, t := range rows {
		if held[0] != t.I0 {
			if held[1] == t.I0 { // moving down by one source row
				hrow[0], hrow[1] = hrow[1], hrow[0]
				held[0], held[1] = held[1], held[0]
			} else {
				interpRow(hrow[0], src(t.I0), cols, c)
				held[0] = t.I0
			}
		}
		if t.I1 == t.I0 {
			emit(y, hrow[0]) // weight 0: the row itself
			continue
		}
		if held[1] != t.I1 {
			interpRow(hrow[1], src(t.I1), cols, c)
			held[1] = t.I1
		}
		blendRow(out, hrow[0], hrow[1], t.W)
		emit(y, out)
	}
}

// interpRow interpolates one source row of c-channel bytes at the column
// taps.
func interpRow(dst []float32, src []uint8, cols []Tap, c int) {
	if c == 3 {
		dst = dst[:3*len(cols)]
		for x, t := range cols {
			a := (*[3]uint8)(src[3*t.I0:])
			b := (*[3]uint8)(src[3*t.I1:])
			d := (*[3]float32)(dst[3*x:])
			a0, a1, a2 := float32(a[0]), float32(a[1]), float32(a[2])
			d[0] = a0 + t.W*(float32(b[0])-a0)
			d[1] = a1 + t.W*(float32(b[1])-a1)
			d[2] = a2 + t.W*(float32(b[2])-a2)
		}
		return
	}
	for x, t := range cols {
		a, b := src[int(t.I0)*c:int(t.I0+1)*c], src[int(t.I1)*c:int(t.I1+1)*c]
		d := dst[x*c : (x+1)*c]
		for k := range d {
			ak := float32(a[k])
			d[k] = ak + t.W*(float32(b[k])-ak)
		}
	}
}

// blendRow writes r0 + wy·(r1 − r0).
func blendRow(dst, r0, r1 []float32, wy float32) {
	r0, r1 = r0[:len(dst)], r1[:len(dst)]
	for i := range dst {
		dst[i] = r0[i] + wy*(r1[i]-r0[i])
	}
}
