package kernels

import (
	"math"

	"github.com/spinenet-go/spinenet/detection/box"
)

// RoIAlignMode selects how RoIAlign samples the bins of a region.
type RoIAlignMode uint8

const (
	// RoIAlignTF is the TF/TPU multilevel_crop_and_resize (Mask R-CNN spec
	// §6): box coordinates divided by the level's stride with no half-pixel
	// shift, exactly one bilinear sample per bin at its centre
	// y1 + (i + 0.5)·h/S, and edge clamping: y0 = ⌊y⌋ clamped to [0, H−1],
	// y1 = min(y0 + 1, H−1), weights 1 − (y − y0) and y − y0 from the
	// clamped y0 (so a sample past the last row reads the edge row and a
	// negative one extrapolates linearly from rows 0 and 1). H is the
	// level's real height; TF's halving rule for the bound is exact only
	// for inputs that are multiples of 2^max_level (spec §6 pitfall).
	RoIAlignTF RoIAlignMode = iota
	// RoIAlignTorchvision is torchvision's roi_align(aligned=False) CPU
	// kernel with a fixed sampling ratio (MultiScaleRoIAlign uses 2): the
	// RoI, scaled by 1/stride, is forced to at least 1×1; each bin averages
	// ratio×ratio bilinear samples at y1 + i·b + (k + 0.5)·b/ratio
	// (b = h/S); a sample with y < −1 or y > H reads 0, otherwise y is
	// clamped to [0, H−1] (a sample at or past row H−1 reads that row).
	RoIAlignTorchvision
)

// RoI is one region of a multi-level RoIAlign.
type RoI struct {
	// Batch is the image the region belongs to, in [0, N).
	Batch int
	// Level indexes the levels given to RoIAlign (not a pyramid level
	// number): the map the region is cropped from.
	Level int
	// Box is the region in input-image pixels, [x1 y1 x2 y2].
	Box box.Box
}

// RoILevel is one feature level of a multi-level RoIAlign: an NHWC map of
// H×W pixels (Data, [N,H,W,C]; in the backward pass its gradient) whose
// pixels are Stride input pixels apart (2^l for pyramid level l).
type RoILevel struct {
	H, W   int
	Stride float64
	Data   []float32
}

// RoIAlignParams are the sizes and the sampling rule of a RoIAlign.
type RoIAlignParams struct {
	N, C   int // images and channels, shared by every level
	OH, OW int // output bins per region (7×7 for the box head, 14×14 for the mask head)
	Mode   RoIAlignMode
	// SamplingRatio is the number of samples per bin along each axis in
	// RoIAlignTorchvision mode (0 means 2; at most MaxRoISamplingRatio).
	// RoIAlignTF always takes one sample and ignores it.
	SamplingRatio int
}

// MaxRoISamplingRatio is the largest RoIAlignParams.SamplingRatio.
const MaxRoISamplingRatio = 8

// MaxRoILevels is the most feature levels one RoIAlign takes.
const MaxRoILevels = 16

// roiBlock is the channel block the backward pass parallelises over.
const roiBlock = 16

// ratio returns the samples per bin per axis.
func (p *RoIAlignParams) ratio() int {
	if p.Mode == RoIAlignTF {
		return 1
	}
	if p.SamplingRatio == 0 {
		return 2
	}
	return p.SamplingRatio
}

// roiTap is one interpolation tap along one axis: a row (or column) index
// and its weight, the sample average's share included.
type roiTap struct {
	i int32
	w float32
}

type roiTaps [2 * MaxRoISamplingRatio]roiTap

// floorClamp returns ⌊v⌋ clamped to [0, hi] (0 for NaN).
func floorClamp(v float64, hi int) int {
	f := math.Floor(v)
	if !(f > 0) {
		return 0
	}
	if f >= float64(hi) {
		return hi
	}
	return int(f)
}

