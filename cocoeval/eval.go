package cocoeval

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// eps is np.spacing(1), added to the precision denominator.
const eps = 2.220446049250313e-16

// Result holds what COCOeval's accumulate and summarize produce.
type Result struct {
	// Params are the parameters used, normalized (sorted ids and maxDets).
	Params Params
	// Stats are the 12 numbers of summarize(), in its order: AP, AP50,
	// AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (see StatNames);
	// -1 where no ground truth qualifies.
	Stats [12]float64
	// Precision is COCOeval.eval["precision"], shape [T][R][K][A][M]
	// (IoU thresholds, recall thresholds, categories, area ranges, maxDets)
	// flattened in row-major order; -1 where a category has no ground truth
	// in that area range. Scores has the same shape and holds the score of
	// the detection each precision value was read at.
	Precision, Scores []float64
	// Recall is COCOeval.eval["recall"], shape [T][K][A][M], -1 likewise.
	Recall []float64
	// Categories gives per-category AP, in Params.CatIDs order (one entry,
	// ID -1, when UseCats is false).
	Categories []CategoryAP

	lines []string
}

// CategoryAP is one category's AP: precision averaged over the IoU
// thresholds 0.50:0.95 and the recall points, at area "all" and maxDets 100,
// the way summarize computes stats[0] but for one category. AP is -1 when the
// category has no (non-crowd) ground truth, so that no precision exists.
type CategoryAP struct {
	// ID is the Category.ID (-1 when Params.UseCats is false).
	ID int64
	// Name is the category's name in the ground truth, "" when it has no
	// such category.
	Name string
	// AP is the average precision in [0, 1]; -1 as above, and also when
	// Params has no area range labelled "all" or no maxDets of 100.
	AP float64
}

