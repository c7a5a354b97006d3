package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/spinenet-go/spinenet/internal/leaktest"
)

// record is what a test pool produces per item: its identity and draws
// from its generator, into a slot buffer that is reused.
type record struct {
	buf []uint64
}

type got struct {
	it    Item
	draws []uint64
	err   string
}

// drawWork draws 3 values per item and sleeps a little at random (from a
// generator that is not the item's, so timing varies between runs but the
// output must not); items whose index is a multiple of failEvery fail.
func drawWork(failEvery int) Work[record] {
	return func(worker int, it Item, rng *rand.Rand, slot *record) error {
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		slot.buf = slot.buf[:0]
		for range 3 {
			slot.buf = append(slot.buf, rng.Uint64())
		}
		if failEvery > 0 && it.Index%failEvery == 0 {
			return fmt.Errorf("item %d is bad", it.Index)
		}
		return nil
	}
}

func drain(t *testing.T, cfg Config, work Work[record]) []got {
	t.Helper()
	p, err := New(context.Background(), cfg, work)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out []got
	for {
		it, slot, err := p.Next()
		if err == io.EOF {
			return out
		}
		g := got{it: it}
		var ie *ItemError
		switch {
		case errors.As(err, &ie):
			if ie.Item != it {
				t.Fatalf("ItemError names %+v, item is %+v", ie.Item, it)
			}
			g.err = err.Error()
		case err != nil:
			t.Fatal(err)
		}
		g.draws = slices.Clone(slot.buf)
		out = append(out, g)
	}
}

func shuffled(n int, seed uint64) func(int) []int {
	return func(epoch int) []int { return Permutation(n, seed, epoch, true, Key{Tags: []uint64{1}}) }
}

// The stream is the same for any number of workers and window size; it
// covers every epoch's permutation in order; failures are reported by
// index and do not stop the stream.
func TestDeterministicForAnyWorkers(t *testing.T) {
	const n, epochs = 23, 3
	base := Config{Order: shuffled(n, 4), Seed: 4, Epochs: epochs, StartEpoch: 2}
	var ref []got
	for _, c := range []struct{ workers, window int }{{1, 1}, {1, 0}, {2, 3}, {4, 0}, {4, 16}} {
		cfg := base
		cfg.Workers, cfg.Window = c.workers, c.window
		out := drain(t, cfg, drawWork(5))
		if ref == nil {
			ref = out
			continue
		}
		if len(out) != len(ref) {
			t.Fatalf("workers %d window %d: %d items, want %d", c.workers, c.window, len(out), len(ref))
		}
		for i := range ref {
			if out[i].it != ref[i].it || !slices.Equal(out[i].draws, ref[i].draws) || out[i].err != ref[i].err {
				t.Fatalf("workers %d window %d: item %d = %+v, want %+v", c.workers, c.window, i, out[i], ref[i])
			}
		}
	}
	if len(ref) != n*epochs {
		t.Fatalf("%d items, want %d", len(ref), n*epochs)
	}
	fails := 0
	for i, g := range ref {
		e, pos := 2+i/n, i%n
		if g.it != (Item{Epoch: e, Pos: pos, Index: shuffled(n, 4)(e)[pos], Last: pos == n-1}) {
			t.Fatalf("item %d is %+v", i, g.it)
		}
		want := ItemRNG(4, e, g.it.Index, Key{})
		if g.draws[0] != want.Uint64() {
			t.Fatalf("item %d: draws not from ItemRNG(seed, epoch, index)", i)
		}
		if (g.it.Index%5 == 0) != (g.err != "") {
			t.Fatalf("item %d (index %d): error %q", i, g.it.Index, g.err)
		}
		if g.err != "" {
			fails++
			if want := fmt.Sprintf("pipeline: epoch %d position %d (item %d): item %d is bad", e, pos, g.it.Index, g.it.Index); g.err != want {
				t.Fatalf("error %q, want %q", g.err, want)
			}
		}
	}
	if fails != 5*epochs { // indices 0, 5, 10, 15, 20
		t.Errorf("%d failures, want %d", fails, 5*epochs)
	}
	if slices.Equal(shuffled(n, 4)(2), shuffled(n, 4)(3)) {
		t.Error("epochs 2 and 3 have the same order")
	}
}

// A pool resumed at (StartEpoch, Skip) delivers exactly the rest of the
// stream of a pool started at the beginning.
func TestResumeMidEpoch(t *testing.T) {
	const n = 10
	cfg := Config{Order: shuffled(n, 9), Seed: 9, Epochs: 3, Workers: 3}
	full := drain(t, cfg, drawWork(0))
	for _, skip := range []int{0, 4, n, n + 3} {
		r := cfg
		r.StartEpoch, r.Epochs, r.Skip = 1, 2, skip
		got := drain(t, r, drawWork(0))
		want := full[n+min(skip, n):]
		if len(got) != len(want) {
			t.Fatalf("skip %d: %d items, want %d", skip, len(got), len(want))
		}
		for i := range want {
			if got[i].it != want[i].it || !slices.Equal(got[i].draws, want[i].draws) {
				t.Fatalf("skip %d: item %d = %+v, want %+v", skip, i, got[i], want[i])
			}
		}
	}
}