// taps fills t with the taps of bin i (of bins) along one axis of a map of
// size pixels, for a region [lo, hi) in input pixels at the given stride,
// and returns how many it wrote.
func (p *RoIAlignParams) taps(lo, hi float32, stride float64, size, bins, i int, t *roiTaps) int {
	start := float64(lo) / stride
	ext := float64(hi)/stride - start
	if p.Mode == RoIAlignTF {
		y := start + (float64(i)+0.5)*ext/float64(bins)
		y0 := floorClamp(y, size-1)
		l := y - float64(y0)
		t[0] = roiTap{int32(y0), float32(1 - l)}
		t[1] = roiTap{int32(min(y0+1, size-1)), float32(l)}
		return 2
	}
	s := p.ratio()
	ext = max(ext, 1)
	bin := ext / float64(bins)
	inv := 1 / float64(s)
	for k := range s {
		y := start + float64(i)*bin + (float64(k)+0.5)*bin*inv
		if y < -1 || y > float64(size) {
			t[2*k], t[2*k+1] = roiTap{}, roiTap{}
			continue
		}
		y = max(y, 0)
		y0 := floorClamp(y, size-1)
		y1 := y0 + 1
		if y0 >= size-1 {
			y0, y1, y = size-1, size-1, float64(size-1)
		}
		l := y - float64(y0)
		t[2*k] = roiTap{int32(y0), float32((1 - l) * inv)}
		t[2*k+1] = roiTap{int32(y1), float32(l * inv)}
	}
	return 2 * s
}

// roiCheck panics on inconsistent arguments.
func roiCheck(p *RoIAlignParams, levels []RoILevel, rois []RoI, outLen int, backward bool) {
	if p.N < 0 || p.C < 0 || p.OH < 1 || p.OW < 1 || p.Mode > RoIAlignTorchvision ||
		p.SamplingRatio < 0 || p.SamplingRatio > MaxRoISamplingRatio {
		panic("kernels: RoIAlign bad parameters")
	}
	if len(levels) > MaxRoILevels {
		panic("kernels: RoIAlign too many levels")
	}
	for _, l := range levels {
		if backward && l.Data == nil {
			continue
		}
		if l.H < 1 || l.W < 1 || !(l.Stride > 0) {
			panic("kernels: RoIAlign bad level")
		}
		if len(l.Data) < p.N*l.H*l.W*p.C {
			panic("kernels: RoIAlign slice too short")
		}
	}
	for _, r := range rois {
		if r.Level < 0 || r.Level >= len(levels) || r.Batch < 0 || r.Batch >= p.N {
			panic("kernels: RoIAlign region outside the levels or the batch")
		}
	}
	if outLen < len(rois)*p.OH*p.OW*p.C {
		panic("kernels: RoIAlign slice too short")
	}
}

// RoIAlign crops every region of rois from its level and resizes it to
// OH×OW bins by bilinear sampling (the mode's rule, see RoIAlignMode):
//
//	y[r, i, j, c] = Σ_taps wy·wx · level[r.Level][r.Batch, ty, tx, c]
//
// y is [R, OH, OW, C] in the order of rois. Rows of y are computed in
// parallel; the result does not depend on the thread count.
func (e *Exec) RoIAlign(p RoIAlignParams, levels []RoILevel, rois []RoI, y []float32) {
	roiCheck(&p, levels, rois, len(y), false)
	t := roiTasks.Get()
	t.p, t.rois, t.y, t.nl = p, rois, y, len(levels)
	copy(t.levels[:], levels)
	r := p.ratio()
	rows := len(rois) * p.OH
	e.Parallel(rows, rows*p.OW*4*r*r*p.C, t)
	roiTasks.Put(t)
}

// roiTask holds the arguments of RoIAlign's and RoIAlignBackward's
// parallel loops.
type roiTask struct {
	p      RoIAlignParams
	levels [MaxRoILevels]RoILevel
	nl     int
	rois   []RoI
	y      []float32 // forward output, or the output gradient
}

var roiTasks ArgPool[roiTask]

