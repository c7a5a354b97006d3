package data_test

import (
	"bytes"
	"image"
	"math"
	"testing"

	"github.com/spinenet-go/spinenet/data"
)

// The zero ShapesConfig fields reproduce GenerateShapes image for image.
func TestGenerateShapesWithDefaults(t *testing.T) {
	a, srcA, err := data.GenerateShapes(6, 64, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, srcB, err := data.GenerateShapesWith(data.ShapesConfig{N: 6, Size: 64, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Samples {
		sa, sb := a.Samples[i], b.Samples[i]
		if len(sa.Objects) != len(sb.Objects) {
			t.Fatalf("sample %d: %d vs %d objects", i, len(sa.Objects), len(sb.Objects))
		}
		for j := range sa.Objects {
			if sa.Objects[j].Box != sb.Objects[j].Box || sa.Objects[j].Class != sb.Objects[j].Class {
				t.Fatalf("sample %d object %d: %+v vs %+v", i, j, sa.Objects[j].Box, sb.Objects[j].Box)
			}
		}
		if !bytes.Equal(srcA.Image(sa.ID).(*image.RGBA).Pix, srcB.Image(sb.ID).(*image.RGBA).Pix) {
			t.Fatalf("sample %d: pixels differ", i)
		}
	}
}

// Classes and the size range are honoured, and log-uniform sides spread
// over the octaves of the range.
func TestGenerateShapesWithRange(t *testing.T) {
	c := data.ShapesConfig{N: 200, Size: 128, Seed: 1, Classes: 2, MinSide: 10, MaxSide: 110, LogUniform: true}
	ds, _, err := data.GenerateShapesWith(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Classes) != 2 || len(ds.CategoryIDs) != 2 || ds.CategoryIDs[1] != 2 {
		t.Fatalf("classes %v ids %v", ds.Classes, ds.CategoryIDs)
	}
	octaves := map[int]int{} // floor(log2(side/10))
	for _, s := range ds.Samples {
		for _, o := range s.Objects {
			if o.Class < 0 || o.Class >= 2 || o.CategoryID != o.Class+1 {
				t.Fatalf("class %d category %d", o.Class, o.CategoryID)
			}
			side := float64(max(o.Box.X2-o.Box.X1, o.Box.Y2-o.Box.Y1))
			if side < c.MinSide-2 || side > c.MaxSide+2 {
				t.Fatalf("side %v outside [%v, %v]", side, c.MinSide, c.MaxSide)
			}
			octaves[int(math.Log2(max(side, 10)/10))]++
		}
	}
	for k := 0; k <= 2; k++ { // 10–20, 20–40, 40–80 px all populated
		if octaves[k] < 20 {
			t.Errorf("octave %d (%d–%d px): %d objects, want ≥ 20 (%v)", k, 10<<k, 20<<k, octaves[k], octaves)
		}
	}
	for _, bad := range []data.ShapesConfig{
		{N: 1, Size: 64, Classes: 5}, {N: 1, Size: 64, MinSide: 30, MaxSide: 20}, {N: 1, Size: 64, MaxSide: 65},
	} {
		if _, _, err := data.GenerateShapesWith(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
