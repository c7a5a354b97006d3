package maskrcnn

import (
	"math"

	"github.com/spinenet-go/spinenet/cocoeval"
	"github.com/spinenet-go/spinenet/detection/box"
)

// PasteMask places a MaskSize² mask of probabilities predicted for box b
// (original-image pixels) into a w×h image as the TPU code's
// paste_instance_masks does (spec maskrcnn.md §10.1): the map zero-padded
// to 30×30, the box enlarged about its centre by 30/28 and truncated to
// integer corners, the padded map resized bilinearly (OpenCV's
// half-pixel-centre rule, edges replicated) to the box's (x2−x1+1)×(y2−y1+1)
// pixels, thresholded at > 0.5, and the part inside the image kept. It
// returns the binary mask as a COCO RLE (column-major) of the image.
func PasteMask(prob []float32, b box.Box, w, h int) cocoeval.RLE {
	const padded = MaskSize + 2
	pad := make([]float32, padded*padded)
	for i := range MaskSize {
		copy(pad[(i+1)*padded+1:(i+1)*padded+1+MaskSize], prob[i*MaskSize:(i+1)*MaskSize])
	}
	scale := float64(padded) / MaskSize
	cx, cy := float64(b.X1+b.X2)/2, float64(b.Y1+b.Y2)/2
	hw, hh := float64(b.X2-b.X1)/2*scale, float64(b.Y2-b.Y1)/2*scale
	x1, y1, x2, y2 := int(cx-hw), int(cy-hh), int(cx+hw), int(cy+hh) // truncation, as astype(int32)
	bw, bh := max(x2-x1+1, 1), max(y2-y1+1, 1)
	img := make([]byte, w*h) // column-major: x·h + y
	sx, sy := float64(padded)/float64(bw), float64(padded)/float64(bh)
	for dy := range bh {
		y := y1 + dy
		if y < 0 || y >= h {
			continue
		}
		fy := min(max((float64(dy)+0.5)*sy-0.5, 0), padded-1)
		ty := int(math.Floor(fy))
		ty1 := min(ty+1, padded-1)
		wy := float32(fy - float64(ty))
		for dx := range bw {
			x := x1 + dx
			if x < 0 || x >= w {
				continue
			}
			fx := min(max((float64(dx)+0.5)*sx-0.5, 0), padded-1)
			tx := int(math.Floor(fx))
			tx1 := min(tx+1, padded-1)
			wx := float32(fx - float64(tx))
			v := (1-wy)*((1-wx)*pad[ty*padded+tx]+wx*pad[ty*padded+tx1]) + wy*((1-wx)*pad[ty1*padded+tx]+wx*pad[ty1*padded+tx1])
			if v > 0.5 {
				img[x*h+y] = 1
			}
		}
	}
	r, _ := cocoeval.Encode(img, h, w) // the length is right by construction
	return r
}
