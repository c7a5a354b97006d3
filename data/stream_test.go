package data_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"io"
	"math"
	"testing"

	"github.com/spinenet-go/spinenet/data"
)

// streamHash hashes everything a loader hands out: pixels, objects,
// placements, sample ids and batch positions.
func streamHash(t *testing.T, ds *data.Dataset, cfg data.LoaderConfig) string {
	t.Helper()
	h, err := loaderHash(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// loaderHash is streamHash for any goroutine.
func loaderHash(ds *data.Dataset, cfg data.LoaderConfig) (string, error) {
	l, err := data.NewLoader(ds, cfg)
	if err != nil {
		return "", err
	}
	defer l.Close()
	h := sha256.New()
	for {
		b, err := l.Next()
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
		hashBatch(h, b)
	}
}

func hashBatch(h hash.Hash, b *data.Batch) {
	w := func(vs ...float32) {
		for _, v := range vs {
			binary.Write(h, binary.LittleEndian, math.Float32bits(v))
		}
	}
	wi := func(vs ...int) {
		for _, v := range vs {
			binary.Write(h, binary.LittleEndian, int64(v))
		}
	}
	wi(b.Epoch, b.Index, b.Images.Len())
	w(b.Images.Data()...)
	for i, objs := range b.Objects {
		p := b.Placements[i]
		wi(int(b.Samples[i].ID), len(objs), p.OffsetX, p.OffsetY, p.Width, p.Height, p.OrigWidth, p.OrigHeight)
		if p.Flipped {
			wi(1)
		}
		w(p.Scale, b.Scales[i])
		for _, o := range objs {
			w(o.Box.X1, o.Box.Y1, o.Box.X2, o.Box.Y2, o.Area)
			wi(o.Class, o.CategoryID)
			if o.Crowd {
				wi(1)
			}
		}
	}
}

// missingSource hides the image of one sample id, so that the loader must
// skip it.
type missingSource struct {
	*data.MemorySource
	missing int64
}

func (m missingSource) Open(s *data.Sample, dst *data.RGB) (*data.RGB, error) {
	if s.ID == m.missing {
		return nil, io.ErrUnexpectedEOF
	}
	return m.MemorySource.Open(s, dst)
}

// The loader's output stream is pinned: the hashes were recorded before the
// loader moved onto data/pipeline, and the shipped demo and raccoon numbers
// depend on this augmentation stream. Any change of order, RNG derivation,
// resampling or box arithmetic shows up here.
func TestLoaderStreamGolden(t *testing.T) {
	ds, mem, err := data.GenerateShapes(11, 48, 3)
	if err != nil {
		t.Fatal(err)
	}
	src := missingSource{mem, 4}
	for _, tc := range []struct {
		name string
		cfg  data.LoaderConfig
		want string
	}{
		{"train", data.LoaderConfig{BatchSize: 3, Shuffle: true, Seed: 7, Epochs: 2, Train: true, Transform: data.DefaultTransform(40), Source: src}, "45668f7d1add69729015235078f8938ff103e25a25b956a9f61566f42dcc4417"},
		{"train-resumed", data.LoaderConfig{BatchSize: 3, Shuffle: true, Seed: 7, Epochs: 2, StartEpoch: 1, SkipBatches: 1, Train: true, Transform: data.DefaultTransform(56), Source: src, DropLast: true}, "b65eee51f7f1dd7bd26dc6962d96a261705d3642bc6c30709df0bdc63f16e575"},
		{"eval", data.LoaderConfig{BatchSize: 4, Epochs: 1, Transform: data.DefaultTransform(40), Source: src, MaxObjects: 2}, "124400bd9562b3745b1ac3b4e28f6f06df096793ad2fc18ef0ae353f5cc3a1bf"},
	} {
		for _, workers := range []int{1, 2, 4} {
			tc.cfg.Workers = workers
			if got := streamHash(t, ds, tc.cfg); got != tc.want {
				t.Errorf("%s, %d workers: stream hash %s, want %s", tc.name, workers, got, tc.want)
			}
		}
	}
}
