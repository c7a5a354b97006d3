package maskrcnn

import "github.com/spinenet-go/spinenet/detection/box"

// MaskPatchSize is the side of the ground-truth mask patch the parser cuts
// at each box (spec maskrcnn.md §9: mask_crop_size 112; data.Mask.Patch,
// data.Transform.MaskPatch).
const MaskPatchSize = 112

// maskPad is the zero border the patch gets before RoIs sample it.
const maskPad = 2

// MaskTarget is the MaskSize² soft mask target of an RoI (spec §9 step 3):
// the ground-truth patch (data.Mask.Patch of the matched object, MaskPatchSize²,
// whose box is gt
// in network pixels) zero-padded by 2 pixels, the RoI expressed in that
// padded patch's coordinates (patch pixel k at coordinate k+2, the box's
// edges at 2 and 2+MaskPatchSize), and one bilinear sample per output bin
// at the bin centre. Parts of the RoI outside the ground-truth box read the
// padding (0). dst receives the MaskSize² values.
func MaskTarget(dst, patch []float32, gt, roi box.Box) {
	sx, sy := MaskPatchSize/float64(max(gt.W(), 1e-6)), MaskPatchSize/float64(max(gt.H(), 1e-6))
	rx1, ry1 := float64(roi.X1-gt.X1)*sx+maskPad, float64(roi.Y1-gt.Y1)*sy+maskPad
	rw, rh := float64(roi.W())*sx, float64(roi.H())*sy
	const side = MaskPatchSize + 2*maskPad
	at := func(x, y int) float32 {
		x, y = x-maskPad, y-maskPad
		if x < 0 || y < 0 || x >= MaskPatchSize || y >= MaskPatchSize {
			return 0
		}
		return patch[y*MaskPatchSize+x]
	}
	for i := range MaskSize {
		y := min(max(ry1+(float64(i)+0.5)*rh/MaskSize, 0), side-1)
		yt := int(y)
		wy := float32(y - float64(yt))
		for j := range MaskSize {
			x := min(max(rx1+(float64(j)+0.5)*rw/MaskSize, 0), side-1)
			xl := int(x)
			wx := float32(x - float64(xl))
			dst[i*MaskSize+j] = (1-wy)*((1-wx)*at(xl, yt)+wx*at(xl+1, yt)) + wy*((1-wx)*at(xl, yt+1)+wx*at(xl+1, yt+1))
		}
	}
}
