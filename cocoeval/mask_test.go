package cocoeval

import (
	"encoding/json"
	"github.com/spinenet-go/spinenet/internal/sharedtest"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		h, w := 1+rng.IntN(12), 1+rng.IntN(12)
		mask := make([]byte, h*w)
		density := rng.Float64()
		for i := range mask {
			if rng.Float64() < density {
				mask[i] = 1
			}
		}
		r, err := Encode(mask, h, w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Decode()
		if err != nil || !slices.Equal(got, mask) {
			t.Fatalf("decode(encode) differs: %v", err)
		}
		n := uint32(0)
		for _, v := range mask {
			n += uint32(v)
		}
		if r.Area() != n {
			t.Fatalf("area %d, want %d", r.Area(), n)
		}
		back, err := DecodeString(r.String(), h, w)
		if err != nil || !slices.Equal(back.Counts, r.Counts) || back.H != h || back.W != w {
			t.Fatalf("string round trip: %v %v vs %v", err, back.Counts, r.Counts)
		}
		// Bounding box against a pixel scan.
		xs, ys, xe, ye := w, h, -1, -1
		for x := 0; x < w; x++ {
			for y := 0; y < h; y++ {
				if mask[x*h+y] == 1 {
					xs, ys, xe, ye = min(xs, x), min(ys, y), max(xe, x), max(ye, y)
				}
			}
		}
		if xe >= 0 {
			want := [4]float64{float64(xs), float64(ys), float64(xe - xs + 1), float64(ye - ys + 1)}
			if bb := r.ToBbox(); bb != want {
				t.Fatalf("toBbox %v, want %v", bb, want)
			}
		}
	}
}

