package annotate

import (
	"image"
	"image/color"
	"path/filepath"
	"testing"

	"github.com/spinenet-go/spinenet/detection/box"
)

func TestDrawMarksBoxesAndLabels(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 100, 80))
	out := Draw(img, []box.Scored{{Box: box.XYXY(20, 30, 60, 70), Score: 0.9, Class: 1}}, []string{"dog", "cat"})
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
	Draw(img, []box.Scored{{Box: box.XYXY(200, 200, 300, 300)}, {Box: box.XYXY(-50, -50, 5, 5), Class: 7}}, nil)
	for _, name := range []string{"a.png", "b.jpg"} {
		if err := Save(filepath.Join(t.TempDir(), name), out); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUpscale(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 3))
	img.SetGray(1, 2, color.Gray{Y: 200})
	in := []box.Scored{{Box: box.XYXY(1, 1, 2, 3), Score: 0.5, Class: 2}}
	big, boxes := Upscale(img, in, 3)
	if big.Bounds().Dx() != 12 || big.Bounds().Dy() != 9 {
		t.Fatalf("size %v", big.Bounds())
	}
	if r, _, _, _ := big.At(5, 8).RGBA(); r>>8 != 200 {
		t.Errorf("pixel (5,8) not copied from (1,2)")
	}
	if boxes[0] != (box.Scored{Box: box.XYXY(3, 3, 6, 9), Score: 0.5, Class: 2}) || in[0].Box != box.XYXY(1, 1, 2, 3) {
		t.Errorf("box %v", boxes[0])
	}
}

func TestClassName(t *testing.T) {
	names := []string{"a", "b"}
	for c, want := range map[int]string{0: "a", 1: "b", 2: "class 2", -1: "class -1"} {
		if got := className(names, c); got != want {
			t.Errorf("className(%d) = %q, want %q", c, got, want)
		}
	}
}
