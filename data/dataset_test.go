package data_test

import (
	"errors"
	"github.com/spinenet-go/spinenet/internal/sharedtest"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/data"

	"github.com/spinenet-go/spinenet/detection/box"
)

// sharedDir returns a dataset directory of the shared checkout, or skips.
func sharedDir(t testing.TB, name string) string {
	t.Helper()
	return sharedtest.Path(t, "data/"+name)
}

func loadCOCO128(t testing.TB) *data.Dataset {
	t.Helper()
	dir := sharedDir(t, "coco128")
	ds, err := data.LoadCOCO(filepath.Join(dir, "instances_train2017.json"), filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func loadRaccoon(t testing.TB) *data.Dataset {
	t.Helper()
	dir := sharedDir(t, "raccoon")
	ds, err := data.LoadVOC(filepath.Join(dir, "annotations"), filepath.Join(dir, "images"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestLoadCOCO128(t *testing.T) {
	ds := loadCOCO128(t)
	// Counts from ../shared/data/README.md.
	n, crowd := ds.NumObjects()
	if len(ds.Samples) != 128 || n != 939 || crowd != 10 || len(ds.Classes) != 80 {
		t.Fatalf("got %v, want 128 images, 939 objects, 10 crowd, 80 classes", ds)
	}
	if !slices.IsSorted(ds.CategoryIDs) || ds.CategoryIDs[0] != 1 || ds.CategoryIDs[79] != 90 {
		t.Errorf("category ids %v: want sorted 1..90", ds.CategoryIDs)
	}
	if ds.Classes[0] != "person" || ds.Classes[79] != "toothbrush" {
		t.Errorf("classes %q … %q", ds.Classes[0], ds.Classes[79])
	}
	for _, s := range ds.Samples {
		for _, o := range s.Objects {
			if ds.CategoryIDs[o.Class] != o.CategoryID {
				t.Fatalf("class %d maps to %d, object has category %d", o.Class, ds.CategoryIDs[o.Class], o.CategoryID)
			}
		}
	}
	// Image 9 (000000000009.jpg, 640×480), first annotation: bowl
	// (id 51) bbox [1.08, 187.69, 611.59, 285.84].
	s := ds.Samples[0]
	if s.ID != 9 || s.Width != 640 || s.Height != 480 || filepath.Base(s.Path) != "000000000009.jpg" {
		t.Fatalf("first sample %+v", s)
	}
	o := s.Objects[0]
	want := box.Box{X1: 1.08, Y1: 187.69, X2: 1.08 + 611.59, Y2: 187.69 + 285.84}
	if o.Box != want || o.CategoryID != 51 || ds.Classes[o.Class] != "bowl" {
		t.Errorf("first object %+v (%s), want box %v bowl", o, ds.Classes[o.Class], want)
	}
	rep, err := ds.Validate(data.ValidateConfig{Strict: true, CheckImages: true})
	if err != nil {
		t.Fatalf("coco128 validation: %v", err)
	}
	if rep.Problems() != 0 || rep.Samples != 128 || rep.Objects != 939 {
		t.Errorf("report %s", rep)
	}
}

func TestLoadRaccoon(t *testing.T) {
	ds := loadRaccoon(t)
	n, crowd := ds.NumObjects()
	if len(ds.Samples) != 200 || n != 217 || crowd != 0 || !slices.Equal(ds.Classes, []string{"raccoon"}) || !slices.Equal(ds.CategoryIDs, []int{1}) {
		t.Fatalf("got %v %v %v", ds, ds.Classes, ds.CategoryIDs)
	}
	// Natural order: raccoon-1, raccoon-2, ….
	for i, name := range []string{"raccoon-1.jpg", "raccoon-2.jpg", "raccoon-3.jpg"} {
		if got := filepath.Base(ds.Samples[i].Path); got != name || ds.Samples[i].ID != int64(i+1) {
			t.Errorf("sample %d is %s (id %d), want %s", i, got, ds.Samples[i].ID, name)
		}
	}
	// raccoon-1.xml: 650×417, xmin 81 ymin 88 xmax 522 ymax 408 (1-based inclusive).
	s := ds.Samples[0]
	if s.Width != 650 || s.Height != 417 || len(s.Objects) != 1 || s.Objects[0].Box != (box.Box{X1: 80, Y1: 87, X2: 522, Y2: 408}) {
		t.Errorf("raccoon-1: %+v", s)
	}
	rep, err := ds.Validate(data.ValidateConfig{Strict: true, CheckImages: true})
	if err != nil || rep.Problems() != 0 {
		t.Fatalf("raccoon validation: %v %s", err, rep)
	}
	train, val := data.Split(ds, 160)
	if len(train.Samples) != 160 || len(val.Samples) != 40 || filepath.Base(val.Samples[0].Path) != "raccoon-161.jpg" {
		t.Errorf("split: %d/%d, val starts with %s", len(train.Samples), len(val.Samples), val.Samples[0].Path)
	}
	tr2, va2 := data.SplitRandom(ds, 40, 7)
	tr3, va3 := data.SplitRandom(ds, 40, 7)
	if len(tr2.Samples) != 160 || len(va2.Samples) != 40 || va2.Samples[0].ID != va3.Samples[0].ID || tr2.Samples[5].ID != tr3.Samples[5].ID {
		t.Errorf("random split not deterministic or wrong size")
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCOCOErrors(t *testing.T) {
	const head = `{"images":[{"id":1,"file_name":"a.jpg","width":10,"height":10}],
		"categories":[{"id":3,"name":"car"},{"id":1,"name":"person"}],"annotations":[`
	tests := []struct {
		name, anns string
		want       []string // substrings of the error
	}{
		{"bbox length", `{"id":7,"image_id":1,"category_id":1,"bbox":[1,2,3],"area":1,"iscrowd":0}`, []string{"annotations[0]", "id 7", "bbox", "3 values"}},
		{"unknown image", `{"id":9,"image_id":2,"category_id":1,"bbox":[1,2,3,4],"area":1,"iscrowd":0}`, []string{"annotations[0]", "id 9", "image_id", "unknown image id 2"}},
		{"unknown category", `{"id":9,"image_id":1,"category_id":2,"bbox":[1,2,3,4],"area":1,"iscrowd":0}`, []string{"annotations[0]", "category_id", "unknown category id 2"}},
		{"bad json", `{"id":"x"}`, []string{"invalid JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "ann.json", head+tc.anns+`]}`)
			_, err := data.LoadCOCO(p, "img")
			if err == nil {
				t.Fatal("no error")
			}
			var ae *data.AnnotationError
			if !errors.As(err, &ae) {
				t.Errorf("%v is not an AnnotationError", err)
			}
			for _, w := range append(tc.want, p) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// A good file: sparse ids map to classes in id order.
	p := writeFile(t, t.TempDir(), "ann.json", head+`{"id":1,"image_id":1,"category_id":3,"bbox":[1,2,3,4],"area":12,"iscrowd":1}]}`)
	ds, err := data.LoadCOCO(p, "img")
	if err != nil {
		t.Fatal(err)
	}
	o := ds.Samples[0].Objects[0]
	if !slices.Equal(ds.Classes, []string{"person", "car"}) || o.Class != 1 || !o.Crowd || o.Box != (box.Box{X1: 1, Y1: 2, X2: 4, Y2: 6}) || ds.ClassOf(3) != 1 {
		t.Errorf("got %v %+v", ds.Classes, o)
	}
}

const vocTemplate = `<annotation><filename>a.jpg</filename><size><width>100</width><height>50</height><depth>3</depth></size>
<object><name>cat</name><difficult>%s</difficult><bndbox><xmin>%s</xmin><ymin>1</ymin><xmax>100</xmax><ymax>50</ymax></bndbox></object></annotation>`

func TestLoadVOCErrors(t *testing.T) {
	voc := func(difficult, xmin string) string {
		return strings.Replace(strings.Replace(vocTemplate, "%s", difficult, 1), "%s", xmin, 1)
	}
	tests := []struct {
		name, xml string
		classes   []string
		want      []string
	}{
		{"bad number", voc("0", "abc"), nil, []string{"object[0]", "bndbox/xmin", `"abc"`}},
		{"unknown class", voc("0", "1"), []string{"dog"}, []string{"object[0]", "name", `"cat"`}},
		{"bad xml", "<annotation><filename>", nil, []string{"invalid XML"}},
		{"no filename", "<annotation></annotation>", nil, []string{"filename", "missing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "b.xml", tc.xml)
			_, err := data.LoadVOC(dir, dir, tc.classes)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, p) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	dir := t.TempDir()
	writeFile(t, dir, "a.xml", voc("1", "1"))
	ds, err := data.LoadVOC(dir, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := ds.Samples[0].Objects[0]
	if o.Box != (box.Box{X1: 0, Y1: 0, X2: 100, Y2: 50}) || !o.Crowd || o.Area != 5000 {
		t.Errorf("whole-image difficult box: %+v", o)
	}
}

// Each kind of bad box is mended or skipped, counted under its reason and
// shown with its file and object index; under strict it is an error naming
// them, and the dataset is left as it was.
func TestValidate(t *testing.T) {
	good := box.Box{X1: 10, Y1: 10, X2: 20, Y2: 20}
	inf := float32(math.Inf(1))
	tests := []struct {
		name    string
		bad     box.Box
		reason  data.Reason
		kept    bool    // the object stays (clipped)
		clipped box.Box // its box then
	}{
		{"inverted x", box.Box{X1: 30, Y1: 10, X2: 20, Y2: 20}, data.ReasonInverted, false, box.Box{}},
		{"inverted y", box.Box{X1: 10, Y1: 30, X2: 20, Y2: 20}, data.ReasonInverted, false, box.Box{}},
		{"zero width", box.Box{X1: 10, Y1: 10, X2: 10, Y2: 20}, data.ReasonEmpty, false, box.Box{}},
		{"zero height", box.Box{X1: 10, Y1: 10, X2: 20, Y2: 10}, data.ReasonEmpty, false, box.Box{}},
		{"not finite", box.Box{X1: 10, Y1: 10, X2: inf, Y2: 20}, data.ReasonDegenerate, false, box.Box{}},
		{"wholly outside", box.Box{X1: 120, Y1: 10, X2: 150, Y2: 20}, data.ReasonOutside, false, box.Box{}},
		{"touching the edge from outside", box.Box{X1: -30, Y1: 10, X2: 0, Y2: 20}, data.ReasonOutside, false, box.Box{}},
		{"partly outside", box.Box{X1: 50, Y1: 50, X2: 150, Y2: 60}, data.ReasonClipped, true, box.Box{X1: 50, Y1: 50, X2: 100, Y2: 60}},
		{"partly outside, negative", box.Box{X1: -40, Y1: -5, X2: 30, Y2: 60}, data.ReasonClipped, true, box.Box{X1: 0, Y1: 0, X2: 30, Y2: 60}},
		{"within the tolerance", box.Box{X1: -0.5, Y1: 10, X2: 100.5, Y2: 20}, "", true, box.Box{X1: 0, Y1: 10, X2: 100, Y2: 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mk := func() *data.Dataset {
				return &data.Dataset{Name: "t", Classes: []string{"a"}, CategoryIDs: []int{1}, Samples: []data.Sample{
					{ID: 1, Path: "ok.jpg", Width: 100, Height: 100, Objects: []data.Object{{Box: good}, {Box: tc.bad}}},
				}}
			}
			ds := mk()
			rep, err := ds.Validate(data.ValidateConfig{})
			if err != nil {
				t.Fatal(err)
			}
			objs := ds.Samples[0].Objects
			switch {
			case tc.kept && (len(objs) != 2 || objs[1].Box != tc.clipped || rep.ClippedObjects != 1 || rep.SkippedObjects != 0):
				t.Errorf("kept: objects %+v, report %s", objs, rep)
			case !tc.kept && (len(objs) != 1 || objs[0].Box != good || rep.SkippedObjects != 1):
				t.Errorf("skipped: objects %+v, report %s", objs, rep)
			}
			if tc.reason == "" {
				if rep.Problems() != 0 {
					t.Errorf("a clip within the tolerance is a problem: %s", rep)
				}
				return
			}
			if rep.Counts[tc.reason] != 1 || rep.Problems() != 1 || !strings.Contains(rep.String(), string(tc.reason)+": 1 (e.g. ok.jpg: object 1: ") {
				t.Errorf("report: %s", rep)
			}
			if !strings.HasSuffix(rep.String(), "\n") || !strings.HasPrefix(rep.String(), "1 images, 2 objects checked; ") {
				t.Errorf("report lines: %q", rep.String())
			}
			ds = mk()
			_, err = ds.Validate(data.ValidateConfig{Strict: true})
			var se *data.SampleError
			if !errors.As(err, &se) || se.Reason != tc.reason || se.Object != 1 || !strings.Contains(err.Error(), "ok.jpg: object 1") {
				t.Errorf("strict: %v", err)
			}
			if len(ds.Samples[0].Objects) != 2 || ds.Samples[0].Objects[1].Box != tc.bad && tc.reason != data.ReasonDegenerate {
				t.Errorf("strict validation changed the dataset")
			}
		})
	}
	// A sample without a size is skipped with its objects.
	ds := &data.Dataset{Samples: []data.Sample{{ID: 2, Path: "nosize.jpg", Objects: []data.Object{{Box: good}}}}}
	rep, err := ds.Validate(data.ValidateConfig{})
	if err != nil || len(ds.Samples) != 0 || rep.Counts[data.ReasonBadSize] != 1 || rep.SkippedSamples != 1 || rep.SkippedObjects != 1 {
		t.Errorf("no size: %v %s", err, rep)
	}
}

// The loaders keep bad boxes for Validate: an inverted VOC box and a
// negative COCO width are skipped and counted, not fatal.
func TestLoadersLeaveBadBoxesToValidate(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "b.xml", strings.Replace(strings.Replace(vocTemplate, "%s", "0", 1), "%s", "101", 1))
	voc, err := data.LoadVOC(dir, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, t.TempDir(), "ann.json", `{"images":[{"id":1,"file_name":"a.jpg","width":10,"height":10}],
		"categories":[{"id":1,"name":"person"}],"annotations":[{"id":8,"image_id":1,"category_id":1,"bbox":[1,2,-3,4],"area":1,"iscrowd":0}]}`)
	coco, err := data.LoadCOCO(p, "img")
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range []*data.Dataset{voc, coco} {
		rep, err := ds.Validate(data.ValidateConfig{})
		if err != nil || rep.Counts[data.ReasonInverted] != 1 || len(ds.Samples[0].Objects) != 0 {
			t.Errorf("%s: %v %s", ds.Name, err, rep)
		}
	}
}

// COCO128's polygons and crowd RLEs load as masks (LoadCOCOWith Masks)
// whose pixel areas and extents agree with the annotations' area and bbox.
func TestLoadCOCOMasks(t *testing.T) {
	dir := sharedDir(t, "coco128")
	ds, err := data.LoadCOCOWith(filepath.Join(dir, "instances_train2017.json"), filepath.Join(dir, "images"), data.COCOOptions{Masks: true})
	if err != nil {
		t.Fatal(err)
	}
	var ratios []float64
	crowd := 0
	for _, s := range ds.Samples {
		for _, o := range s.Objects {
			if o.Mask == nil || o.Mask.Area() == 0 {
				t.Fatalf("image %d: an object without mask pixels", s.ID)
			}
			if o.Crowd {
				crowd++
			}
			mb, _ := o.Mask.Box()
			if mb.X1 < o.Box.X1-2 || mb.Y1 < o.Box.Y1-2 || mb.X2 > o.Box.X2+2 || mb.Y2 > o.Box.Y2+2 {
				t.Errorf("image %d: mask box %v outside the bbox %v", s.ID, mb, o.Box)
			}
			if o.Area > 100 {
				ratios = append(ratios, float64(o.Mask.Area())/float64(o.Area))
			}
		}
	}
	slices.Sort(ratios)
	med := ratios[len(ratios)/2]
	if crowd == 0 || med < 0.97 || med > 1.03 || ratios[len(ratios)/20] < 0.8 {
		t.Errorf("%d crowd masks; mask/annotation area ratios: median %.3f, 5th percentile %.3f", crowd, med, ratios[len(ratios)/20])
	}
	t.Logf("%d masks, area ratio median %.4f, 5th–95th %.3f–%.3f, %d crowd", len(ratios), med, ratios[len(ratios)/20], ratios[len(ratios)*19/20], crowd)
}

// Mask.Patch of a mask that fills its box is all ones, and of a mask that
// fills its left half is a left half of ones, mirrored under flip.
func TestMaskPatch(t *testing.T) {
	m := &data.Mask{Rect: image.Rect(0, 0, 40, 30), Pix: make([]uint8, 40*30)}
	for y := range 30 {
		for x := range 20 {
			m.Pix[y*40+x] = 1
		}
	}
	p := m.Patch(box.Box{X1: 0, Y1: 0, X2: 20, Y2: 30}, 40, 30, 112, false)
	for i, v := range p {
		if v < 0.999 && i%112 < 112-3 { // crop_and_resize ends at x2·(w−1)/w: the last columns blend the edge
			t.Fatalf("filled box: patch[%d] = %v", i, v)
		}
	}
	p = m.Patch(box.Box{X1: 0, Y1: 0, X2: 40, Y2: 30}, 40, 30, 112, true)
	if p[5] != 0 || p[112-5] != 1 {
		t.Errorf("flipped half mask: left %v, right %v", p[5], p[112-5])
	}
}
