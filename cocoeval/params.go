package cocoeval

import (
	"fmt"
	"math"
	"slices"
)

// IoU types accepted by Evaluate.
const (
	IoUBBox = "bbox" // boxes: maskApi bbIou on [x y w h]
	IoUSegm = "segm" // masks: maskApi rleIou on RLEs rasterized at the image size
)

// Params are the evaluation parameters of pycocotools' Params class for
// detection (setDetParams). NewParams fills in the defaults.
type Params struct {
	// IoUType is IoUBBox or IoUSegm.
	IoUType string
	// ImgIDs are the images evaluated (default: all ground-truth images);
	// they are sorted and deduplicated before use, like np.unique.
	ImgIDs []int64
	// CatIDs are the categories evaluated (default: all ground-truth
	// categories), sorted and deduplicated before use.
	CatIDs []int64
	// IoUThrs are the IoU thresholds, default np.linspace(.5, .95, 10).
	IoUThrs []float64
	// RecThrs are the recall points precision is sampled at, default
	// np.linspace(0, 1, 101).
	RecThrs []float64
	// MaxDets are the caps on detections per image and category, default
	// [1 10 100]; they are sorted before use and Summary needs three.
	MaxDets []int
	// AreaRng are the [min, max] object-area ranges, both ends inclusive,
	// default all [0, 1e5²], small [0, 32²], medium [32², 96²], large
	// [96², 1e5²].
	AreaRng [][2]float64
	// AreaRngLbl names AreaRng's ranges, one label each (default "all",
	// "small", "medium", "large"). Result.Stats and CategoryAP find the
	// ranges by these labels, so other labels leave those stats at -1.
	AreaRngLbl []string
	// UseCats matches detections to ground truth of the same category only
	// (default true); false pools the categories, as for proposals.
	UseCats bool
}

// NewParams returns pycocotools' default detection parameters for iouType
// with the images and categories of gt (which may be nil).
func NewParams(gt *Dataset, iouType string) Params {
	p := Params{
		IoUType:    iouType,
		IoUThrs:    linspace(.5, 0.95, int(math.RoundToEven((0.95-.5)/.05))+1),
		RecThrs:    linspace(.0, 1.00, int(math.RoundToEven((1.00-.0)/.01))+1),
		MaxDets:    []int{1, 10, 100},
		AreaRng:    [][2]float64{{0, 1e5 * 1e5}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e5 * 1e5}},
		AreaRngLbl: []string{"all", "small", "medium", "large"},
		UseCats:    true,
	}
	if gt != nil {
		for _, im := range gt.Images {
			p.ImgIDs = append(p.ImgIDs, im.ID)
		}
		for _, c := range gt.Categories {
			p.CatIDs = append(p.CatIDs, c.ID)
		}
		slices.Sort(p.ImgIDs)
		slices.Sort(p.CatIDs)
	}
	return p
}

// normalized checks p and returns a copy prepared as COCOeval.evaluate does:
// unique sorted image and category ids, sorted maxDets.
func (p Params) normalized() (Params, error) {
	if p.IoUType != IoUBBox && p.IoUType != IoUSegm {
		return p, fmt.Errorf("cocoeval: iou type %q: want %q or %q", p.IoUType, IoUBBox, IoUSegm)
	}
	if len(p.IoUThrs) == 0 || len(p.RecThrs) == 0 || len(p.MaxDets) == 0 || len(p.AreaRng) == 0 {
		return p, fmt.Errorf("cocoeval: params need IoU thresholds, recall thresholds, max detections and area ranges")
	}
	if len(p.AreaRngLbl) != len(p.AreaRng) {
		return p, fmt.Errorf("cocoeval: %d area ranges but %d labels", len(p.AreaRng), len(p.AreaRngLbl))
	}
	q := p
	q.ImgIDs = uniqueSorted(p.ImgIDs)
	q.CatIDs = slices.Clone(p.CatIDs)
	if p.UseCats {
		q.CatIDs = uniqueSorted(p.CatIDs)
	}
	q.MaxDets = slices.Clone(p.MaxDets)
	slices.Sort(q.MaxDets)
	q.IoUThrs = slices.Clone(p.IoUThrs)
	q.RecThrs = slices.Clone(p.RecThrs)
	q.AreaRng = slices.Clone(p.AreaRng)
	q.AreaRngLbl = slices.Clone(p.AreaRngLbl)
	return q, nil
}

func uniqueSorted(ids []int64) []int64 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return slices.Compact(s)
}

// linspace is numpy.linspace(start, stop, num) with endpoint=True, value for
// value: start + i*step with step = (stop-start)/(num-1), the last value
// exactly stop.
func linspace(start, stop float64, num int) []float64 {
	y := make([]float64, num)
	if num == 0 {
		return y
	}
	if num == 1 {
		y[0] = start
		return y
	}
	div := float64(num - 1)
	delta := stop - start
	step := delta / div
	for i := range y {
		if step == 0 {
			y[i] = float64(float64(i)/div)*delta + start
		} else {
			y[i] = float64(float64(i)*step) + start
		}
	}
	y[num-1] = stop
	return y
}

// pairwiseSum is numpy's pairwise summation of float64 (the algorithm
// np.add.reduce, and so np.mean, applies to a contiguous array): blocks of up
// to 128 values summed with eight accumulators, larger arrays split in two.
func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		res := 0.
		for _, v := range a {
			res += v
		}
		return res
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range r {
				r[j] += a[i+j]
			}
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
	}
}

// meanValid is np.mean(s[s > -1]), or -1 when no value is above -1: how
// pycocotools' summarize averages precision or recall over the settings
// that had ground truth.
func meanValid(s []float64) float64 {
	v := s[:0:0]
	for _, x := range s {
		if x > -1 {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return -1
	}
	return pairwiseSum(v) / float64(len(v))
}