// Close mid-epoch — with workers busy, with the window full and the
// consumer away, or from another goroutine while Next waits — stops every
// goroutine, and Next then reports ErrClosed.
func TestCloseMidEpochLeavesNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	slow := func(worker int, it Item, rng *rand.Rand, slot *record) error {
		time.Sleep(time.Millisecond)
		return nil
	}
	for _, consumed := range []int{0, 1, 7} {
		p, err := New(context.Background(), Config{Order: shuffled(1000, 1), Workers: 4, Window: 6}, Work[record](slow))
		if err != nil {
			t.Fatal(err)
		}
		for range consumed {
			if _, _, err := p.Next(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond) // let the window fill
		p.Close()
		p.Close()
		if _, _, err := p.Next(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
		leaktest.Settle(t, base)
	}
	// Close from another goroutine while Next is blocked on a slow item.
	block := make(chan struct{})
	p, _ := New(context.Background(), Config{Order: shuffled(5, 1), Workers: 2},
		Work[record](func(int, Item, *rand.Rand, *record) error { <-block; return nil }))
	go func() { time.Sleep(5 * time.Millisecond); p.Close() }()
	go func() { time.Sleep(20 * time.Millisecond); close(block) }()
	if _, _, err := p.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next during Close: %v", err)
	}
	p.Close()
	leaktest.Settle(t, base)
}

// Cancelling the context stops the pool: Next returns the context's
// error from then on, and ErrClosed after Close.
func TestContextCancel(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(ctx, Config{Order: shuffled(100, 2), Workers: 3}, drawWork(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	for range 3 {
		if it, _, err := p.Next(); !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: item %+v, error %v; want context.Canceled", it, err)
		}
	}
	p.Close()
	if _, _, err := p.Next(); err != ErrClosed {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	leaktest.Settle(t, base)
}

func TestConfigErrorsAndEmptyEpochs(t *testing.T) {
	if _, err := New(context.Background(), Config{}, drawWork(0)); err == nil {
		t.Error("no Order: no error")
	}
	if _, err := New(context.Background(), Config{Order: shuffled(3, 1), Skip: -1}, drawWork(0)); err == nil {
		t.Error("negative Skip: no error")
	}
	// An unlimited stream of empty epochs ends instead of spinning.
	empty := func(int) []int { return nil }
	if out := drain(t, Config{Order: empty}, drawWork(0)); len(out) != 0 {
		t.Errorf("empty epochs gave %d items", len(out))
	}
}

// Mix and Permutation are pinned: the loaders' shipped augmentation streams
// depend on them.
func TestMixAndPermutationPinned(t *testing.T) {
	if got := Mix(1, 2, 3); got != 0x48cf5028b6df10db {
		t.Errorf("Mix(1, 2, 3) = %#x", got)
	}
	if got := Permutation(8, 3, 1, true, Key{Tags: []uint64{1}}); !slices.Equal(got, []int{2, 4, 3, 1, 7, 0, 5, 6}) {
		t.Errorf("Permutation = %v", got)
	}
	if got := Permutation(4, 3, 1, false, Key{}); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("unshuffled Permutation = %v", got)
	}
}

// An item whose Work was skipped because the pool was cancelled is never
// delivered as if produced: once the context is done, Next returns its
// error, never an item (which would carry a slot left over from an
// earlier item).
func TestNoItemAfterCancel(t *testing.T) {
	type tagged struct{ index int }
	for round := range 50 {
		ctx, cancel := context.WithCancel(context.Background())
		work := func(_ int, it Item, _ *rand.Rand, slot *tagged) error {
			slot.index = it.Index
			time.Sleep(100 * time.Microsecond)
			return nil
		}
		p, err := New(ctx, Config{Order: shuffled(64, 3), Workers: 2, Window: 8}, work)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Next(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		cancel()
		for n := 0; ; n++ {
			it, slot, err := p.Next()
			if errors.Is(err, context.Canceled) {
				break
			}
			if err != nil {
				t.Fatalf("round %d: after cancel: %v", round, err)
			}
			t.Fatalf("round %d: item %d delivered after cancel (slot holds item %d)", round, it.Index, slot.index)
		}
		p.Close()
	}
}

// An item whose Work was skipped because the pool had been cancelled is
// never delivered as if it had been produced: it would carry whatever an
// earlier item left in its slot (here, nothing). Order cancels the
// context itself, so the dispatcher and the idle workers meet a done
// context with free slots and waiting workers — the moment where they
// used to hand out an item and skip it.
func TestNoStaleItemAfterCancel(t *testing.T) {
	type tagged struct{ produced int } // item index + 1; 0 = never produced
	for round := range 1000 {
		ctx, cancel := context.WithCancel(context.Background())
		order := func(epoch int) []int {
			if epoch == 1 {
				cancel()
			}
			return []int{0, 1, 2, 3}
		}
		work := func(_ int, it Item, _ *rand.Rand, slot *tagged) error {
			slot.produced = it.Index + 1
			return nil
		}
		p, err := New(ctx, Config{Order: order, Workers: 2, Window: 16}, work)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Microsecond)
		for {
			it, slot, err := p.Next()
			if errors.Is(err, context.Canceled) {
				break
			}
			if err != nil {
				t.Fatalf("round %d: after cancel: %v", round, err)
			}
			if slot.produced != it.Index+1 {
				t.Fatalf("round %d: epoch %d item %d delivered without being produced", round, it.Epoch, it.Index)
			}
		}
		p.Close()
	}
}
