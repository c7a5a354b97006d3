package data_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/internal/leaktest"
)

// Closing a loader mid-epoch, with its workers busy and its window full,
// leaves no goroutine behind.
func TestLoaderCloseLeavesNoGoroutines(t *testing.T) {
	ds, src, _ := data.GenerateShapes(30, 64, 2)
	base := runtime.NumGoroutine()
	for _, consumed := range []int{0, 1, 3} {
		l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: 4, Workers: 4, Source: src, Train: true, Shuffle: true, Transform: data.DefaultTransform(64)})
		if err != nil {
			t.Fatal(err)
		}
		for range consumed {
			if _, err := l.Next(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond)
		l.Close()
		leaktest.Settle(t, base)
	}
}

// One loaded dataset (and its image source) serves several loaders — say,
// trials with different seeds — at once: each gives exactly the batches it
// gives alone, and the dataset is unchanged (run with -race).
func TestLoadersShareOneDataset(t *testing.T) {
	ds, src, _ := data.GenerateShapes(13, 48, 8)
	before := ds.Samples[5].Objects[0]
	cfgs := []data.LoaderConfig{
		{BatchSize: 3, Shuffle: true, Seed: 1, Epochs: 2, Train: true, Transform: data.DefaultTransform(40), Source: src, Workers: 2},
		{BatchSize: 4, Shuffle: true, Seed: 2, Epochs: 2, Train: true, Transform: data.DefaultTransform(56), Source: src, Workers: 3},
		{BatchSize: 5, Epochs: 1, Transform: data.DefaultTransform(40), Source: src, Workers: 2},
	}
	alone := make([]string, len(cfgs))
	for i, cfg := range cfgs {
		alone[i] = streamHash(t, ds, cfg)
	}
	shared := make([]string, 2*len(cfgs))
	errs := make([]error, len(shared))
	var wg sync.WaitGroup
	for i := range shared {
		wg.Go(func() { shared[i], errs[i] = loaderHash(ds, cfgs[i%len(cfgs)]) })
	}
	wg.Wait()
	for i, h := range shared {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if h != alone[i%len(cfgs)] {
			t.Errorf("loader %d beside others: stream %s, alone %s", i, h, alone[i%len(cfgs)])
		}
	}
	if alone[0] == alone[1] {
		t.Error("different configs gave the same stream")
	}
	if after := ds.Samples[5].Objects[0]; after.Box != before.Box || after.Area != before.Area || after.Mask != before.Mask {
		t.Errorf("loaders changed the dataset: %+v → %+v", before, after)
	}
}
