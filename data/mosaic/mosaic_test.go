package mosaic

import (
	"bytes"
	"errors"
	"github.com/spinenet-go/spinenet/internal/idxtest"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/data/labeled"
	"github.com/spinenet-go/spinenet/data/pipeline"
)

// bar is a 28×28 item: a bar of w×h pixels (textured, 120..250) centred on
// a black background.
func bar(w, h int) []byte {
	p := make([]byte, 28*28)
	x0, y0 := (28-w)/2, (28-h)/2
	for y := y0; y < y0+h; y++ {
		for x := x0; x < x0+w; x++ {
			p[y*28+x] = byte(120 + (7*x+13*y)%131)
		}
	}
	return p
}

// writeSet writes n items to dir as IDX files named images and labels
// (gzipped when the name ends in .gz): item i is shapes[i%len] with
// label labels[i%len].
func writeSet(t *testing.T, dir, images, labels string, n int, shapes [][]byte, labs []byte) {
	t.Helper()
	var pix, lab []byte
	for i := range n {
		pix = append(pix, shapes[i%len(shapes)]...)
		lab = append(lab, labs[i%len(labs)])
	}
	img, l := idxtest.Encode(labeled.MagicImages, []uint32{uint32(n), 28, 28}, pix), idxtest.Encode(labeled.MagicLabels, []uint32{uint32(n)}, lab)
	if strings.HasSuffix(images, ".gz") {
		img = idxtest.Gzip(img)
	}
	if strings.HasSuffix(labels, ".gz") {
		l = idxtest.Gzip(l)
	}
	if err := os.WriteFile(filepath.Join(dir, images), img, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, labels), l, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tallWide writes a Fashion-MNIST-like directory: the training items are
// tall bars (labels 0 and 2), the t10k items wide bars (label 1), so a
// box's shape tells which file its item came from.
func tallWide(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeSet(t, dir, TrainImages, TrainLabels, 20, [][]byte{bar(6, 24), bar(8, 20)}, []byte{0, 2})
	writeSet(t, dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 9, [][]byte{bar(24, 6), bar(20, 8), bar(22, 5)}, []byte{1})
	return dir
}

func load(t *testing.T, dir string) (train, test *labeled.Set) {
	t.Helper()
	train, test, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

// The same config gives the same images and objects; another seed does
// not.
func TestDeterministic(t *testing.T) {
	train, _ := load(t, tallWide(t))
	c := Config{N: 6, Size: 64, Seed: 3, MinSide: 8, MaxSide: 50, Tint: 0.5}
	a, sa, err := Generate(train, c)
	if err != nil {
		t.Fatal(err)
	}
	b, sb, _ := Generate(train, c)
	c.Seed = 4
	o, so, _ := Generate(train, c)
	same := true
	for i, s := range a.Samples {
		if !slices.EqualFunc(s.Objects, b.Samples[i].Objects, func(x, y data.Object) bool { return x.Box == y.Box && x.Class == y.Class }) ||
			!bytes.Equal(sa.Image(s.ID).(*image.RGBA).Pix, sb.Image(s.ID).(*image.RGBA).Pix) {
			t.Fatalf("image %d differs between two runs of one config", i)
		}
		same = same && bytes.Equal(sa.Image(s.ID).(*image.RGBA).Pix, so.Image(s.ID).(*image.RGBA).Pix)
	}
	if same {
		t.Error("seeds 3 and 4 gave the same images")
	}
	if o.Samples[0].ID != 1 || o.Samples[5].Path != "mosaic/000006" {
		t.Errorf("ids/paths %d %q", o.Samples[0].ID, o.Samples[5].Path)
	}
}

// Every object's box lies in the canvas and is the tight box of its
// visible mask; the masks do not overlap; every pixel that differs from
// the bare background belongs to exactly one mask; each box's border rows
// and columns hold a changed pixel of its item.
func TestBoxesTightAroundVisiblePixels(t *testing.T) {
	train, _ := load(t, tallWide(t))
	for _, c := range []Config{
		{N: 40, Size: 64, Seed: 1, MinSide: 6, MaxSide: 60, MaxItems: 6, Tint: 0.5},
		{N: 20, Size: 96, Seed: 2, MinSide: 20, MaxSide: 90, MaxItems: 8, MinVisible: 0.3},
	} {
		ds, src, err := Generate(train, c)
		if err != nil {
			t.Fatal(err)
		}
		objects, occluded := 0, 0
		for i, s := range ds.Samples {
			// The image's random numbers start with its background.
			bg := background(rand.New(rand.NewPCG(uint64(c.Seed), pipeline.Mix(uint64(i), 11, 0))), c.Size)
			img := src.Image(s.ID).(*image.RGBA)
			owner := make([]int, c.Size*c.Size)
			for k, o := range s.Objects {
				objects++
				mb, ok := o.Mask.Box()
				if !ok || mb != o.Box || o.Box.X1 < 0 || o.Box.Y1 < 0 || o.Box.X2 > float32(c.Size) || o.Box.Y2 > float32(c.Size) {
					t.Fatalf("image %d object %d: box %v, mask box %v (%v)", i, k, o.Box, mb, ok)
				}
				if int(o.Area) != o.Mask.Area() {
					t.Errorf("image %d object %d: area %v, mask %d", i, k, o.Area, o.Mask.Area())
				}
				for y := range c.Size {
					for x := range c.Size {
						if o.Mask.At(x, y) {
							if owner[y*c.Size+x] != 0 {
								t.Fatalf("image %d: pixel (%d, %d) in the masks of objects %d and %d", i, x, y, owner[y*c.Size+x]-1, k)
							}
							owner[y*c.Size+x] = k + 1
						}
					}
				}
			}
			edges := make([][4]bool, len(s.Objects)) // a changed pixel on the box's left, top, right, bottom line
			for y := range c.Size {
				for x := range c.Size {
					changed := false
					for ch := range 3 {
						changed = changed || img.Pix[img.PixOffset(x, y)+ch] != clamp8(bg[3*(y*c.Size+x)+ch])
					}
					k := owner[y*c.Size+x] - 1
					if changed && k < 0 {
						t.Fatalf("image %d: pixel (%d, %d) changed but in no object's mask", i, x, y)
					}
					if changed {
						b := s.Objects[k].Box
						e := &edges[k]
						e[0] = e[0] || x == int(b.X1)
						e[1] = e[1] || y == int(b.Y1)
						e[2] = e[2] || x == int(b.X2)-1
						e[3] = e[3] || y == int(b.Y2)-1
					}
				}
			}
			for k, e := range edges {
				if e != [4]bool{true, true, true, true} {
					t.Errorf("image %d object %d: box %v has no changed pixel on some side %v", i, k, s.Objects[k].Box, e)
				}
			}
			for k, o := range s.Objects {
				// MinVisible bounds how much of the item the later ones cover;
				// the scaled item's full size is its long side ≈ the drawn one.
				if float64(max(o.Box.W(), o.Box.H())) > c.MaxSide+2 {
					t.Errorf("image %d object %d: box %v longer than MaxSide %v", i, k, o.Box, c.MaxSide)
				}
				if float64(max(o.Box.W(), o.Box.H())) < c.MinSide-2 {
					occluded++
				}
			}
		}
		if objects < c.N {
			t.Errorf("%+v: %d objects in %d images", c, objects, c.N)
		}
		if occluded > objects/4 {
			t.Errorf("%+v: %d of %d objects shorter than MinSide", c, occluded, objects)
		}
		if rep, err := ds.Validate(data.ValidateConfig{Strict: true}); err != nil || rep.Problems() != 0 {
			t.Errorf("Validate: %v %+v", err, rep)
		}
	}
}

// Sides are log-uniform over [MinSide, MaxSide]: with nothing occluded
// (MinVisible 1) about half the long sides fall below the geometric mean,
// and the extremes come near both ends.
func TestSidesLogUniform(t *testing.T) {
	train, _ := load(t, tallWide(t))
	c := Config{N: 150, Size: 128, Seed: 5, MinSide: 10, MaxSide: 110, MinVisible: 1}
	ds, _, err := Generate(train, c)
	if err != nil {
		t.Fatal(err)
	}
	var sides []float64
	for _, s := range ds.Samples {
		for _, o := range s.Objects {
			sides = append(sides, float64(max(o.Box.W(), o.Box.H())))
		}
	}
	gm := math.Sqrt(c.MinSide * c.MaxSide)
	below := 0
	for _, v := range sides {
		if v < c.MinSide-2 || v > c.MaxSide+2 {
			t.Errorf("long side %v outside [%v, %v] ± 2", v, c.MinSide, c.MaxSide)
		}
		if v < gm {
			below++
		}
	}
	frac := float64(below) / float64(len(sides))
	if len(sides) < 200 || frac < 0.4 || frac > 0.6 || slices.Min(sides) > 13 || slices.Max(sides) < 90 {
		t.Errorf("%d sides, %.2f below %v, range [%v, %v]", len(sides), frac, gm, slices.Min(sides), slices.Max(sides))
	}
}

// Splits takes training items from one set and validation items from the
// other (tall and wide bars here), with disjoint ids in one source; class
// ids are in range and Merge maps labels to classes.
func TestSplitsDisjointSourcesAndClasses(t *testing.T) {
	train, test := load(t, tallWide(t))
	c := Config{Size: 64, Seed: 1, MinSide: 10, MaxSide: 50, MinVisible: 1}
	tr, va, src, err := Splits(train, test, 12, 7, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Samples) != 12 || len(va.Samples) != 7 || va.Samples[0].ID != 13 || va.Samples[6].ID != 19 {
		t.Fatalf("%d + %d samples, val ids %d..", len(tr.Samples), len(va.Samples), va.Samples[0].ID)
	}
	if !slices.Equal(tr.Classes, []string{"0", "1", "2"}) || !slices.Equal(tr.CategoryIDs, []int{1, 2, 3}) {
		t.Errorf("classes %q ids %v", tr.Classes, tr.CategoryIDs)
	}
	for _, ds := range []*data.Dataset{tr, va} {
		for _, s := range ds.Samples {
			if src.Image(s.ID) == nil {
				t.Errorf("%s: no image for id %d", ds.Name, s.ID)
			}
			for _, o := range s.Objects {
				tall := o.Box.H() > o.Box.W()
				if tall != (ds == tr) {
					t.Errorf("%s: object %v from the wrong item set", ds.Name, o.Box)
				}
				if o.Class < 0 || o.Class >= len(ds.Classes) || o.CategoryID != o.Class+1 {
					t.Errorf("%s: class %d, category %d", ds.Name, o.Class, o.CategoryID)
				}
				if tall == (o.Class == 1) {
					t.Errorf("%s: %v has class %d (label 1 is the wide bars)", ds.Name, o.Box, o.Class)
				}
			}
		}
	}
	// Labels 0 and 2 (tall) merged into one class.
	c.Merge = []string{"tall", "wide", "tall"}
	tr, va, _, err = Splits(train, test, 12, 7, c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(va.Classes, []string{"tall", "wide"}) {
		t.Fatalf("merged classes %q", va.Classes)
	}
	for _, ds := range []*data.Dataset{tr, va} {
		for _, s := range ds.Samples {
			for _, o := range s.Objects {
				if want := map[bool]int{true: 0, false: 1}[o.Box.H() > o.Box.W()]; o.Class != want || o.CategoryID != want+1 {
					t.Errorf("%s: %v has class %d, want %d", ds.Name, o.Box, o.Class, want)
				}
			}
		}
	}
}

// A missing file names itself and the package to install; bad configs name
// their field.
func TestErrors(t *testing.T) {
	_, _, err := Load(t.TempDir())
	if !errors.Is(err, ErrNoDataset) || !strings.Contains(err.Error(), TrainImages) || !strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") {
		t.Errorf("empty dir: %v", err)
	}
	dir := tallWide(t)
	os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte"))
	if _, _, err := Load(dir); !errors.Is(err, ErrNoDataset) || !strings.Contains(err.Error(), "t10k-labels-idx1-ubyte") {
		t.Errorf("no t10k labels: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte"), []byte{0, 0, 8, 3}, 0o644)
	var fe *labeled.FormatError
	if _, _, err := Load(dir); !errors.As(err, &fe) || errors.Is(err, ErrNoDataset) {
		t.Errorf("bad t10k labels: %v", err)
	}
	train, _ := load(t, tallWide(t))
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{N: 1, Size: 16}, "Size"},
		{Config{N: -1, Size: 64}, "N -1"},
		{Config{N: 1, Size: 64, MinSide: 40, MaxSide: 20}, "MinSide/MaxSide"},
		{Config{N: 1, Size: 64, MaxSide: 65}, "MinSide/MaxSide"},
		{Config{N: 1, Size: 64, MaxItems: -1}, "MaxItems"},
		{Config{N: 1, Size: 64, Tint: 1.5}, "Tint"},
		{Config{N: 1, Size: 64, MinVisible: 2}, "MinVisible"},
		{Config{N: 1, Size: 64, Merge: []string{"a", "b"}}, "Merge names 2 labels"},
		{Config{N: 1, Size: 64, Merge: []string{"a", "", "c"}}, "Merge[1]"},
	} {
		if _, _, err := Generate(train, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
	if _, _, err := Generate(nil, Config{N: 1, Size: 64}); err == nil {
		t.Error("nil items accepted")
	}
}

// The installed Fashion-MNIST (skipped when absent) gives 60,000 + 10,000
// items, ten named classes and valid mosaics.
func TestFashionMNIST(t *testing.T) {
	train, test, err := Load("")
	if errors.Is(err, ErrNoDataset) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 60000 || test.N != 10000 || train.H != 28 || len(train.Classes) != 10 {
		t.Fatalf("train %d, test %d, %d×%d, %d classes", train.N, test.N, train.H, train.W, len(train.Classes))
	}
	tr, va, _, err := Splits(train, test, 8, 4, Config{Size: 128, Seed: 1, MinSide: 10, MaxSide: 110, Tint: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tr.Classes, FashionClasses) {
		t.Errorf("classes %q", tr.Classes)
	}
	for _, ds := range []*data.Dataset{tr, va} {
		n, _ := ds.NumObjects()
		if rep, err := ds.Validate(data.ValidateConfig{Strict: true}); err != nil || rep.Problems() != 0 || n < len(ds.Samples) {
			t.Errorf("%s: %d objects, Validate %v %+v", ds.Name, n, err, rep)
		}
	}
}
