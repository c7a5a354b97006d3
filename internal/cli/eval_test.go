package cli

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// tinyGolden is pycocotools' tiny golden, kept in the repository.
const tinyGolden = "../../cocoeval/testdata/cocoeval-tiny/"

func TestEvalJSONTiny(t *testing.T) {
	b, err := os.ReadFile(tinyGolden + "expected_stats.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]json.RawMessage
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"bbox", "segm"} {
		out, errs, code := run(t, "eval", "--gt", tinyGolden+"gt.json", "--detections", tinyGolden+"detections.json",
			"--iou-type", typ, "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", typ, code, errs)
		}
		var got map[string]map[string]float64
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: %v\n%s", typ, err, out)
		}
		var w map[string]float64
		if err := json.Unmarshal(want[typ], &w); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(got[typ]) != len(w) || len(w) != 12 {
			t.Fatalf("%s: got keys %v, want the 12 of expected_stats.json", typ, got)
		}
		for k, v := range w {
			g, ok := got[typ][k]
			if !ok || math.Abs(g-v) > 1e-4 {
				t.Errorf("%s %s = %v, want %v", typ, k, g, v)
			}
		}
		// Keys come in summarize's order.
		if !strings.HasPrefix(out, `{"`+typ+`":{"AP":`) || !strings.Contains(out, `"ARm":`) {
			t.Errorf("%s: %s", typ, out)
		}
	}
}

func TestEvalText(t *testing.T) {
	out, errs, code := run(t, "eval", "--gt", tinyGolden+"gt.json", "--detections", tinyGolden+"detections.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 16 || lines[0] != " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.632" ||
		!strings.HasPrefix(lines[11], " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = ") ||
		!strings.Contains(out, "circle") || !strings.Contains(out, "square") {
		t.Errorf("output:\n%s", out)
	}
}

func TestEvalErrors(t *testing.T) {
	for _, args := range [][]string{{"eval"}, {"eval", "--gt", "x.json"}, {"eval", "--gt", "a", "--detections", "b", "--iou-type", "keypoints"}} {
		if _, _, code := run(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
	if _, errs, code := run(t, "eval", "--gt", "/nonexistent/gt.json", "--detections", "d.json"); code != ExitFailure ||
		!strings.Contains(errs, "/nonexistent/gt.json") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(tinyGolden + "gt.json"); err != nil {
		return
	}
	dir := t.TempDir()
	bad := dir + "/dets.json"
	if err := os.WriteFile(bad, []byte(`[{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := run(t, "eval", "--gt", tinyGolden+"gt.json", "--detections", bad); code != ExitFailure ||
		!strings.Contains(errs, "detection 0: image_id 99 is not in the ground truth") {
		t.Errorf("unknown image: exit %d, %q", code, errs)
	}
}
