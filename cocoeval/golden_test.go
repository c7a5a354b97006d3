package cocoeval

import (
	"encoding/json"
	"github.com/spinenet-go/spinenet/internal/sharedtest"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func expectedStats(t *testing.T, path string) map[string]map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, k := range []string{IoUBBox, IoUSegm} {
		if m, ok := raw[k]; ok {
			var v map[string]float64
			if err := json.Unmarshal(m, &v); err != nil {
				t.Fatal(err)
			}
			out[k] = v
		}
	}
	return out
}

// checkGolden evaluates and compares the 12 stats with want, which holds
// pycocotools' values rounded to places decimals: each must be within tol and
// round to the same digits.
func checkGolden(t *testing.T, gtPath, detPath, iouType string, want map[string]float64, places int, tol float64) *Result {
	t.Helper()
	gt, err := LoadDataset(gtPath)
	if err != nil {
		t.Fatal(err)
	}
	dets, err := LoadDetections(detPath, gt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Evaluate(gt, dets, iouType)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 12 {
		t.Fatalf("expected stats have %d keys", len(want))
	}
	worst := 0.
	for i, name := range StatNames {
		w, ok := want[name]
		if !ok {
			t.Fatalf("expected stats lack %s", name)
		}
		d := math.Abs(res.Stats[i] - w)
		worst = max(worst, d)
		if d > tol {
			t.Errorf("%s %s = %.8f, want %.6f (diff %.2g)", iouType, name, res.Stats[i], w, d)
		}
		scale := math.Pow(10, float64(places))
		if math.RoundToEven(res.Stats[i]*scale) != math.RoundToEven(w*scale) {
			t.Errorf("%s %s = %.10f does not round to %.*f", iouType, name, res.Stats[i], places, w)
		}
	}
	t.Logf("%s: max |diff| %.3g over 12 stats\n%s", iouType, worst, res.Summary())
	return res
}

func TestGoldenTiny(t *testing.T) {
	dir := "testdata/cocoeval-tiny" // copied from the shared checkout's golden/cocoeval-tiny
	want := expectedStats(t, dir+"/expected_stats.json")
	for _, typ := range []string{IoUBBox, IoUSegm} {
		checkGolden(t, dir+"/gt.json", dir+"/detections.json", typ, want[typ], 4, 1e-4)
	}
}

func TestGoldenCOCO128(t *testing.T) {
	dir := filepath.Dir(sharedtest.Path(t, "golden/cocoeval-coco128/expected_stats.json",
		"golden/cocoeval-coco128/detections_bbox.json", "golden/cocoeval-coco128/detections_segm.json"))
	gt := sharedtest.Path(t, "data/coco128/instances_train2017.json")
	want := expectedStats(t, dir+"/expected_stats.json")
	for _, typ := range []string{IoUBBox, IoUSegm} {
		res := checkGolden(t, gt, dir+"/detections_"+typ+".json", typ, want[typ], 6, 1e-6)
		// Every category with ground truth has all its precision values,
		// so the mean of the per-category APs is AP.
		var sum float64
		n := 0
		for _, c := range res.Categories {
			if c.AP > -1 {
				sum += c.AP
				n++
			}
		}
		if len(res.Categories) != 80 || math.Abs(sum/float64(n)-res.AP()) > 1e-12 {
			t.Errorf("%s: %d categories, mean per-category AP %v, AP %v", typ, len(res.Categories), sum/float64(n), res.AP())
		}
	}
}
