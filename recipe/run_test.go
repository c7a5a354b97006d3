package recipe

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Cancelling the run's context unblocks a Next that waits on the loader:
// the loader is closed and Next reports the cancellation, not the end of
// the epoch.
func TestLoaderBatchesCancel(t *testing.T) {
	stopped := make(chan struct{})
	var once sync.Once
	var closes atomic.Int32
	b := &loaderBatches[int]{
		next: func() (int, bool, error) {
			<-stopped // a loader whose workers never deliver
			return 0, false, nil
		},
		halt: func() error {
			once.Do(func() { close(stopped) })
			closes.Add(1)
			return nil
		},
		close: func() error {
			closes.Add(10)
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, ok, err := b.Next(ctx)
		if ok {
			err = errors.New("Next delivered a batch")
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Next after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next still blocked 10 s after the context was cancelled")
	}
	if err := b.Close(); err != nil || closes.Load() != 11 {
		t.Errorf("Close: %v after %d closes", err, closes.Load())
	}
	if _, _, err := b.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next on a cancelled context: %v", err)
	}
}