// StatNames are the keys of Result.Stats, in order, as detectron-style
// tools and this repository's golden files name them.
var StatNames = [12]string{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"}

// AP is the mean average precision over IoU 0.50:0.95 (Stats[0]).
func (r *Result) AP() float64 { return r.Stats[0] }

// AP50 is the average precision at IoU 0.50 (Stats[1]).
func (r *Result) AP50() float64 { return r.Stats[1] }

// AP75 is the average precision at IoU 0.75 (Stats[2]).
func (r *Result) AP75() float64 { return r.Stats[2] }

// APSmall is AP for objects of area below 32² (Stats[3]).
func (r *Result) APSmall() float64 { return r.Stats[3] }

// APMedium is AP for objects of area 32² to 96² (Stats[4]).
func (r *Result) APMedium() float64 { return r.Stats[4] }

// APLarge is AP for objects of area above 96² (Stats[5]).
func (r *Result) APLarge() float64 { return r.Stats[5] }

// AR1 is the average recall with 1 detection per image (Stats[6]).
func (r *Result) AR1() float64 { return r.Stats[6] }

// AR10 is the average recall with 10 detections per image (Stats[7]).
func (r *Result) AR10() float64 { return r.Stats[7] }

// AR100 is the average recall with 100 detections per image (Stats[8]).
func (r *Result) AR100() float64 { return r.Stats[8] }

// ARSmall is AR100 for small objects (Stats[9]).
func (r *Result) ARSmall() float64 { return r.Stats[9] }

// ARMedium is AR100 for medium objects (Stats[10]).
func (r *Result) ARMedium() float64 { return r.Stats[10] }

// ARLarge is AR100 for large objects (Stats[11]).
func (r *Result) ARLarge() float64 { return r.Stats[11] }

// Summary returns the 12 lines COCOeval.summarize prints, each ending in a
// newline, e.g.
//
//	Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.632
func (r *Result) Summary() string { return strings.Join(r.lines, "") }

// object is a ground-truth annotation or a detection prepared for
// evaluation (COCOeval._gts / _dts entries).
type object struct {
	id    float64 // annotation id; detections are numbered from 1 as loadRes does
	area  float64
	crowd bool
	score float64
	box   [4]float64
	rle   RLE
}

type imgCat struct{ img, cat int64 }

// evalImg is one result of COCOeval.evaluateImg.
type evalImg struct {
	dtScores []float64
	dtMatch  [][]float64 // [T][D]: id of the matched ground truth, 0 if none
	dtIgnore [][]bool    // [T][D]
	gtIgnore []bool
}

// Evaluate runs COCOeval with pycocotools' default parameters: evaluate,
// accumulate and summarize. iouType is "bbox" or "segm". Detections are
// prepared as COCO.loadRes does: when the first one has a bbox, every one
// needs one and its area is w*h (a missing segmentation becomes the box's
// polygon); otherwise every segmentation must be an RLE, whose area and box
// (when none is given) come from the mask. Unlike loadRes, an empty dets is
// allowed and scores 0 wherever there is ground truth.
func Evaluate(gt *Dataset, dets []Detection, iouType string) (*Result, error) {
	return EvaluateParams(gt, dets, NewParams(gt, iouType))
}

// EvaluateParams is Evaluate with explicit parameters.
func EvaluateParams(gt *Dataset, dets []Detection, p Params) (*Result, error) {
	if gt == nil {
		return nil, errors.New("cocoeval: no ground truth")
	}
	p, err := p.normalized()
	if err != nil {
		return nil, err
	}
	if err := checkImages(gt, dets); err != nil {
		return nil, fmt.Errorf("cocoeval: %w", err)
	}
	gts, dts, err := prepare(gt, dets, p)
	if err != nil {
		return nil, err
	}
	catIDs := p.CatIDs
	if !p.UseCats {
		catIDs = []int64{-1}
	}
	A, I := len(p.AreaRng), len(p.ImgIDs)
	maxDet := p.MaxDets[len(p.MaxDets)-1]

	// evaluate: IoUs per image and category, then evaluateImg per
	// category, area range and image (evalImgs[(k*A+a)*I+i]).
	evalImgs := make([]*evalImg, len(catIDs)*A*I)
	for i, img := range p.ImgIDs {
		for k, cat := range catIDs {
			var g, d []*object
			if p.UseCats {
				g, d = gts[imgCat{img, cat}], dts[imgCat{img, cat}]
			} else {
				for _, c := range p.CatIDs {
					g = append(g, gts[imgCat{img, c}]...)
					d = append(d, dts[imgCat{img, c}]...)
				}
			}
			if len(g) == 0 && len(d) == 0 {
				continue
			}
			d = sortByScore(d)
			if len(d) > maxDet {
				d = d[:maxDet]
			}
			ious := computeIoU(g, d, p.IoUType)
			for a, rng := range p.AreaRng {
				evalImgs[(k*A+a)*I+i] = evaluateImg(g, d, ious, rng, p.IoUThrs)
			}
		}
	}

	res := &Result{Params: p}
	accumulate(res, evalImgs, len(catIDs))
	res.summarize()
	for k, id := range catIDs {
		c := CategoryAP{ID: id, AP: res.categoryAP(k)}
		if cat, ok := gt.Category(id); ok {
			c.Name = cat.Name
		}
		res.Categories = append(res.Categories, c)
	}
	return res, nil
}

// prepare builds COCOeval._gts and _dts: the selected ground truth and
// detections grouped by image and category in file order, with masks
// rasterized for segm.
func prepare(gt *Dataset, dets []Detection, p Params) (gts, dts map[imgCat][]*object, err error) {
	gt.index()
	imgs := make(map[int64]bool, len(p.ImgIDs))
	for _, id := range p.ImgIDs {
		imgs[id] = true
	}
	cats := make(map[int64]bool, len(p.CatIDs))
	for _, id := range p.CatIDs {
		cats[id] = true
	}
	selected := func(img, cat int64) bool { return imgs[img] && (!p.UseCats || cats[cat]) }
	segm := p.IoUType == IoUSegm

	// Ground truth. pycocotools looks annotations up by id, so of several
	// sharing an id the last one stands for all of them.
	last := make(map[int64]int, len(gt.Annotations))
	for i, a := range gt.Annotations {
		last[a.ID] = i
	}
	made := make(map[int]*object)
	gts = make(map[imgCat][]*object)
	for i := range gt.Annotations {
		if a := &gt.Annotations[i]; !selected(a.ImageID, a.CategoryID) {
			continue
		}
		j := last[gt.Annotations[i].ID]
		a := &gt.Annotations[j]
		o := made[j]
		if o == nil {
			o = &object{id: float64(a.ID), area: a.Area, crowd: a.IsCrowd, box: a.BBox}
			if !segm && !a.HasBBox {
				return nil, nil, fmt.Errorf("cocoeval: annotation %d (id %d) has no bbox", j, a.ID)
			}
			if segm {
				if o.rle, err = toRLE(gt, a.ImageID, a.Segmentation); err != nil {
					return nil, nil, fmt.Errorf("cocoeval: annotation %d (id %d): %w", j, a.ID, err)
				}
			}
			made[j] = o
		}
		k := imgCat{a.ImageID, a.CategoryID}
		gts[k] = append(gts[k], o)
	}

	// Detections, as loadRes prepares them.
	dts = make(map[imgCat][]*object)
	boxResults := len(dets) > 0 && dets[0].HasBBox
	for i := range dets {
		d := &dets[i]
		if !selected(d.ImageID, d.CategoryID) {
			continue
		}
		o := &object{id: float64(i + 1), score: d.Score, box: d.BBox}
		seg := d.Segmentation
		if boxResults {
			if !d.HasBBox {
				return nil, nil, fmt.Errorf("cocoeval: detection %d has no bbox (the first detection has one, so all need one)", i)
			}
			o.area = float64(d.BBox[2] * d.BBox[3])
			if seg == nil {
				x1, x2, y1, y2 := d.BBox[0], d.BBox[0]+d.BBox[2], d.BBox[1], d.BBox[1]+d.BBox[3]
				seg = &Segmentation{Polygons: [][]float64{{x1, y1, x1, y2, x2, y2, x2, y1}}}
			}
		} else {
			if seg == nil || seg.RLE == nil {
				return nil, nil, fmt.Errorf("cocoeval: detection %d: segmentation results must be RLE (the first detection has no bbox)", i)
			}
			o.area = float64(seg.RLE.Area())
			if !d.HasBBox {
				o.box = seg.RLE.ToBbox()
			}
		}
		if segm {
			var err error
			if o.rle, err = toRLE(gt, d.ImageID, seg); err != nil {
				return nil, nil, fmt.Errorf("cocoeval: detection %d: %w", i, err)
			}
		}
		k := imgCat{d.ImageID, d.CategoryID}
		dts[k] = append(dts[k], o)
	}
	return gts, dts, nil
}

// toRLE is COCO.annToRLE: polygons are rasterized at the image's size and
// merged; an RLE is used as is, at its own size.
func toRLE(gt *Dataset, imgID int64, s *Segmentation) (RLE, error) {
	if s == nil {
		return RLE{}, errors.New("no segmentation")
	}
	if s.RLE != nil {
		return *s.RLE, nil
	}
	im, ok := gt.Image(imgID)
	if !ok {
		return RLE{}, fmt.Errorf("image %d is not in the ground truth", imgID)
	}
	return s.ToRLE(im.Height, im.Width)
}

// ToRLE is the segmentation as one RLE, as COCO.annToRLE makes it for an
// h×w image: polygons rasterized at that size (FrPoly) and merged; an RLE
// as it is, at its own size.
func (s *Segmentation) ToRLE(h, w int) (RLE, error) {
	if s.RLE != nil {
		return *s.RLE, nil
	}
	// frPyObjects takes a first polygon of 4 numbers for a box list and
	// fails on it, and cannot handle a first polygon shorter than that.
	if len(s.Polygons) == 0 || len(s.Polygons[0]) <= 4 {
		return RLE{}, errors.New("polygon segmentation needs a first polygon of more than 4 coordinates")
	}
	rles := make([]RLE, len(s.Polygons))
	for i, poly := range s.Polygons {
		r, err := FrPoly(poly, h, w)
		if err != nil {
			return RLE{}, fmt.Errorf("polygon %d: %w", i, err)
		}
		rles[i] = r
	}
	return Merge(rles, false), nil
}

// sortByScore returns d sorted by descending score, ties in input order
// (np.argsort of -score with kind="mergesort").
func sortByScore(d []*object) []*object {
	s := slices.Clone(d)
	slices.SortStableFunc(s, func(a, b *object) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	return s
}

// computeIoU is COCOeval.computeIoU on score-sorted, capped detections:
// ious[d][g] with g in input order, nil when either side is empty.
func computeIoU(g, d []*object, iouType string) [][]float64 {
	if len(g) == 0 || len(d) == 0 {
		return nil
	}
	crowd := make([]bool, len(g))
	for i, o := range g {
		crowd[i] = o.crowd
	}
	if iouType == IoUSegm {
		gr := make([]RLE, len(g))
		for i, o := range g {
			gr[i] = o.rle
		}
		dr := make([]RLE, len(d))
		for i, o := range d {
			dr[i] = o.rle
		}
		return MaskIoU(dr, gr, crowd)
	}
	gb := make([][4]float64, len(g))
	for i, o := range g {
		gb[i] = o.box
	}
	db := make([][4]float64, len(d))
	for i, o := range d {
		db[i] = o.box
	}
	return BoxIoU(db, gb, crowd)
}

// evaluateImg is COCOeval.evaluateImg for one image, category and area
// range: greedy matching of the score-sorted detections d to the ground
// truth g at each IoU threshold.
func evaluateImg(g, d []*object, ious [][]float64, rng [2]float64, iouThrs []float64) *evalImg {
	// Ground truth ignored (crowd or outside the area range) goes last.
	ig := func(o *object) bool { return o.crowd || o.area < rng[0] || o.area > rng[1] }
	gtind := make([]int, 0, len(g))
	for pass := 0; pass < 2; pass++ {
		for i, o := range g {
			if ig(o) == (pass == 1) {
				gtind = append(gtind, i)
			}
		}
	}
	G, D, T := len(g), len(d), len(iouThrs)
	gtIg := make([]bool, G)
	for j, i := range gtind {
		gtIg[j] = ig(g[i])
	}
	e := &evalImg{dtScores: make([]float64, D), gtIgnore: gtIg,
		dtMatch: make([][]float64, T), dtIgnore: make([][]bool, T)}
	for j, o := range d {
		e.dtScores[j] = o.score
	}
	gtm := make([]float64, G)
	for t, thr := range iouThrs {
		dtm := make([]float64, D)
		dtIg := make([]bool, D)
		clear(gtm)
		if ious != nil {
			for di, dt := range d {
				iou := min(thr, 1-1e-10)
				m := -1
				for gj, gi := range gtind {
					// Already matched and not a crowd: skip.
					if gtm[gj] > 0 && !g[gi].crowd {
						continue
					}
					// Matched to regular ground truth and reached ignored: stop.
					if m > -1 && !gtIg[m] && gtIg[gj] {
						break
					}
					if ious[di][gi] < iou {
						continue
					}
					iou = ious[di][gi]
					m = gj
				}
				if m == -1 {
					continue
				}
				dtIg[di] = gtIg[m]
				dtm[di] = g[gtind[m]].id
				gtm[m] = dt.id
			}
		}
		// Unmatched detections outside the area range are ignored.
		for di, dt := range d {
			if dtm[di] == 0 && (dt.area < rng[0] || dt.area > rng[1]) {
				dtIg[di] = true
			}
		}
		e.dtMatch[t], e.dtIgnore[t] = dtm, dtIg
	}
	return e
}

// accumulate is COCOeval.accumulate: for every category, area range and
// maxDets, the precision/recall curve over all images, sampled at RecThrs
// from the right-to-left maximum of precision.
func accumulate(res *Result, evalImgs []*evalImg, K int) {
	p := res.Params
	T, R, A, M, I := len(p.IoUThrs), len(p.RecThrs), len(p.AreaRng), len(p.MaxDets), len(p.ImgIDs)
	res.Precision = filled(T*R*K*A*M, -1)
	res.Scores = filled(T*R*K*A*M, -1)
	res.Recall = filled(T*K*A*M, -1)
	type ref struct {
		e *evalImg
		j int
	}
	var refs []ref
	var scores []float64
	var rc, pr []float64
	for k := 0; k < K; k++ {
		for a := 0; a < A; a++ {
			for m, maxDet := range p.MaxDets {
				refs, scores = refs[:0], scores[:0]
				npig, any := 0, false
				for i := 0; i < I; i++ {
					e := evalImgs[(k*A+a)*I+i]
					if e == nil {
						continue
					}
					any = true
					for j := 0; j < min(maxDet, len(e.dtScores)); j++ {
						refs = append(refs, ref{e, j})
					}
					for _, g := range e.gtIgnore {
						if !g {
							npig++
						}
					}
				}
				if !any || npig == 0 {
					continue
				}
				// Stable sort by descending score (np.argsort(-s, kind="mergesort")).
				sort.SliceStable(refs, func(x, y int) bool {
					return refs[x].e.dtScores[refs[x].j] > refs[y].e.dtScores[refs[y].j]
				})
				nd := len(refs)
				for _, r := range refs {
					scores = append(scores, r.e.dtScores[r.j])
				}
				rc, pr = grow(rc, nd), grow(pr, nd)
				for t := 0; t < T; t++ {
					var tp, fp float64
					for x, r := range refs {
						if !r.e.dtIgnore[t][r.j] {
							if r.e.dtMatch[t][r.j] != 0 {
								tp++
							} else {
								fp++
							}
						}
						rc[x] = tp / float64(npig)
						pr[x] = tp / (fp + tp + eps)
					}
					ri := ((t*K+k)*A+a)*M + m
					res.Recall[ri] = 0
					if nd > 0 {
						res.Recall[ri] = rc[nd-1]
					}
					for x := nd - 1; x > 0; x-- {
						if pr[x] > pr[x-1] {
							pr[x-1] = pr[x]
						}
					}
					for r, thr := range p.RecThrs {
						q, ss := 0., 0.
						if x := sort.SearchFloat64s(rc[:nd], thr); x < nd {
							q, ss = pr[x], scores[x]
						}
						pi := (((t*R+r)*K+k)*A+a)*M + m
						res.Precision[pi], res.Scores[pi] = q, ss
					}
				}
			}
		}
	}
}

// summarize computes the 12 stats and their printed lines.
func (r *Result) summarize() {
	p := r.Params
	md := func(i int) int {
		if i < len(p.MaxDets) {
			return p.MaxDets[i]
		}
		return -1 // pycocotools would fail; no setting matches
	}
	type spec struct {
		ap      bool
		iouThr  float64 // 0: all thresholds
		area    string
		maxDets int
	}
	specs := [12]spec{
		{true, 0, "all", 100},
		{true, .5, "all", md(2)},
		{true, .75, "all", md(2)},
		{true, 0, "small", md(2)},
		{true, 0, "medium", md(2)},
		{true, 0, "large", md(2)},
		{false, 0, "all", md(0)},
		{false, 0, "all", md(1)},
		{false, 0, "all", md(2)},
		{false, 0, "small", md(2)},
		{false, 0, "medium", md(2)},
		{false, 0, "large", md(2)},
	}
	r.lines = r.lines[:0]
	for i, s := range specs {
		r.Stats[i] = r.summarizeOne(s.ap, s.iouThr, s.area, s.maxDets)
		title, typ := "Average Precision", "(AP)"
		if !s.ap {
			title, typ = "Average Recall", "(AR)"
		}
		iouStr := fmt.Sprintf("%0.2f:%0.2f", p.IoUThrs[0], p.IoUThrs[len(p.IoUThrs)-1])
		if s.iouThr != 0 {
			iouStr = fmt.Sprintf("%0.2f", s.iouThr)
		}
		r.lines = append(r.lines, fmt.Sprintf(" %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
			title, typ, iouStr, s.area, s.maxDets, r.Stats[i]))
	}
}

// summarizeOne is summarize's _summarize: the mean of the precision (ap) or
// recall values above -1 at the given IoU threshold (0: all), area label
// and maxDets, over the remaining axes.
func (r *Result) summarizeOne(ap bool, iouThr float64, area string, maxDets int) float64 {
	p := r.Params
	R, K, A, M := len(p.RecThrs), r.numCats(), len(p.AreaRng), len(p.MaxDets)
	var s []float64
	for t, thr := range p.IoUThrs {
		if iouThr != 0 && thr != iouThr {
			continue
		}
		for a, lbl := range p.AreaRngLbl {
			if lbl != area {
				continue
			}
			for m, md := range p.MaxDets {
				if md != maxDets {
					continue
				}
				if ap {
					for rr := 0; rr < R; rr++ {
						for k := 0; k < K; k++ {
							s = append(s, r.Precision[(((t*R+rr)*K+k)*A+a)*M+m])
						}
					}
				} else {
					for k := 0; k < K; k++ {
						s = append(s, r.Recall[((t*K+k)*A+a)*M+m])
					}
				}
			}
		}
	}
	return meanValid(s)
}

// categoryAP is the AP of the k-th category: precision at every IoU
// threshold and recall point, area "all", maxDets 100, averaged over the
// values above -1 (-1 if none).
func (r *Result) categoryAP(k int) float64 {
	p := r.Params
	T, R, K, A, M := len(p.IoUThrs), len(p.RecThrs), r.numCats(), len(p.AreaRng), len(p.MaxDets)
	a, m := slices.Index(p.AreaRngLbl, "all"), slices.Index(p.MaxDets, 100)
	if a < 0 || m < 0 {
		return -1
	}
	s := make([]float64, 0, T*R)
	for t := 0; t < T; t++ {
		for rr := 0; rr < R; rr++ {
			s = append(s, r.Precision[(((t*R+rr)*K+k)*A+a)*M+m])
		}
	}
	return meanValid(s)
}

// numCats is K, the category axis of Precision and Recall.
func (r *Result) numCats() int {
	p := r.Params
	return len(r.Recall) / (len(p.IoUThrs) * len(p.AreaRng) * len(p.MaxDets))
}

func filled(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
