package recipe

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/spinenet-go/spinenet/maskrcnn"
	"github.com/spinenet-go/spinenet/train"
)

// A tiny Mask R-CNN trains on synthetic shapes end to end: the loss parts
// are logged, the evaluation reports box and mask AP, and the weights load
// back as a detector.
func TestTinyInstanceSegmentation(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a Mask R-CNN for 8 steps (about a minute); runs in the full test pass")
	}
	c, err := Load("testdata/shapes-maskrcnn-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Train.Output = t.TempDir()
	sum, err := TrainInstanceSegmentation(context.Background(), c, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := sum.Eval.Map()
	for _, k := range []string{"AP", "AP50", "mask_AP", "mask_AP50"} {
		if v, ok := got[k]; !ok || v < -1 || v > 1 {
			t.Errorf("eval %s = %v (%v)", k, v, ok)
		}
	}
	recs, err := train.ReadRecords(filepath.Join(c.Train.Output, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := recs[0].Values["mask"]; !ok {
		t.Errorf("first record lacks the mask loss: %+v", recs[0])
	}
	d, err := maskrcnn.LoadDetector(filepath.Join(c.Train.Output, train.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Classes) != 2 || d.InputSize != 64 || d.Model.Config.NumClasses != 3 {
		t.Errorf("detector classes %v, size %d, config %+v", d.Classes, d.InputSize, d.Model.Config)
	}
}
