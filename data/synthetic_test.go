package data_test

import (
	"image"
	"testing"

	"github.com/spinenet-go/spinenet/data"
)

func TestGenerateShapes(t *testing.T) {
	ds, src, err := data.GenerateShapes(40, 96, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Samples) != 40 || len(ds.Classes) != 4 {
		t.Fatalf("%v", ds)
	}
	classes := map[int]int{}
	for _, s := range ds.Samples {
		img := src.Image(s.ID)
		if img == nil || img.Bounds() != image.Rect(0, 0, 96, 96) {
			t.Fatalf("sample %d: image %v", s.ID, img)
		}
		if len(s.Objects) < 1 || len(s.Objects) > 4 {
			t.Errorf("sample %d: %d objects", s.ID, len(s.Objects))
		}
		for i, o := range s.Objects {
			classes[o.Class]++
			m := o.Mask
			// The box is tight around the mask: every edge row/column
			// of the box holds a mask pixel and nothing lies outside.
			x1, y1, x2, y2 := int(o.Box.X1), int(o.Box.Y1), int(o.Box.X2), int(o.Box.Y2)
			if float32(x1) != o.Box.X1 || float32(x2) != o.Box.X2 || x2 <= x1 || y2 <= y1 {
				t.Fatalf("box %v not on pixel edges", o.Box)
			}
			area, top, bottom, left, right := 0, false, false, false, false
			for y := 0; y < 96; y++ {
				for x := 0; x < 96; x++ {
					if !m.At(x, y) {
						continue
					}
					area++
					if x < x1 || x >= x2 || y < y1 || y >= y2 {
						t.Fatalf("mask pixel (%d,%d) outside box %v", x, y, o.Box)
					}
					top, bottom = top || y == y1, bottom || y == y2-1
					left, right = left || x == x1, right || x == x2-1
					for j, p := range s.Objects {
						if j != i && p.Mask.At(x, y) {
							t.Fatalf("masks %d and %d overlap", i, j)
						}
					}
				}
			}
			if !(top && bottom && left && right) || float32(area) != o.Area || o.CategoryID != o.Class+1 {
				t.Errorf("sample %d object %d: box %v not tight or area %g≠%d", s.ID, i, o.Box, o.Area, area)
			}
			// COCO RLE over the image: runs sum to W·H, odd runs to the area.
			rle := m.RLE(96, 96)
			var sum, ones uint32
			for k, c := range rle {
				sum += c
				if k%2 == 1 {
					ones += c
				}
			}
			if sum != 96*96 || int(ones) != area {
				t.Errorf("RLE sums %d/%d", sum, ones)
			}
		}
	}
	if len(classes) != 4 {
		t.Errorf("classes seen: %v", classes)
	}
	again, _, _ := data.GenerateShapes(40, 96, 5)
	if again.Samples[17].Objects[0].Box != ds.Samples[17].Objects[0].Box {
		t.Error("not deterministic")
	}
	if _, _, err := data.GenerateShapes(1, 8, 0); err == nil {
		t.Error("size 8 accepted")
	}
}
