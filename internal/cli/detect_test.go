package cli

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/spinenet"
)

// writeDetector saves a small, untrained 2-class RetinaNet with the
// metadata detect needs.
func writeDetector(t *testing.T, path string) {
	t.Helper()
	a, err := spinenet.Lookup("49S")
	if err != nil {
		t.Fatal(err)
	}
	a.FilterSizeScale = 0.25
	opt := spinenet.DefaultOptions()
	hc := detection.HeadFor(a, 2, opt.Activation)
	hc.Filters = 16
	m, err := detection.NewRetinaNet(a, opt, hc)
	if err != nil {
		t.Fatal(err)
	}
	d := &detection.Detector{Model: m, Anchors: detection.AnchorsFor(a), Classes: []string{"ring", "square"},
		CategoryIDs: []int{1, 2}, InputSize: 64}
	meta, err := d.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Graph().SaveWeights(path, meta); err != nil {
		t.Fatal(err)
	}
}

func noiseImage(w, h int, seed uint64) image.Image {
	rng := rand.New(rand.NewPCG(seed, 2))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
		}
	}
	return img
}

// detect on good, truncated and good images writes the detections and
// annotated copies of both good ones, names the bad one on stderr and
// exits 1 at the end.
func TestDetectSkipsBadImage(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "det.safetensors")
	writeDetector(t, w)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, noiseImage(80, 60, 1), nil); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.jpg")
	if err := os.WriteFile(good, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// A real JPEG cut in half.
	buf.Reset()
	if err := jpeg.Encode(&buf, noiseImage(120, 90, 2), nil); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.jpg")
	if err := os.WriteFile(truncated, buf.Bytes()[:buf.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	good2 := filepath.Join(dir, "good2.png")
	f, err := os.Create(good2)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, noiseImage(50, 70, 3)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	out := filepath.Join(dir, "out")
	stdout, stderr, code := run(t, "detect", "--weights", w, "--output", out, "--threshold", "0.001", good, truncated, good2)
	if code != ExitFailure {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitFailure, stderr)
	}
	if !strings.Contains(stderr, truncated) {
		t.Errorf("stderr does not name the truncated image:\n%s", stderr)
	}
	for _, p := range []string{good, good2} {
		if strings.Contains(stderr, p+":") {
			t.Errorf("stderr reports the good image %s:\n%s", p, stderr)
		}
		if !strings.Contains(stdout, p+":") {
			t.Errorf("stdout has no line for %s:\n%s", p, stdout)
		}
	}
	js, err := os.ReadFile(filepath.Join(out, "detections.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dets []detectionJSON
	if err := json.Unmarshal(js, &dets); err != nil {
		t.Fatal(err)
	}
	byImage := map[int64]int{}
	for _, d := range dets {
		byImage[d.ImageID]++
		if d.Category != "ring" && d.Category != "square" {
			t.Errorf("category %q", d.Category)
		}
	}
	if byImage[1] == 0 || byImage[3] == 0 || byImage[2] != 0 {
		t.Errorf("detections per image %v, want some for images 1 and 3 and none for 2", byImage)
	}
	for name, want := range map[string]bool{"good.jpg": true, "good2.png": true, "truncated.jpg": false} {
		if _, err := os.Stat(filepath.Join(out, name)); (err == nil) != want {
			t.Errorf("annotated %s: exists %v, want %v", name, err == nil, want)
		}
	}
}
