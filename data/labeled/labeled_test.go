package labeled

import (
	"bytes"
	"github.com/spinenet-go/spinenet/internal/idxtest"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A 3-image 2×3 set: pixel (y, x) of image n is 10n + 3y + x.
func smallIDX(t *testing.T, dir string, gzipped bool) (images, labels string) {
	pix := make([]byte, 3*2*3)
	for n := range 3 {
		for i := range 6 {
			pix[n*6+i] = byte(10*n + i)
		}
	}
	img := idxtest.Encode(MagicImages, []uint32{3, 2, 3}, pix)
	lab := idxtest.Encode(MagicLabels, []uint32{3}, []byte{2, 0, 1})
	if gzipped {
		// The images by magic bytes only (no .gz suffix), the labels by both.
		return write(t, dir, "img-idx3-ubyte", idxtest.Gzip(img)), write(t, dir, "lab-idx1-ubyte.gz", idxtest.Gzip(lab))
	}
	return write(t, dir, "img-idx3-ubyte", img), write(t, dir, "lab-idx1-ubyte", lab)
}

func TestReadIDX(t *testing.T) {
	for _, gzipped := range []bool{false, true} {
		dir := t.TempDir()
		s, err := ReadIDX(smallIDX(t, dir, gzipped))
		if err != nil {
			t.Fatal(err)
		}
		if s.N != 3 || s.H != 2 || s.W != 3 || s.C != 1 {
			t.Fatalf("gzip %v: shape %d×%d×%d×%d", gzipped, s.N, s.H, s.W, s.C)
		}
		if !slices.Equal(s.Labels, []int32{2, 0, 1}) || !slices.Equal(s.Classes, []string{"0", "1", "2"}) {
			t.Errorf("labels %v classes %v", s.Labels, s.Classes)
		}
		if !slices.Equal(s.Pixels(2), []byte{20, 21, 22, 23, 24, 25}) {
			t.Errorf("image 2: %v", s.Pixels(2))
		}
		sub := s.Slice(1, 3)
		if sub.N != 2 || sub.Labels[0] != 0 || sub.Pixels(0)[0] != 10 {
			t.Errorf("slice: %+v", sub)
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	dir := t.TempDir()
	goodImg, goodLab := smallIDX(t, dir, false)
	cases := []struct {
		name       string
		img, lab   []byte
		file, want string
	}{
		{"bad image magic", idxtest.Encode(0x00000801, []uint32{3, 2, 3}, make([]byte, 18)), nil, "bad-img", "magic: 0x00000801, want 0x00000803"},
		{"bad label magic", nil, idxtest.Encode(0x00000803, []uint32{3}, make([]byte, 3)), "bad-lab", "magic"},
		{"short image data", idxtest.Encode(MagicImages, []uint32{3, 2, 3}, make([]byte, 17)), nil, "bad-img", "size: 17 data bytes, dimensions [3 2 3] need 18"},
		{"truncated header", []byte{0, 0, 8, 3, 0, 0}, nil, "bad-img", "dimensions: header truncated"},
		{"count mismatch", nil, idxtest.Encode(MagicLabels, []uint32{2}, []byte{0, 1}), "bad-lab", "count: 2 labels for 3 images"},
		{"corrupt gzip", nil, []byte{0x1f, 0x8b, 1, 2, 3}, "bad-lab", "gzip"},
	}
	for _, c := range cases {
		img, lab := goodImg, goodLab
		if c.img != nil {
			img = write(t, dir, "bad-img", c.img)
		}
		if c.lab != nil {
			lab = write(t, dir, "bad-lab", c.lab)
		}
		_, err := ReadIDX(img, lab)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.file)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s and %q", c.name, err, c.file, c.want)
		}
	}
	if _, err := ReadIDX(filepath.Join(dir, "absent"), goodLab); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("missing file: %v", err)
	}
	s, _ := ReadIDX(goodImg, goodLab)
	if err := s.WithClasses([]string{"a", "b"}); err == nil || !strings.Contains(err.Error(), "label 2") {
		t.Errorf("WithClasses with too few names: %v", err)
	}
}

