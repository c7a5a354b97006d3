package data

import (
	"io"
	"testing"
)

// A loader started at (epoch 1, batch 2) yields exactly the batches a
// loader started from the beginning yields from that point.
func TestLoaderResumePoint(t *testing.T) {
	ds, src, err := GenerateShapes(21, 64, 5)
	if err != nil {
		t.Fatal(err)
	}
	cfg := LoaderConfig{BatchSize: 4, Workers: 2, Shuffle: true, Seed: 9, Train: true, Transform: DefaultTransform(64), Source: src, Epochs: 2}
	collect := func(cfg LoaderConfig) [][]float32 {
		l, err := NewLoader(ds, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var out [][]float32
		for {
			b, err := l.Next()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, append([]float32(nil), b.Images.Data()...))
		}
	}
	full := collect(cfg) // 6 batches per epoch (the last has 1 image)
	cfg.StartEpoch, cfg.SkipBatches, cfg.Epochs = 1, 2, 1
	part := collect(cfg)
	if len(full) != 12 || len(part) != 4 {
		t.Fatalf("%d and %d batches", len(full), len(part))
	}
	for i, b := range part {
		want := full[6+2+i]
		if len(b) != len(want) {
			t.Fatalf("batch %d: size %d, want %d", i, len(b), len(want))
		}
		for j := range b {
			if b[j] != want[j] {
				t.Fatalf("batch %d differs at %d", i, j)
			}
		}
	}
	cfg.SkipBatches = 6 // exactly at the end of the epoch: nothing left
	if got := collect(cfg); len(got) != 0 {
		t.Errorf("%d batches after skipping the whole epoch", len(got))
	}
}
