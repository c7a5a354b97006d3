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
