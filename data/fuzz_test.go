package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds adds every file matching pattern as a seed.
func addSeeds(f *testing.F, pattern string) {
	f.Helper()
	paths, _ := filepath.Glob(pattern)
	if len(paths) == 0 {
		f.Fatalf("no seeds match %s", pattern)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecode decodes arbitrary bytes as an image. A decoded image must
// have the size its header announced, within MaxImagePixels, and a pixel
// buffer of exactly 3·W·H bytes.
func FuzzDecode(f *testing.F) {
	addSeeds(f, "testdata/*.jpg")
	addSeeds(f, "testdata/*.png")
	old := MaxImagePixels
	MaxImagePixels = 1 << 20 // keep the fuzzer's memory small
	defer func() { MaxImagePixels = old }()
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Decode(nil, bytes.NewReader(b))
		if err != nil {
			return
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("decoded, but the header does not: %v", err)
		}
		if img.Width != cfg.Width || img.Height != cfg.Height {
			t.Fatalf("decoded %d×%d, header says %d×%d", img.Width, img.Height, cfg.Width, cfg.Height)
		}
		if img.Width*img.Height > MaxImagePixels || len(img.Pix) != 3*img.Width*img.Height {
			t.Fatalf("%d×%d image with %d bytes (limit %d pixels)", img.Width, img.Height, len(img.Pix), MaxImagePixels)
		}
	})
}

// TestDecodeRefusesHugeHeader checks that a PNG whose header claims
// 60000×60000 pixels is refused from the header, naming the file and the
// limit.
func TestDecodeRefusesHugeHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// IHDR: type at bytes 12..16, width and height at 16..24, CRC of type
	// and data at 29..33.
	for i, v := range []byte{0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60} {
		b[16+i] = v
	}
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	path := filepath.Join(t.TempDir(), "huge.png")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := DecodeFile(nil, path)
	if err == nil {
		t.Fatal("a 60000×60000 header was accepted")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "MaxImagePixels") {
		t.Errorf("error %q should name the file and data.MaxImagePixels", err)
	}
}

// FuzzLoadVOC parses arbitrary bytes as a Pascal VOC annotation. A parsed
// annotation must give finite boxes with x1 ≤ x2 and y1 ≤ y2, classes in
// range and non-negative image sizes.
func FuzzLoadVOC(f *testing.F) {
	addSeeds(f, "testdata/*.xml")
	f.Add([]byte(`<annotation><filename>a.jpg</filename><size><width>4</width><height>4</height></size><object><name>x</name><bndbox><xmin>NaN</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "a.xml"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		ds, err := LoadVOC(dir, dir, nil)
		if err != nil {
			return
		}
		checkDataset(t, ds)
	})
}

// FuzzLoadCOCO parses arbitrary bytes as a COCO instances file, with the
// same checks as FuzzLoadVOC.
func FuzzLoadCOCO(f *testing.F) {
	addSeeds(f, "testdata/*.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "instances.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ds, err := LoadCOCO(path, "images")
		if err != nil {
			return
		}
		checkDataset(t, ds)
	})
}

// checkDataset checks what a loader returns, then that Validate leaves
// only boxes that can be trained on: finite, not inverted, of positive
// size and inside their image.
func checkDataset(t *testing.T, ds *Dataset) {
	t.Helper()
	checkLoaded(t, ds, false)
	if _, err := ds.Validate(ValidateConfig{}); err != nil {
		t.Fatalf("non-strict validation: %v", err)
	}
	checkLoaded(t, ds, true)
}

func checkLoaded(t *testing.T, ds *Dataset, validated bool) {
	t.Helper()
	if len(ds.Classes) != len(ds.CategoryIDs) {
		t.Fatalf("%d classes, %d category ids", len(ds.Classes), len(ds.CategoryIDs))
	}
	for _, s := range ds.Samples {
		if s.Width < 0 || s.Height < 0 {
			t.Fatalf("sample %d: size %d×%d", s.ID, s.Width, s.Height)
		}
		for _, o := range s.Objects {
			b := o.Box
			for _, v := range []float32{b.X1, b.Y1, b.X2, b.Y2} {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("sample %d: non-finite box %v", s.ID, b)
				}
			}
			if validated && !(b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= float32(s.Width) && b.Y2 <= float32(s.Height) && b.W() > 0 && b.H() > 0) {
				t.Fatalf("sample %d: box %v in a %d×%d image after validation", s.ID, b, s.Width, s.Height)
			}
			if o.Class < 0 || o.Class >= len(ds.Classes) || ds.CategoryIDs[o.Class] != o.CategoryID {
				t.Fatalf("sample %d: class %d, category %d of %v", s.ID, o.Class, o.CategoryID, ds.CategoryIDs)
			}
		}
	}
}