func (t *roiTask) RunRange(lo, hi int) {
	p := &t.p
	c, oh, ow := p.C, p.OH, p.OW
	var ty, tx roiTaps
	for row := lo; row < hi; row++ {
		roi := &t.rois[row/oh]
		i := row % oh
		lv := &t.levels[roi.Level]
		ny := p.taps(roi.Box.Y1, roi.Box.Y2, lv.Stride, lv.H, oh, i, &ty)
		img := lv.Data[roi.Batch*lv.H*lv.W*c : (roi.Batch+1)*lv.H*lv.W*c]
		out := t.y[row*ow*c : (row+1)*ow*c]
		for j := range ow {
			nx := p.taps(roi.Box.X1, roi.Box.X2, lv.Stride, lv.W, ow, j, &tx)
			dst := out[j*c : j*c+c]
			clear(dst)
			for _, a := range ty[:ny] {
				if a.w == 0 {
					continue
				}
				base := int(a.i) * lv.W * c
				for _, b := range tx[:nx] {
					w := a.w * b.w
					if w == 0 {
						continue
					}
					src := img[base+int(b.i)*c : base+int(b.i)*c+c]
					src = src[:len(dst)]
					for k := range dst {
						dst[k] += w * src[k]
					}
				}
			}
		}
	}
}

// RoIAlignBackward adds the gradient of RoIAlign to the levels' gradients:
// every element of dy [R, OH, OW, C] is scattered to the pixels its bin
// sampled, with the same bilinear weights,
//
//	dlevel[r.Level][r.Batch, ty, tx, c] += wy·wx · dy[r, i, j, c]
//
// levels[l].Data holds level l's gradient [N, H, W, C], which is added to
// (zero it first for a fresh gradient); a level with nil Data needs no
// gradient and is skipped. It runs in parallel over blocks of channels, so
// every gradient element sums its terms in region order whatever the
// thread count.
func (e *Exec) RoIAlignBackward(p RoIAlignParams, levels []RoILevel, rois []RoI, dy []float32) {
	roiCheck(&p, levels, rois, len(dy), true)
	t := roiTasks.Get()
	t.p, t.rois, t.y, t.nl = p, rois, dy, len(levels)
	copy(t.levels[:], levels)
	r := p.ratio()
	blocks := (p.C + roiBlock - 1) / roiBlock
	e.Parallel(blocks, len(rois)*p.OH*p.OW*4*r*r*p.C, (*roiBackwardTask)(t))
	roiTasks.Put(t)
}

// roiBackwardTask is roiTask running the backward loop.
type roiBackwardTask roiTask

func (t *roiBackwardTask) RunRange(lo, hi int) {
	p := &t.p
	c, oh, ow := p.C, p.OH, p.OW
	c0, c1 := lo*roiBlock, min(hi*roiBlock, c)
	var ty, tx roiTaps
	for r := range t.rois {
		roi := &t.rois[r]
		lv := &t.levels[roi.Level]
		if lv.Data == nil {
			continue
		}
		img := lv.Data[roi.Batch*lv.H*lv.W*c : (roi.Batch+1)*lv.H*lv.W*c]
		for i := range oh {
			ny := p.taps(roi.Box.Y1, roi.Box.Y2, lv.Stride, lv.H, oh, i, &ty)
			grow := t.y[(r*oh+i)*ow*c : (r*oh+i+1)*ow*c]
			for j := range ow {
				nx := p.taps(roi.Box.X1, roi.Box.X2, lv.Stride, lv.W, ow, j, &tx)
				g := grow[j*c+c0 : j*c+c1]
				for _, a := range ty[:ny] {
					if a.w == 0 {
						continue
					}
					base := int(a.i) * lv.W * c
					for _, b := range tx[:nx] {
						w := a.w * b.w
						if w == 0 {
							continue
						}
						off := base + int(b.i)*c
						dst := img[off+c0 : off+c1]
						dst = dst[:len(g)]
						for k := range dst {
							dst[k] += w * g[k]
						}
					}
				}
			}
		}
	}
}

// RoIAlign is Default().RoIAlign.
func RoIAlign(p RoIAlignParams, levels []RoILevel, rois []RoI, y []float32) {
	Default().RoIAlign(p, levels, rois, y)
}

// RoIAlignBackward is Default().RoIAlignBackward.
func RoIAlignBackward(p RoIAlignParams, levels []RoILevel, rois []RoI, dy []float32) {
	Default().RoIAlignBackward(p, levels, rois, dy)
}
