package cocoeval

import (
	"math"
	"strings"
	"testing"
)

const tinyGT = `{"images": [{"id": 1, "width": 100, "height": 80}],
 "categories": [{"id": 7, "name": "thing"}, {"id": 8, "name": "other"}],
 "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0,
   "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]}]}`

func TestLoaderErrors(t *testing.T) {
	for _, c := range []struct{ gt, want string }{
		{`{"images": [], "annotations": [{"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3], "area": 1}]}`,
			"gt.json: annotation 0: id 3: bbox has 3 values"},
		{`{"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}]}`,
			"gt.json: annotation 0: id 1: missing field area"},
		{`{"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 1, "segmentation": {"size": [2], "counts": "0"}}]}`,
			"annotation 0: id 1: segmentation: RLE size has 1 values"},
		{`{"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 1, "segmentation": {"size": [2, 2], "counts": "!!"}}]}`,
			"invalid character"},
		{`{"images": [{"id": "x"}]}`, "gt.json: image 0:"},
		{`[1, 2]`, "gt.json:"},
	} {
		_, err := ReadDataset(strings.NewReader(c.gt), "gt.json")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.gt, err, c.want)
		}
	}
	gt, err := ReadDataset(strings.NewReader(tinyGT), "gt.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dets, want string }{
		{`[{"image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4], "score": 0.5},
		   {"image_id": 2, "category_id": 7, "bbox": [1, 2, 3, 4], "score": 0.5}]`,
			"dets.json: detection 1: image_id 2 is not in the ground truth"},
		{`[{"image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4, 5], "score": 0.5}]`,
			"dets.json: detection 0: bbox has 5 values, want 4"},
		{`[{"image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4]}]`, "detection 0: missing field score"},
		{`[{"image_id": 1, "category_id": 7, "score": 1}]`, "detection 0: neither bbox nor segmentation"},
		{`{"image_id": 1}`, "dets.json: results must be a JSON array"},
	} {
		_, err := ReadDetections(strings.NewReader(c.dets), "dets.json", gt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.dets, err, c.want)
		}
	}
}

func TestEvaluateErrors(t *testing.T) {
	gt, err := ReadDataset(strings.NewReader(tinyGT), "gt.json")
	if err != nil {
		t.Fatal(err)
	}
	box := Detection{ImageID: 1, CategoryID: 7, BBox: [4]float64{10, 10, 20, 20}, HasBBox: true, Score: 1}
	if _, err := Evaluate(gt, []Detection{box}, "keypoints"); err == nil || !strings.Contains(err.Error(), "keypoints") {
		t.Errorf("iou type: %v", err)
	}
	bad := box
	bad.ImageID = 5
	if _, err := Evaluate(gt, []Detection{box, bad}, IoUBBox); err == nil || !strings.Contains(err.Error(), "detection 1: image_id 5") {
		t.Errorf("unknown image: %v", err)
	}
	noBox := Detection{ImageID: 1, CategoryID: 7, Score: 1, Segmentation: &Segmentation{Polygons: [][]float64{{1, 1, 5, 1, 5, 5}}}}
	if _, err := Evaluate(gt, []Detection{box, noBox}, IoUBBox); err == nil || !strings.Contains(err.Error(), "detection 1 has no bbox") {
		t.Errorf("missing bbox: %v", err)
	}
	if _, err := Evaluate(gt, []Detection{noBox}, IoUSegm); err == nil || !strings.Contains(err.Error(), "must be RLE") {
		t.Errorf("polygon results: %v", err)
	}
}

func TestEvaluateSimple(t *testing.T) {
	gt, err := ReadDataset(strings.NewReader(tinyGT), "gt.json")
	if err != nil {
		t.Fatal(err)
	}
	// A perfect detection, a duplicate (false positive, lower score) and a
	// detection of a category without ground truth.
	dets := []Detection{
		{ImageID: 1, CategoryID: 7, BBox: [4]float64{10, 10, 20, 20}, HasBBox: true, Score: .9},
		{ImageID: 1, CategoryID: 7, BBox: [4]float64{10, 10, 20, 20}, HasBBox: true, Score: .5},
		{ImageID: 1, CategoryID: 8, BBox: [4]float64{50, 50, 5, 5}, HasBBox: true, Score: .7},
	}
	for _, typ := range []string{IoUBBox, IoUSegm} {
		res, err := Evaluate(gt, dets, typ)
		if err != nil {
			t.Fatal(err)
		}
		// Precision is tp/(tp+fp+eps), so a perfect AP is 1-2e-16.
		want := [12]float64{1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1}
		if !near(res.Stats[:], want[:]) {
			t.Errorf("%s: stats %v, want %v", typ, res.Stats, want)
		}
		if len(res.Categories) != 2 || !near([]float64{res.Categories[0].AP}, []float64{1}) || res.Categories[0].Name != "thing" ||
			res.Categories[1].AP != -1 {
			t.Errorf("%s: per category %+v", typ, res.Categories)
		}
		if lines := strings.Split(strings.TrimSuffix(res.Summary(), "\n"), "\n"); len(lines) != 12 ||
			lines[0] != " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000" ||
			lines[4] != " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000" ||
			lines[6] != " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 1.000" {
			t.Errorf("%s: summary\n%s", typ, res.Summary())
		}
	}
	// No detections at all score 0 where there is ground truth.
	res, err := Evaluate(gt, nil, IoUBBox)
	if err != nil {
		t.Fatal(err)
	}
	if res.AP() != 0 || res.AR100() != 0 || res.APMedium() != -1 {
		t.Errorf("no detections: %v", res.Stats)
	}
	// A crowd region absorbs detections without counting them wrong.
	gt.Annotations = append(gt.Annotations, Annotation{ID: 2, ImageID: 1, CategoryID: 7, BBox: [4]float64{50, 40, 40, 30},
		HasBBox: true, Area: 1200, IsCrowd: true})
	dets = append(dets, Detection{ImageID: 1, CategoryID: 7, BBox: [4]float64{55, 45, 10, 10}, HasBBox: true, Score: .95})
	res, err = Evaluate(gt, dets, IoUBBox)
	if err != nil {
		t.Fatal(err)
	}
	// The crowd-matched detection is ignored, but it still takes the one
	// slot of maxDets=1, so AR1 drops to 0, as in pycocotools.
	want := [12]float64{1, 1, 1, 1, -1, -1, 0, 1, 1, 1, -1, -1}
	if !near(res.Stats[:], want[:]) {
		t.Errorf("crowd: %v, want %v", res.Stats, want)
	}
}

func near(a, b []float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-12 {
			return false
		}
	}
	return len(a) == len(b)
}

func TestEvaluatePooledCategories(t *testing.T) {
	gt, err := ReadDataset(strings.NewReader(tinyGT), "gt.json")
	if err != nil {
		t.Fatal(err)
	}
	// With UseCats false a detection labelled with the wrong category still
	// matches.
	dets := []Detection{{ImageID: 1, CategoryID: 8, BBox: [4]float64{10, 10, 20, 20}, HasBBox: true, Score: .9}}
	p := NewParams(gt, IoUBBox)
	p.UseCats = false
	res, err := EvaluateParams(gt, dets, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Categories) != 1 || res.Categories[0].ID != -1 || !near([]float64{res.AP(), res.AR1()}, []float64{1, 1}) {
		t.Errorf("pooled: %v %+v", res.Stats, res.Categories)
	}
	res, err = Evaluate(gt, dets, IoUBBox)
	if err != nil {
		t.Fatal(err)
	}
	if res.AP() != 0 {
		t.Errorf("per category: AP %v, want 0", res.AP())
	}
}