func writePNG(t *testing.T, path string, w, h int, f func(x, y int) color.RGBA) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, f(x, y))
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadImageFolder(t *testing.T) {
	dir := t.TempDir()
	red := func(x, y int) color.RGBA { return color.RGBA{uint8(10 * x), uint8(10 * y), 0, 255} }
	writePNG(t, filepath.Join(dir, "cat", "b.png"), 6, 4, red)
	writePNG(t, filepath.Join(dir, "cat", "a.PNG"), 4, 4, red)
	writePNG(t, filepath.Join(dir, "ant", "x.png"), 4, 8, red)
	os.WriteFile(filepath.Join(dir, "cat", "notes.txt"), []byte("x"), 0o644)
	s, err := ReadImageFolder(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Classes, []string{"ant", "cat"}) || !slices.Equal(s.Labels, []int32{0, 1, 1}) || s.N != 3 || s.C != 3 {
		t.Fatalf("classes %v labels %v", s.Classes, s.Labels)
	}
	if filepath.Base(s.Paths[1]) != "a.PNG" {
		t.Errorf("files not sorted: %v", s.Paths)
	}
	// Evaluation: the centred square (x 1…4 of the 6×4 image), at its own
	// size, is copied exactly.
	tf := Transform{Size: 4, Channels: 3, Std: [3]float32{1, 1, 1}}
	dst := make([]float32, tf.Floats())
	if err := s.Fill(dst, 2, tf, nil, nil); err != nil {
		t.Fatal(err)
	}
	for y := range 4 {
		for x := range 4 {
			got := [2]float32{dst[(y*4+x)*3] * 255, dst[(y*4+x)*3+1] * 255}
			want := [2]float32{float32(10 * (x + 1)), float32(10 * y)}
			if math.Abs(float64(got[0]-want[0])) > 1e-3 || math.Abs(float64(got[1]-want[1])) > 1e-3 {
				t.Fatalf("(%d,%d): %v, want %v", x, y, got, want)
			}
		}
	}
	// Selected classes, in the given order; an empty class names its dir.
	s, err = ReadImageFolder(dir, []string{"cat", "ant"})
	if err != nil || !slices.Equal(s.Labels, []int32{0, 0, 1}) {
		t.Fatalf("%v %v", err, s)
	}
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	if _, err := ReadImageFolder(dir, nil); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "empty")) {
		t.Errorf("empty class: %v", err)
	}
	if _, err := ReadImageFolder(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "no class directories") {
		t.Errorf("empty root: %v", err)
	}
}

// gridSet is an IDX set of n images of size×size whose pixel (x, y) of
// image i is (i + 7x + 3y) mod 256.
func gridSet(n, size int) *Set {
	s := &Set{N: n, H: size, W: size, C: 1, Classes: []string{"a", "b"}, Source: "grid"}
	for i := range n {
		s.Labels = append(s.Labels, int32(i%2))
		for y := range size {
			for x := range size {
				s.pix = append(s.pix, uint8((i+7*x+3*y)%256))
			}
		}
	}
	return s
}

// Raw transform: values are pixel/255 exactly, one channel.
func rawTransform(size int) Transform {
	return Transform{Size: size, Channels: 1, Std: [3]float32{1, 1, 1}}
}

func pixel(dst []float32, size, x, y int) float32 { return dst[y*size+x] * 255 }

