package data_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spinenet-go/spinenet/data"
)

// collect runs a loader to the end and returns copies of its batches.
func collect(t *testing.T, ds *data.Dataset, cfg data.LoaderConfig) ([]data.Batch, [][]float32, data.Report) {
	t.Helper()
	l, err := data.NewLoader(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var batches []data.Batch
	var images [][]float32
	for b, err := range l.All() {
		if err != nil {
			t.Fatal(err)
		}
		c := *b
		c.Objects = make([][]data.Object, len(b.Objects))
		for i := range b.Objects {
			c.Objects[i] = slices.Clone(b.Objects[i])
		}
		c.Samples = slices.Clone(b.Samples)
		c.Placements = slices.Clone(b.Placements)
		c.Scales = slices.Clone(b.Scales)
		batches = append(batches, c)
		images = append(images, slices.Clone(b.Images.Data()))
	}
	return batches, images, l.Report()
}

func TestLoaderDeterministic(t *testing.T) {
	ds := loadCOCO128(t)
	n := 22 // not a multiple of the batch size
	if testing.Short() {
		n = 10
	}
	ds, _ = data.Split(ds, n)
	full, perEpoch := n/4, (n+3)/4
	cfg := data.LoaderConfig{
		BatchSize: 4, Shuffle: true, Seed: 11, Epochs: 2, Train: true,
		Transform: data.DefaultTransform(64), Prefetch: 1,
	}
	cfg.Workers = 1
	b1, im1, _ := collect(t, ds, cfg)
	cfg.Workers = 4
	b4, im4, _ := collect(t, ds, cfg)
	if len(b1) != 2*perEpoch || len(b4) != 2*perEpoch {
		t.Fatalf("got %d and %d batches, want %d", len(b1), len(b4), 2*perEpoch)
	}
	for i := range b1 {
		if !slices.Equal(im1[i], im4[i]) {
			t.Fatalf("batch %d: images differ between 1 and 4 workers", i)
		}
		if b1[i].Epoch != b4[i].Epoch || b1[i].Index != b4[i].Index || !slices.Equal(b1[i].Samples, b4[i].Samples) ||
			!slices.Equal(b1[i].Placements, b4[i].Placements) || !slices.EqualFunc(b1[i].Objects, b4[i].Objects, eqObjects) {
			t.Fatalf("batch %d differs between 1 and 4 workers", i)
		}
	}
	last, next := b1[perEpoch-1], b1[perEpoch]
	if last.Images.Dim(0) != n%4 || last.Index != perEpoch-1 || next.Epoch != 1 || next.Index != 0 {
		t.Errorf("last batch of epoch 0: %v images, index %d; next batch: epoch %d", last.Images.Shape(), last.Index, next.Epoch)
	}
	// Each epoch is a permutation, and the two epochs differ.
	var e0, e1 []int64
	for _, b := range b1 {
		for _, s := range b.Samples {
			if b.Epoch == 0 {
				e0 = append(e0, s.ID)
			} else {
				e1 = append(e1, s.ID)
			}
		}
	}
	if slices.Equal(e0, e1) {
		t.Error("shuffle gave the same order in both epochs")
	}
	slices.Sort(e0)
	slices.Sort(e1)
	if !slices.Equal(e0, e1) || len(slices.Compact(e0)) != n {
		t.Error("an epoch is not a permutation of the samples")
	}
	// A different seed gives different augmentations.
	cfg.Seed = 12
	b5, _, _ := collect(t, ds, cfg)
	if slices.Equal(b5[0].Placements, b1[0].Placements) {
		t.Error("seed does not change the batches")
	}
	// DropLast.
	cfg.DropLast = true
	bd, _, _ := collect(t, ds, cfg)
	if len(bd) != 2*full {
		t.Errorf("DropLast: %d batches, want %d", len(bd), 2*full)
	}
}

func eqObjects(a, b []data.Object) bool {
	return slices.EqualFunc(a, b, func(x, y data.Object) bool { return x.Box == y.Box && x.Class == y.Class && x.Crowd == y.Crowd })
}

func TestLoaderEval(t *testing.T) {
	// All 200 raccoon images (three are grayscale JPEGs) decode, match
	// their annotated sizes, and their boxes map back exactly.
	val := loadRaccoon(t)
	if testing.Short() {
		_, val = data.Split(val, 190)
	}
	tr := data.DefaultTransform(128)
	batches, _, rep := collect(t, val, data.LoaderConfig{BatchSize: 3, Workers: 2, Epochs: 1, Transform: tr})
	if len(batches) != (len(val.Samples)+2)/3 || rep.SkippedSamples != 0 {
		t.Fatalf("%d batches, report %s", len(batches), rep)
	}
	for _, b := range batches {
		for i, s := range b.Samples {
			p := b.Placements[i]
			if p.Flipped || p.OffsetX != 0 || max(p.Width, p.Height) != 128 || b.Scales[i] != p.Scale {
				t.Errorf("%s: eval placement %+v", s.Path, p)
			}
			if len(b.Objects[i]) != len(s.Objects) {
				t.Errorf("%s: %d objects, want %d", s.Path, len(b.Objects[i]), len(s.Objects))
			}
			for k, o := range b.Objects[i] {
				if d := maxAbsDiff(p.ToOriginal(o.Box), s.Objects[k].Box); d > 1e-3 {
					t.Errorf("%s: box maps back off by %g", s.Path, d)
				}
			}
		}
	}
}

func TestLoaderCorruptImage(t *testing.T) {
	ds := loadCOCO128(t)
	ds, _ = data.Split(ds, 4)
	dir := t.TempDir()
	for i := range ds.Samples {
		s := &ds.Samples[i]
		raw, err := os.ReadFile(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			raw = raw[:len(raw)/3] // truncated JPEG
		}
		s.Path = filepath.Join(dir, filepath.Base(s.Path))
		if err := os.WriteFile(s.Path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := ds.Samples[1].Path
	cfg := data.LoaderConfig{BatchSize: 2, Workers: 2, Epochs: 2, Train: true, Transform: data.DefaultTransform(64)}
	batches, _, rep := collect(t, ds, cfg)
	// 3 good images per epoch: batches of 2 and 1, twice.
	if len(batches) != 4 || batches[0].Images.Dim(0) != 2 || batches[1].Images.Dim(0) != 1 {
		t.Fatalf("%d batches", len(batches))
	}
	for _, b := range batches {
		for _, s := range b.Samples {
			if s.Path == bad {
				t.Error("corrupt sample delivered")
			}
		}
	}
	if rep.SkippedSamples != 1 || rep.Counts[data.ReasonUnreadable] != 1 || !strings.Contains(rep.String(), bad) {
		t.Errorf("report: %s", rep)
	}

	cfg.Strict = true
	l, err := data.NewLoader(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var serr *data.SampleError
	for {
		_, err := l.Next()
		if err == io.EOF {
			t.Fatal("strict loader did not fail")
		}
		if err != nil {
			if !errors.As(err, &serr) || serr.Path != bad || serr.Reason != data.ReasonUnreadable || !strings.Contains(err.Error(), bad) {
				t.Fatalf("strict error %v", err)
			}
			break
		}
	}
	if _, err2 := l.Next(); err2 == nil {
		t.Error("error not sticky")
	}
}

func TestLoaderSizeMismatchAndMaxObjects(t *testing.T) {
	ds, src, err := data.GenerateShapes(6, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ds.Samples[2].Width = 65 // annotation disagrees with the image
	for len(ds.Samples[0].Objects) < 3 {
		ds.Samples[0].Objects = append(ds.Samples[0].Objects, ds.Samples[0].Objects[0])
	}
	batches, _, rep := collect(t, ds, data.LoaderConfig{BatchSize: 8, Epochs: 1, Source: src, MaxObjects: 2, Transform: data.DefaultTransform(64)})
	if len(batches) != 1 || len(batches[0].Samples) != 5 || rep.Counts[data.ReasonSizeMismatch] != 1 {
		t.Fatalf("%d batches, report %s", len(batches), rep)
	}
	if len(batches[0].Objects[0]) != 2 {
		t.Errorf("MaxObjects: %d objects", len(batches[0].Objects[0]))
	}
}

func TestLoaderClose(t *testing.T) {
	ds, src, _ := data.GenerateShapes(8, 64, 2)
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: 2, Workers: 3, Source: src, Train: true, Shuffle: true, Transform: data.DefaultTransform(64)})
	if err != nil {
		t.Fatal(err)
	}
	for range 7 { // unlimited epochs: cross several epoch boundaries
		if _, err := l.Next(); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { l.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	if _, err := l.Next(); err != io.EOF {
		t.Errorf("Next after Close: %v", err)
	}
}

func TestLoaderConfigErrors(t *testing.T) {
	ds, src, _ := data.GenerateShapes(2, 64, 2)
	for _, cfg := range []data.LoaderConfig{
		{BatchSize: 0, Source: src, Transform: data.DefaultTransform(64)},
		{BatchSize: 1, Source: src},
	} {
		if _, err := data.NewLoader(ds, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := data.NewLoader(&data.Dataset{}, data.LoaderConfig{BatchSize: 1, Transform: data.DefaultTransform(64)}); err == nil {
		t.Error("empty dataset accepted")
	}
}

// BenchmarkLoader measures end-to-end loader throughput (decode, train
// transform, batching) on coco128 with 2 workers.
func BenchmarkLoader(b *testing.B) {
	ds := loadCOCO128(b)
	for _, size := range []int{384, 640} {
		b.Run(fmt.Sprintf("size=%d/workers=2", size), func(b *testing.B) {
			l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: 8, Workers: 2, Shuffle: true, Train: true, Transform: data.DefaultTransform(size)})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			if _, err := l.Next(); err != nil { // warm up the pipeline
				b.Fatal(err)
			}
			b.ResetTimer()
			n := 0
			for b.Loop() {
				bt, err := l.Next()
				if err != nil {
					b.Fatal(err)
				}
				n += bt.Images.Dim(0)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkDecodeTransform measures one 640×480 JPEG decode plus the eval
// transform to 640 on one goroutine, and the two stages separately.
func BenchmarkDecodeTransform(b *testing.B) {
	ds := loadCOCO128(b)
	s := ds.Samples[0] // 000000000009.jpg, 640×480
	raw, err := os.ReadFile(s.Path)
	if err != nil {
		b.Fatal(err)
	}
	tr := data.DefaultTransform(640)
	pix := make([]float32, 640*640*3)
	var rgb data.RGB
	b.Run("decode+eval", func(b *testing.B) {
		for b.Loop() {
			img, err := data.Decode(&rgb, strings.NewReader(string(raw)))
			if err != nil {
				b.Fatal(err)
			}
			tr.Eval(pix, img, s.Objects, nil)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := data.Decode(&rgb, strings.NewReader(string(raw))); err != nil {
				b.Fatal(err)
			}
		}
	})
	img, _ := data.Decode(&rgb, strings.NewReader(string(raw)))
	b.Run("eval", func(b *testing.B) {
		for b.Loop() {
			tr.Eval(pix, img, s.Objects, nil)
		}
	})
}
