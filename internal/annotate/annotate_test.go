package annotate

import (
	"image"
	"image/color"
	"path/filepath"
	"testing"
)

func TestDrawMarksBoxesAndLabels(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 100, 80))
	out := Draw(img, []Box{{X1: 20, Y1: 30, X2: 60, Y2: 70, Label: "cat", Score: 0.9, Class: 1}})
	want := palette[1]
	// The rectangle's left edge is drawn in the class colour…
	if got := out.RGBAAt(20, 50); got != want {
		t.Errorf("box edge %v, want %v", got, want)
	}
	// …the inside is untouched…
	if got := out.RGBAAt(40, 50); got != (color.RGBA{0, 0, 0, 255}) {
		t.Errorf("box inside %v", got)
	}
	// …and the label sits above the box.
	if got := out.RGBAAt(21, 20); got == (color.RGBA{0, 0, 0, 255}) {
		t.Error("no label above the box")
	}
	// Boxes outside the image are skipped without panicking.
	Draw(img, []Box{{X1: 200, Y1: 200, X2: 300, Y2: 300}, {X1: -50, Y1: -50, X2: 5, Y2: 5, Label: "edge"}})
	for _, name := range []string{"a.png", "b.jpg"} {
		if err := Save(filepath.Join(t.TempDir(), name), out); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUpscale(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 3))
	img.SetGray(1, 2, color.Gray{Y: 200})
	big, boxes := Upscale(img, []Box{{X1: 1, Y1: 1, X2: 2, Y2: 3}}, 3)
	if big.Bounds().Dx() != 12 || big.Bounds().Dy() != 9 {
		t.Fatalf("size %v", big.Bounds())
	}
	if r, _, _, _ := big.At(5, 8).RGBA(); r>>8 != 200 {
		t.Errorf("pixel (5,8) not copied from (1,2)")
	}
	if boxes[0] != (Box{X1: 3, Y1: 3, X2: 6, Y2: 9}) {
		t.Errorf("box %v", boxes[0])
	}
}