func TestFlipAndShift(t *testing.T) {
	const S = 8
	s := gridSet(1, S)
	tf := rawTransform(S)
	plain := make([]float32, S*S)
	render(plain, s.Pixels(0), S, 1, 0, 0, S, S, tf, false, 0, 0, new(Scratch))
	for y := range S {
		for x := range S {
			if got, want := pixel(plain, S, x, y), float32((7*x+3*y)%256); math.Abs(float64(got-want)) > 1e-3 {
				t.Fatalf("plain (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
	flipped := make([]float32, S*S)
	render(flipped, s.Pixels(0), S, 1, 0, 0, S, S, tf, true, 0, 0, new(Scratch))
	shifted := make([]float32, S*S)
	const dx, dy = 2, -3
	render(shifted, s.Pixels(0), S, 1, 0, 0, S, S, tf, false, dx, dy, new(Scratch))
	for y := range S {
		for x := range S {
			if flipped[y*S+x] != plain[y*S+S-1-x] {
				t.Fatalf("flip (%d,%d) = %v, want %v", x, y, flipped[y*S+x], plain[y*S+S-1-x])
			}
			want := float32(0) // black padding
			if sx, sy := x+dx, y+dy; sx >= 0 && sx < S && sy >= 0 && sy < S {
				want = plain[sy*S+sx]
			}
			if shifted[y*S+x] != want {
				t.Fatalf("shift (%d,%d) = %v, want %v", x, y, shifted[y*S+x], want)
			}
		}
	}
}

// Normalisation, gray → RGB replication and bilinear upsampling.
func TestNormaliseAndResize(t *testing.T) {
	s := &Set{N: 1, H: 2, W: 2, C: 1, pix: []uint8{0, 100, 200, 50}, Labels: []int32{0}, Classes: []string{"a"}}
	tf := Transform{Size: 4, Channels: 3, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.25, 0.5, 1}}
	dst := make([]float32, tf.Floats())
	if err := s.Fill(dst, 0, tf, nil, nil); err != nil {
		t.Fatal(err)
	}
	// Output (1, 0) samples source x = (1.5)/2 − 0.5 = 0.25 in row 0:
	// 0 + 0.25·100 = 25.
	raw := func(x, y, c int) float32 { return (dst[(y*4+x)*3+c]*tf.Std[c] + tf.Mean[c]) * 255 }
	for c := range 3 {
		if got := raw(1, 0, c); math.Abs(float64(got-25)) > 1e-3 {
			t.Errorf("channel %d: pixel (1,0) = %v, want 25", c, got)
		}
		if got := raw(3, 3, c); math.Abs(float64(got-50)) > 1e-3 {
			t.Errorf("channel %d: corner (3,3) = %v, want 50", c, got)
		}
	}
	if m, sd, _ := s.Stats(); math.Abs(m-350.0/4/255) > 1e-9 || sd <= 0 {
		t.Errorf("stats %v %v", m, sd)
	}
}

func collect(t *testing.T, s *Set, cfg LoaderConfig) ([][]float32, [][]int32) {
	t.Helper()
	l, err := NewLoader(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var imgs [][]float32
	var labs [][]int32
	for {
		b, err := l.NextBatch()
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			return imgs, labs
		}
		imgs = append(imgs, slices.Clone(b.Images.Data()))
		labs = append(labs, slices.Clone(b.Labels))
	}
}

// The same seed gives the same batches with any number of workers, and a
// resumed epoch (Skip) continues with exactly the remaining batches.
func TestLoaderDeterminism(t *testing.T) {
	s := gridSet(37, 8)
	tf := rawTransform(8)
	tf.Augment = Augment{Flip: true, CropPad: 2}
	cfg := LoaderConfig{BatchSize: 5, Transform: tf, Seed: 3, Epoch: 2, Shuffle: true, DropLast: true, Workers: 1}
	ref, refLab := collect(t, s, cfg)
	if len(ref) != 7 {
		t.Fatalf("%d batches, want 7", len(ref))
	}
	for _, w := range []int{2, 5} {
		cfg.Workers, cfg.Prefetch = w, w
		got, gotLab := collect(t, s, cfg)
		for i := range ref {
			if !slices.Equal(got[i], ref[i]) || !slices.Equal(gotLab[i], refLab[i]) {
				t.Fatalf("workers %d: batch %d differs", w, i)
			}
		}
	}
	cfg.Skip = 4
	got, _ := collect(t, s, cfg)
	if len(got) != 3 || !slices.Equal(got[0], ref[4]) {
		t.Errorf("skip 4: %d batches", len(got))
	}
	// Another epoch: another order and other augmentations.
	cfg.Skip, cfg.Epoch = 0, 3
	other, _ := collect(t, s, cfg)
	if slices.Equal(other[0], ref[0]) {
		t.Error("epochs 2 and 3 gave the same first batch")
	}
	// Without DropLast the last batch is partial; evaluation covers all.
	cfg = LoaderConfig{BatchSize: 5, Transform: rawTransform(8)}
	all, labs := collect(t, s, cfg)
	if len(all) != 8 || len(labs[7]) != 2 || len(all[7]) != 2*64 {
		t.Errorf("eval: %d batches, last %d labels", len(all), len(labs[len(labs)-1]))
	}
}

// Augmented samples are flips and shifts of the plain image: every sample
// equals one of the (2·pad+1)²·2 candidates.
func TestAugmentIsFlipAndShift(t *testing.T) {
	const S, pad = 8, 2
	s := gridSet(20, S)
	tf := rawTransform(S)
	tf.Augment = Augment{Flip: true, CropPad: pad}
	seen := map[[3]int]bool{}
	for i := range s.N {
		got := make([]float32, S*S)
		if err := s.Fill(got, i, tf, SampleRNG(1, 0, i), nil); err != nil {
			t.Fatal(err)
		}
		found := false
		for f := range 2 {
			for dx := -pad; dx <= pad && !found; dx++ {
				for dy := -pad; dy <= pad && !found; dy++ {
					want := make([]float32, S*S)
					render(want, s.Pixels(i), S, 1, 0, 0, S, S, rawTransform(S), f == 1, dx, dy, new(Scratch))
					if slices.Equal(got, want) {
						found = true
						seen[[3]int{f, dx, dy}] = true
					}
				}
			}
		}
		if !found {
			t.Fatalf("sample %d is no flip/shift of the image", i)
		}
	}
	if len(seen) < 5 {
		t.Errorf("only %d distinct augmentations in 20 samples", len(seen))
	}
}

func TestLoaderClose(t *testing.T) {
	s := gridSet(100, 8)
	l, err := NewLoader(s, LoaderConfig{BatchSize: 2, Transform: rawTransform(8), Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := l.NextBatch(); err != nil || b == nil {
		t.Fatal(err)
	}
	l.Close() // mid-epoch, with workers busy
	l.Close()
}
