package labeled

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/spinenet-go/spinenet/internal/leaktest"
)

// Closing a loader mid-epoch leaves no goroutine behind.
func TestLoaderCloseLeavesNoGoroutines(t *testing.T) {
	s := gridSet(200, 8)
	base := runtime.NumGoroutine()
	for _, consumed := range []int{0, 1, 5} {
		l, err := NewLoader(s, LoaderConfig{BatchSize: 3, Transform: rawTransform(8), Workers: 4, Shuffle: true})
		if err != nil {
			t.Fatal(err)
		}
		for range consumed {
			if b, err := l.NextBatch(); err != nil || b == nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Millisecond)
		l.Close()
		if b, err := l.NextBatch(); b != nil || err != nil {
			t.Fatalf("NextBatch after Close: %v %v", b, err)
		}
		leaktest.Settle(t, base)
	}
}

// One loaded Set serves several loaders (trials) at once, each giving the
// batches it gives alone (run with -race).
func TestLoadersShareOneSet(t *testing.T) {
	s := gridSet(29, 8)
	aug := rawTransform(8)
	aug.Augment = Augment{Flip: true, CropPad: 2}
	cfgs := []LoaderConfig{
		{BatchSize: 4, Transform: aug, Seed: 1, Shuffle: true, Workers: 2},
		{BatchSize: 3, Transform: aug, Seed: 2, Epoch: 5, Shuffle: true, Workers: 3},
		{BatchSize: 5, Transform: rawTransform(6), Workers: 2},
	}
	alone := make([]string, len(cfgs))
	for i, cfg := range cfgs {
		alone[i] = labeledStreamHash(t, s, cfg)
	}
	shared := make([]string, 2*len(cfgs))
	errs := make([]error, len(shared))
	var wg sync.WaitGroup
	for i := range shared {
		wg.Go(func() { shared[i], errs[i] = loaderHash(s, cfgs[i%len(cfgs)]) })
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
}
