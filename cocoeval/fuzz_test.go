package cocoeval

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"slices"
	"testing"
)

// smallLimits lowers the mask and polygon limits for a fuzz run, so that
// inputs that pass them stay cheap, and restores them when f ends.
func smallLimits(f *testing.F) {
	px, pts := MaxMaskPixels, MaxPolygonPoints
	MaxMaskPixels, MaxPolygonPoints = 1<<16, 1<<16
	f.Cleanup(func() { MaxMaskPixels, MaxPolygonPoints = px, pts })
}

func readSeed(f *testing.F, path string) []byte {
	f.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzEvaluate parses arbitrary bytes as a ground-truth instances file and
// a results file and, when both parse, evaluates them as bbox and as segm.
// Nothing may panic or hang, and every summary number is an AP or AR in
// [0, 1] or pycocotools' −1 for "no ground truth".
func FuzzEvaluate(f *testing.F) {
	smallLimits(f)
	for _, s := range [][2]string{
		{"testdata/cocoeval-tiny/gt.json", "testdata/cocoeval-tiny/detections.json"},
		{"testdata/fuzz-seeds/coco128-crowd-gt.json", "testdata/fuzz-seeds/coco128-crowd-dets.json"},
		{"testdata/fuzz-seeds/coco128-crowd-gt.json", "testdata/fuzz-seeds/coco128-crowd-rle-dets.json"},
	} {
		f.Add(readSeed(f, s[0]), readSeed(f, s[1]))
	}
	f.Fuzz(func(t *testing.T, gtJSON, detJSON []byte) {
		gt, err := ReadDataset(bytes.NewReader(gtJSON), "gt.json")
		if err != nil {
			return
		}
		dets, err := ReadDetections(bytes.NewReader(detJSON), "dets.json", gt)
		if err != nil {
			return
		}
		for _, iou := range []string{IoUBBox, IoUSegm} {
			res, err := Evaluate(gt, dets, iou)
			if err != nil {
				continue
			}
			for i, s := range res.Stats {
				if s != -1 && !(s >= 0 && s <= 1) {
					t.Fatalf("%s: stat %d is %v", iou, i, s)
				}
			}
		}
	})
}

// FuzzDecodeString parses arbitrary text as a compressed RLE counts string
// of a small mask. One that parses and covers at most the mask decodes to
// a mask with as many set pixels as its Area, and that mask re-encodes to
// counts that survive String and DecodeString unchanged.
func FuzzDecodeString(f *testing.F) {
	f.Add("52203", uint8(3), uint8(4))
	f.Add("0", uint8(0), uint8(0))
	f.Add(RLE{Counts: []uint32{3, 5, 100, 2, 0, 7}}.String(), uint8(9), uint8(13))
	f.Add("PPYo1", uint8(255), uint8(255))
	f.Fuzz(func(t *testing.T, s string, h, w uint8) {
		r, err := DecodeString(s, int(h), int(w))
		if err != nil {
			return
		}
		if err := r.complete(); err != nil {
			return
		}
		mask, err := r.Decode()
		if err != nil {
			t.Fatalf("a completed RLE does not decode: %v", err)
		}
		set := 0
		for _, v := range mask {
			set += int(v)
		}
		if uint32(set) != r.Area() {
			t.Fatalf("decoded %d set pixels, Area %d", set, r.Area())
		}
		e, err := Encode(mask, int(h), int(w))
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeString(e.String(), int(h), int(w))
		if err != nil || !slices.Equal(back.Counts, e.Counts) {
			t.Fatalf("counts %v → %q → %v, %v", e.Counts, e.String(), back.Counts, err)
		}
	})
}

// FuzzFrPoly rasterizes arbitrary coordinates (any float64, NaN and ±Inf
// included) into a small mask. It either fails or gives runs that cover the
// mask exactly, with a box inside it.
func FuzzFrPoly(f *testing.F) {
	smallLimits(f)
	enc := func(xy ...float64) []byte {
		b := make([]byte, 8*len(xy))
		for i, v := range xy {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		}
		return b
	}
	f.Add(enc(0, 0, 10, 0, 0, 10), uint8(20), uint8(20))
	f.Add(enc(-5, -5, -5, 5, 5, 5, 5, -5), uint8(20), uint8(20))
	f.Add(enc(1.5, 2.25, 7.75, 3, 4, 9.5, 0.1), uint8(11), uint8(7))
	f.Add(enc(0, 0, 1e9, 0, 0, 5), uint8(10), uint8(10))
	f.Fuzz(func(t *testing.T, b []byte, h, w uint8) {
		xy := make([]float64, len(b)/8)
		for i := range xy {
			xy[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		r, err := FrPoly(xy, int(h), int(w))
		if err != nil {
			return
		}
		var sum uint64
		for _, c := range r.Counts {
			sum += uint64(c)
		}
		if sum != uint64(h)*uint64(w) || r.H != int(h) || r.W != int(w) {
			t.Fatalf("%d×%d mask with runs covering %d pixels", r.H, r.W, sum)
		}
		if a := r.Area(); a > 0 {
			bb := r.ToBbox()
			if bb[0] < 0 || bb[1] < 0 || bb[0]+bb[2] > float64(w) || bb[1]+bb[3] > float64(h) {
				t.Fatalf("box %v outside the %d×%d mask", bb, h, w)
			}
		}
	})
}