// Known vectors: counts strings are LEB128-like with deltas from the fourth
// count on.
func TestStringKnownVectors(t *testing.T) {
	for _, c := range []struct {
		counts []uint32
		s      string
	}{
		{[]uint32{0}, "0"},
		{[]uint32{3, 2, 5}, "325"},
		{[]uint32{31}, "o0"},            // 31: bit 4 set reads as negative, so a continuation
		{[]uint32{3, 2, 5, 1}, "325O"},  // 1-2 = -1 → 0x1f
		{[]uint32{100, 4, 96}, "T34P3"}, // 100 = 4 + 3*32; 96 = 0 + 3*32
	} {
		if got := (RLE{Counts: c.counts}).String(); got != c.s {
			t.Errorf("%v: %q, want %q", c.counts, got, c.s)
		}
		r, err := DecodeString(c.s, 0, 0)
		if err != nil || !slices.Equal(r.Counts, c.counts) {
			t.Errorf("%q: %v %v, want %v", c.s, r.Counts, err, c.counts)
		}
	}
	for _, bad := range []string{"/", "p", "T"} {
		if _, err := DecodeString(bad, 1, 1); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := (RLE{H: 2, W: 2, Counts: []uint32{1, 4}}).Decode(); err == nil {
		t.Error("overlong RLE decoded")
	}
}

// The compressed strings pycocotools wrote for the coco128 segm detections
// decode and re-encode to themselves, and cover the image exactly.
func TestPycocotoolsStringsRoundTrip(t *testing.T) {
	path := sharedtest.Path(t, "golden/cocoeval-coco128/detections_segm.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dets []struct {
		Segmentation struct {
			Size   []int  `json:"size"`
			Counts string `json:"counts"`
		} `json:"segmentation"`
	}
	if err := json.Unmarshal(b, &dets); err != nil {
		t.Fatal(err)
	}
	for i, d := range dets {
		h, w := d.Segmentation.Size[0], d.Segmentation.Size[1]
		r, err := DecodeString(d.Segmentation.Counts, h, w)
		if err != nil {
			t.Fatal(i, err)
		}
		if r.String() != d.Segmentation.Counts {
			t.Fatalf("detection %d: re-encoded string differs", i)
		}
		var sum uint64
		for _, c := range r.Counts {
			sum += uint64(c)
		}
		if sum != uint64(h*w) {
			t.Fatalf("detection %d: runs cover %d pixels, want %d", i, sum, h*w)
		}
		m, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		e, _ := Encode(m, h, w)
		if !slices.Equal(e.Counts, r.Counts) {
			t.Fatalf("detection %d: encode(decode) differs", i)
		}
	}
}

// coco128's crowd annotations are uncompressed RLEs of the image size. Their
// JSON "area" is not the mask area (COCO computed it otherwise), so we check
// the codec and record the mask areas.
func TestCOCO128CrowdRLE(t *testing.T) {
	path := sharedtest.Path(t, "data/coco128/instances_train2017.json")
	gt, err := LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range gt.Annotations {
		if !a.IsCrowd {
			continue
		}
		n++
		r := a.Segmentation.RLE
		im, _ := gt.Image(a.ImageID)
		if r == nil || r.H != im.Height || r.W != im.Width {
			t.Fatalf("crowd %d: RLE %v, image %dx%d", a.ID, r, im.Height, im.Width)
		}
		m, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		ones := 0
		for _, v := range m {
			ones += int(v)
		}
		if uint32(ones) != r.Area() {
			t.Fatalf("crowd %d: %d set pixels, area %d", a.ID, ones, r.Area())
		}
		back, _ := DecodeString(r.String(), r.H, r.W)
		if !slices.Equal(back.Counts, r.Counts) {
			t.Fatalf("crowd %d: string round trip differs", a.ID)
		}
		// pycocotools' toBbox is one pixel wider and taller than COCO's
		// stored boxes for these masks.
		bb := r.ToBbox()
		if bb[0] != a.BBox[0] || bb[1] != a.BBox[1] || bb[2] != a.BBox[2]+1 || bb[3] != a.BBox[3]+1 {
			t.Errorf("crowd %d: toBbox %v, annotation bbox %v", a.ID, bb, a.BBox)
		}
		if a.ID == 900100000257 && (r.Area() != 10513 || a.Area != 11750) {
			t.Errorf("crowd %d: mask area %d (stated %g), recorded 10513 (11750)", a.ID, r.Area(), a.Area)
		}
	}
	if n != 10 {
		t.Errorf("%d crowd annotations, want 10", n)
	}
}

// coco128's polygon "area" is the polygons' shoelace area; rasterized with
// frPoly the masks come within 1% for most objects (small ones differ more).
func TestCOCO128PolygonAreas(t *testing.T) {
	path := sharedtest.Path(t, "data/coco128/instances_train2017.json")
	gt, err := LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	var within1, within5, n int
	for _, a := range gt.Annotations {
		if a.IsCrowd {
			continue
		}
		n++
		shoe := 0.
		for _, p := range a.Segmentation.Polygons {
			shoe += shoelace(p)
		}
		if math.Abs(shoe-a.Area) > 1e-9*a.Area {
			t.Errorf("annotation %d: shoelace area %g, stated %g", a.ID, shoe, a.Area)
		}
		r, err := toRLE(gt, a.ImageID, a.Segmentation)
		if err != nil {
			t.Fatal(err)
		}
		rel := math.Abs(float64(r.Area())-a.Area) / a.Area
		if rel <= 0.01 {
			within1++
		}
		if rel <= 0.05 {
			within5++
		}
		// The mask lies within the stated box, give or take a pixel.
		if bb := r.ToBbox(); bb[0] < math.Floor(a.BBox[0])-1 || bb[1] < math.Floor(a.BBox[1])-1 ||
			bb[0]+bb[2] > math.Ceil(a.BBox[0]+a.BBox[2])+1 || bb[1]+bb[3] > math.Ceil(a.BBox[1]+a.BBox[3])+1 {
			t.Errorf("annotation %d: mask box %v outside stated %v", a.ID, bb, a.BBox)
		}
	}
	t.Logf("%d polygon objects: rasterized area within 1%% of stated for %d, within 5%% for %d", n, within1, within5)
	if n != 929 || within1 < 700 || within5 < 890 {
		t.Errorf("%d objects, %d within 1%%, %d within 5%%", n, within1, within5)
	}
}

func shoelace(p []float64) float64 {
	s := 0.
	k := len(p) / 2
	for i := 0; i < k; i++ {
		j := (i + 1) % k
		s += p[2*i]*p[2*j+1] - p[2*j]*p[2*i+1]
	}
	return math.Abs(s) / 2
}

func TestFrPolyAndBbox(t *testing.T) {
	// Integer boxes rasterize to exactly their pixels.
	for _, bb := range [][4]float64{{10, 10, 40, 30}, {0, 0, 200, 150}, {5, 7, 1, 1}} {
		r := mustRLE(t)(FrBbox(bb, 150, 200))
		if r.Area() != uint32(bb[2]*bb[3]) || r.ToBbox() != bb {
			t.Errorf("box %v: area %d bbox %v", bb, r.Area(), r.ToBbox())
		}
	}
	// A box sticking out of the image is clipped.
	if r := mustRLE(t)(FrBbox([4]float64{-5, -5, 10, 10}, 20, 20)); r.Area() != 25 {
		t.Errorf("clipped box area %d, want 25", r.Area())
	}
	// A right triangle with legs of 10: pixels whose centre (x+.5, y+.5)
	// is strictly inside are set, those outside are not; centres on the
	// hypotenuse (x+y == 9) go either way.
	tri := mustRLE(t)(FrPoly([]float64{0, 0, 10, 0, 0, 10}, 20, 20))
	m, _ := tri.Decode()
	for x := 0; x < 20; x++ {
		for y := 0; y < 20; y++ {
			if x+y != 9 && (m[x*20+y] == 1) != (x+y < 9) {
				t.Fatalf("triangle pixel (%d,%d) = %d", x, y, m[x*20+y])
			}
		}
	}
	// Degenerate polygons give empty masks rather than panicking.
	for _, p := range [][]float64{nil, {1, 2}, {1, 2, 3}} {
		if r := mustRLE(t)(FrPoly(p, 4, 4)); r.Area() != 0 || !slices.Equal(r.Counts, []uint32{16}) {
			t.Errorf("polygon %v: %v", p, r.Counts)
		}
	}
}

// mustRLE unwraps an (RLE, error) result, failing t on the error.
func mustRLE(t *testing.T) func(RLE, error) RLE {
	return func(r RLE, err error) RLE {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// Polygons that would make pycocotools allocate without bound, or convert a
// NaN to an integer, are refused with an error naming the problem.
func TestFrPolyRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		xy   []float64
		h, w int
		want string
	}{
		{"NaN", []float64{0, 0, math.NaN(), 1, 2, 2}, 10, 10, "coordinate 2 is NaN"},
		{"Inf", []float64{0, 0, 1, math.Inf(-1), 2, 2}, 10, 10, "coordinate 3 is -Inf"},
		{"huge", []float64{0, 0, 1e300, 1, 2, 2}, 10, 10, "coordinate 2 is 1e+300"},
		{"far away", []float64{0, 0, 1e9, 0, 0, 5}, 10, 10, "MaxPolygonPoints"},
		{"negative size", []float64{0, 0, 1, 0, 0, 1}, -1, 10, "must not be negative"},
		{"huge mask", []float64{0, 0, 1, 0, 0, 1}, 1 << 20, 1 << 20, "MaxMaskPixels"},
	} {
		_, err := FrPoly(c.xy, c.h, c.w)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// An RLE whose runs cover fewer pixels than its size is completed with
// background at load (so mask IoU cannot run past it); one that covers more
// is refused, as pycocotools' decode refuses it.
func TestRLECompletedAtLoad(t *testing.T) {
	for _, c := range []struct {
		counts string
		want   []uint32
		err    string
	}{
		{`[2, 3]`, []uint32{2, 3, 7}, ""},
		{`[2, 3, 1]`, []uint32{2, 3, 7}, ""},
		{`[]`, []uint32{12}, ""},
		{`[2, 3, 7]`, []uint32{2, 3, 7}, ""},
		{`[2, 3, 8]`, nil, "runs cover 13 pixels, more than its 3×4 size"},
		{`"` + (RLE{Counts: []uint32{20}}).String() + `"`, nil, "runs cover 20 pixels"},
	} {
		seg, err := parseSegmentation(json.RawMessage(`{"size": [3, 4], "counts": ` + c.counts + `}`))
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("counts %s: error %v, want %q", c.counts, err, c.err)
			}
		case err != nil:
			t.Errorf("counts %s: %v", c.counts, err)
		case !slices.Equal(seg.RLE.Counts, c.want):
			t.Errorf("counts %s: completed to %v, want %v", c.counts, seg.RLE.Counts, c.want)
		}
	}
	for _, size := range []string{`[-1, 4]`, `[100000, 100000]`} {
		if _, err := parseSegmentation(json.RawMessage(`{"size": ` + size + `, "counts": []}`)); err == nil {
			t.Errorf("size %s accepted", size)
		}
	}
}

func TestMergeAndIoU(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	h, w := 9, 7
	randMask := func() []byte {
		m := make([]byte, h*w)
		for i := range m {
			if rng.IntN(3) == 0 {
				m[i] = 1
			}
		}
		return m
	}
	for trial := 0; trial < 100; trial++ {
		a, b := randMask(), randMask()
		ra, _ := Encode(a, h, w)
		rb, _ := Encode(b, h, w)
		var and, or uint32
		for i := range a {
			and += uint32(a[i] & b[i])
			or += uint32(a[i] | b[i])
		}
		if u := Merge([]RLE{ra, rb}, false); u.Area() != or {
			t.Fatalf("union area %d, want %d", u.Area(), or)
		}
		if x := Merge([]RLE{ra, rb}, true); x.Area() != and {
			t.Fatalf("intersection area %d, want %d", x.Area(), and)
		}
		ious := MaskIoU([]RLE{ra}, []RLE{rb, rb}, []bool{false, true})
		want := 0.
		if and > 0 {
			want = float64(and) / float64(or)
		}
		if ious[0][0] != want {
			t.Fatalf("iou %g, want %g", ious[0][0], want)
		}
		wantCrowd := 0.
		if and > 0 {
			wantCrowd = float64(and) / float64(ra.Area())
		}
		if ious[0][1] != wantCrowd {
			t.Fatalf("crowd iou %g, want %g", ious[0][1], wantCrowd)
		}
	}
	// Different sizes give -1 (when the boxes overlap).
	a := mustRLE(t)(FrBbox([4]float64{0, 0, 4, 4}, 10, 10))
	b := mustRLE(t)(FrBbox([4]float64{0, 0, 4, 4}, 10, 11))
	if got := MaskIoU([]RLE{a}, []RLE{b}, nil)[0][0]; got != -1 {
		t.Errorf("size mismatch iou %g, want -1", got)
	}
	if m := Merge([]RLE{a, b}, false); m.H != 0 || m.W != 0 || len(m.Counts) != 0 {
		t.Errorf("size mismatch merge %+v", m)
	}
}

func TestBoxIoU(t *testing.T) {
	dt := [][4]float64{{0, 0, 10, 10}, {5, 5, 10, 10}, {20, 20, 5, 5}}
	gt := [][4]float64{{0, 0, 10, 10}, {0, 0, 20, 20}}
	got := BoxIoU(dt, gt, []bool{false, true})
	want := [][]float64{{1, 1}, {25. / 175, 1}, {0, 25. / 25}}
	want[2][1] = 0 // no overlap at all (touching is no overlap)
	for d := range want {
		for g := range want[d] {
			if got[d][g] != want[d][g] {
				t.Errorf("iou[%d][%d] = %g, want %g", d, g, got[d][g], want[d][g])
			}
		}
	}
}

func TestLinspace(t *testing.T) {
	p := NewParams(nil, IoUBBox)
	if len(p.IoUThrs) != 10 || p.IoUThrs[0] != .5 || p.IoUThrs[5] != .75 || p.IoUThrs[9] != .95 {
		t.Errorf("iouThrs %v", p.IoUThrs)
	}
	// numpy: np.linspace(.5, .95, 10)[8] == 0.8999999999999999.
	if p.IoUThrs[8] != 0.8999999999999999 {
		t.Errorf("iouThrs[8] = %v", p.IoUThrs[8])
	}
	if len(p.RecThrs) != 101 || p.RecThrs[0] != 0 || p.RecThrs[100] != 1 || p.RecThrs[3] != 3*0.01 {
		t.Errorf("recThrs %v", p.RecThrs)
	}
}

func TestPairwiseSum(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 100, 128, 129, 1000, 4040} {
		a := make([]float64, n)
		naive := 0.
		for i := range a {
			a[i] = 1 / float64(i+3)
			naive += a[i]
		}
		if got := pairwiseSum(a); math.Abs(got-naive) > 1e-12 {
			t.Errorf("n=%d: %g vs %g", n, got, naive)
		}
	}
}
