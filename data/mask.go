package data

import (
	"image"
	"math"

	"github.com/spinenet-go/spinenet/detection/box"
)

// Mask is a binary instance mask stored over the part of the image it
// occupies: Pix has Rect.Dx()×Rect.Dy() bytes, row-major, 1 inside the
// instance and 0 outside; pixels outside Rect are 0. Rect is in image pixel
// coordinates.
type Mask struct {
	// Rect is the region the mask covers, in image pixels: Min inclusive,
	// Max exclusive.
	Rect image.Rectangle
	// Pix holds Rect's pixels row by row, 1 byte each: non-zero inside
	// the instance.
	Pix []uint8
}

// At reports whether image pixel (x, y) belongs to the instance.
func (m *Mask) At(x, y int) bool {
	if !(image.Point{x, y}).In(m.Rect) {
		return false
	}
	return m.Pix[(y-m.Rect.Min.Y)*m.Rect.Dx()+(x-m.Rect.Min.X)] != 0
}

// Area returns the number of pixels in the instance.
func (m *Mask) Area() int {
	n := 0
	for _, v := range m.Pix {
		if v != 0 {
			n++
		}
	}
	return n
}

// Box returns the tightest box around the instance's pixels (in the package's
// continuous convention: a mask covering only pixel (3, 4) has box {3 4 4 5}),
// and false if the mask is empty.
func (m *Mask) Box() (box.Box, bool) {
	w := m.Rect.Dx()
	x1, y1, x2, y2 := m.Rect.Max.X, m.Rect.Max.Y, m.Rect.Min.X, m.Rect.Min.Y
	for i, v := range m.Pix {
		if v == 0 {
			continue
		}
		x, y := m.Rect.Min.X+i%w, m.Rect.Min.Y+i/w
		x1, y1 = min(x1, x), min(y1, y)
		x2, y2 = max(x2, x+1), max(y2, y+1)
	}
	if x2 <= x1 {
		return box.Box{}, false
	}
	return box.XYXY(float32(x1), float32(y1), float32(x2), float32(y2)), true
}

// RLE returns the mask over a width×height image as uncompressed COCO
// run-length counts: column-major (Fortran) order, alternating runs of 0s and
// 1s, starting with a (possibly empty) run of 0s — the "counts" of
// {"size": [height, width], "counts": [...]} as pycocotools expects.
func (m *Mask) RLE(width, height int) []uint32 {
	var counts []uint32
	cur, run := uint8(0), uint32(0)
	for x := range width {
		for y := range height {
			var v uint8
			if m.At(x, y) {
				v = 1
			}
			if v != cur {
				counts = append(counts, run)
				cur, run = v, 0
			}
			run++
		}
	}
	return append(counts, run)
}

// Patch cuts the mask at box b (original-image pixels) of its w×h image
// into a size×size patch as tf.image.crop_and_resize does for Mask R-CNN's
// targets (spec maskrcnn.md §9): the box normalised by the image size, size
// bilinear samples from y1·(h−1) to y2·(h−1) (corners included), 0 outside
// the image. With flip the patch is mirrored left to right, as a flipped
// image is. The patch is soft (values in [0, 1]), row-major.
func (m *Mask) Patch(b box.Box, w, h, size int, flip bool) []float32 {
	out := make([]float32, size*size)
	at := func(x, y int) float32 {
		if x < 0 || y < 0 || x >= w || y >= h || !m.At(x, y) {
			return 0
		}
		return 1
	}
	span := func(lo, hi float32, n int) (start, step float64) { // n: the image side
		l, u := float64(lo)/float64(n), float64(hi)/float64(n)
		return l * float64(n-1), (u - l) * float64(n-1) / float64(max(size-1, 1))
	}
	y0, dy := span(b.Y1, b.Y2, h)
	x0, dx := span(b.X1, b.X2, w)
	for i := range size {
		y := y0 + float64(i)*dy
		if y < 0 || y > float64(h-1) {
			continue
		}
		yt := int(math.Floor(y))
		wy := float32(y - float64(yt))
		for j := range size {
			x := x0 + float64(j)*dx
			if x < 0 || x > float64(w-1) {
				continue
			}
			xl := int(math.Floor(x))
			wx := float32(x - float64(xl))
			v := (1-wy)*((1-wx)*at(xl, yt)+wx*at(xl+1, yt)) + wy*((1-wx)*at(xl, yt+1)+wx*at(xl+1, yt+1))
			col := j
			if flip {
				col = size - 1 - j
			}
			out[i*size+col] = v
		}
	}
	return out
}
