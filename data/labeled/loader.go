package labeled

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/data/pipeline"
	"github.com/spinenet-go/spinenet/tensor"
)

// Batch is one batch of transformed images and their labels. A Loader
// reuses its batches: a Batch is valid until the next call to Next.
type Batch struct {
	// Images [B, S, S, C]; the last batch of an epoch may be smaller unless
	// DropLast.
	Images *tensor.Tensor
	// Labels are the B images' class indices (Set.Labels).
	Labels []int32
	// Indices are the B images' 0-based positions in the Set, in batch
	// order.
	Indices []int
	// Epoch and Index (batch position in the epoch).
	Epoch, Index int

	full *tensor.Tensor // [BatchSize, S, S, C] storage
}

// orderKey and augmentKey are the classification generator families: the
// epoch order uses PCG(Mix(seed, epoch, −1), 0x0dde7) and a sample's
// augmentation PCG(Mix(seed, epoch, index), 0x5ca1ab1e) (SampleRNG), the
// streams every shipped result was trained with.
var (
	orderKey   = pipeline.Key{Tags: []uint64{^uint64(0)}, Stream: 0x0dde7}
	augmentKey = pipeline.Key{Stream: 0x5ca1ab1e}
)

// Order returns the sample order of an epoch: 0…n−1, shuffled (when
// shuffle) by a generator seeded from (seed, epoch).
func Order(n int, seed uint64, epoch int, shuffle bool) []int {
	return pipeline.Permutation(n, seed, epoch, shuffle, orderKey)
}

// NumBatches is the number of batches of n samples of batchSize.
func NumBatches(n, batchSize int, dropLast bool) int {
	if dropLast {
		return n / batchSize
	}
	return (n + batchSize - 1) / batchSize
}

// FillBatch transforms the images indices of s into dst [len(indices), S,
// S, C] and their labels into labels. With a non-zero t.Augment every
// sample draws from SampleRNG(seed, epoch, index), so the result does not
// depend on how samples are grouped or on which goroutine fills them.
func (s *Set) FillBatch(dst *tensor.Tensor, labels []int32, indices []int, t Transform, seed uint64, epoch int, sc *Scratch) error {
	per := t.Floats()
	if dst.Len() < len(indices)*per || len(labels) < len(indices) {
		panic("labeled: short dst")
	}
	augment := t.Augment != (Augment{})
	d := dst.Data()
	for j, idx := range indices {
		var rng *rand.Rand
		if augment {
			rng = SampleRNG(seed, epoch, idx)
		}
		if err := s.Fill(d[j*per:(j+1)*per], idx, t, rng, sc); err != nil {
			return err
		}
		labels[j] = s.Labels[idx]
	}
	return nil
}

// LoaderConfig configures a Loader over one epoch.
type LoaderConfig struct {
	// BatchSize is the number of images per batch (≥ 1).
	BatchSize int
	// Transform turns each image into a network input; its Augment is
	// applied (the zero Augment for evaluation).
	Transform Transform
	// Seed and Epoch determine the order (with Shuffle) and every sample's
	// augmentation.
	Seed uint64
	// Epoch is the epoch number, 0-based, mixed into the seeds so each
	// epoch gets its own order and augmentation.
	Epoch int
	// Shuffle permutes the samples each epoch (Order); false keeps the
	// Set's order.
	Shuffle bool
	// DropLast drops the final partial batch.
	DropLast bool
	// Skip skips the first Skip batches (resuming mid-epoch).
	Skip int
	// Workers transform images concurrently (default 1); Prefetch is how
	// many batches' worth of transformed images may wait beyond one per
	// worker (default 2).
	Workers, Prefetch int
}

// Loader transforms the images of one epoch on a data/pipeline pool,
// ahead of the consumer, and hands out batches in order. It implements
// train.Batches. Each sample draws its augmentation from SampleRNG(Seed,
// Epoch, index), so the batches do not depend on Workers or timing. Images
// wait in Workers + Prefetch·BatchSize recycled buffers and are copied into
// the Loader's one batch: in steady state it allocates nothing large.
//
// The Set is only read, so any number of Loaders may share one Set
// concurrently. A Loader is used from one goroutine; Close may be called
// from any.
type Loader struct {
	set  *Set
	cfg  LoaderConfig
	pool *pipeline.Pool[slotImage]
	sc   []Scratch // per worker

	batch *Batch
	err   error // sticky error
}

// slotImage is one pipeline slot: a transformed image.
type slotImage struct{ pix []float32 }

// NewLoader starts loading the epoch's batches.
func NewLoader(s *Set, cfg LoaderConfig) (*Loader, error) {
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("labeled: batch size %d, want ≥ 1", cfg.BatchSize)
	}
	if err := cfg.Transform.Check(); err != nil {
		return nil, err
	}
	if s.N == 0 {
		return nil, fmt.Errorf("labeled: %s: empty set", s.Source)
	}
	cfg.Workers = max(cfg.Workers, 1)
	if cfg.Prefetch < 1 {
		cfg.Prefetch = 2
	}
	S, C := cfg.Transform.Size, cfg.Transform.Channels
	full := tensor.New(cfg.BatchSize, S, S, C)
	l := &Loader{set: s, cfg: cfg, sc: make([]Scratch, cfg.Workers),
		batch: &Batch{full: full, Labels: make([]int32, cfg.BatchSize), Indices: make([]int, cfg.BatchSize)}}
	// The epoch's samples, without those of a dropped partial batch.
	used := NumBatches(s.N, cfg.BatchSize, cfg.DropLast) * cfg.BatchSize
	pool, err := pipeline.New(context.Background(), pipeline.Config{
		Order:   func(epoch int) []int { return Order(s.N, cfg.Seed, epoch, cfg.Shuffle)[:min(used, s.N)] },
		Workers: cfg.Workers, Window: cfg.Workers + cfg.Prefetch*cfg.BatchSize,
		Seed: cfg.Seed, ItemKey: augmentKey,
		StartEpoch: cfg.Epoch, Epochs: 1, Skip: max(cfg.Skip, 0) * cfg.BatchSize,
	}, l.work)
	if err != nil {
		return nil, fmt.Errorf("labeled: loader: %w", err)
	}
	l.pool = pool
	return l, nil
}

// work transforms one sample into its slot.
func (l *Loader) work(worker int, it pipeline.Item, rng *rand.Rand, slot *slotImage) error {
	t := l.cfg.Transform
	if slot.pix == nil {
		slot.pix = make([]float32, t.Floats())
	}
	if t.Augment == (Augment{}) {
		rng = nil
	}
	return l.set.Fill(slot.pix, it.Index, t, rng, &l.sc[worker])
}

// NextBatch returns the next batch, or nil at the end of the epoch (and
// after Close). The previous batch is reused. A failing image stops the
// loader: its error (a *pipeline.ItemError naming the sample) is returned
// from then on.
func (l *Loader) NextBatch() (*Batch, error) {
	if l.err != nil {
		return nil, l.err
	}
	b, B := l.batch, l.cfg.BatchSize
	per := l.cfg.Transform.Floats()
	n := 0
	for n < B {
		it, slot, err := l.pool.Next()
		if err == io.EOF || errors.Is(err, pipeline.ErrClosed) {
			break
		}
		if err != nil {
			l.err = err
			return nil, err
		}
		if n == 0 {
			b.Epoch, b.Index = it.Epoch, it.Pos/B
		}
		copy(b.full.Data()[n*per:(n+1)*per], slot.pix)
		b.Labels = b.Labels[:B]
		b.Labels[n] = l.set.Labels[it.Index]
		b.Indices = b.Indices[:B]
		b.Indices[n] = it.Index
		n++
		if it.Last {
			break
		}
	}
	if n == 0 {
		return nil, nil
	}
	b.Images = b.full
	if n < B {
		S, C := l.cfg.Transform.Size, l.cfg.Transform.Channels
		b.Images, _ = tensor.FromSlice(b.full.Data()[:n*per], n, S, S, C)
	}
	b.Labels, b.Indices = b.Labels[:n], b.Indices[:n]
	return b, nil
}

// Next implements train.Batches: the batch is a *Batch.
func (l *Loader) Next() (any, bool, error) {
	b, err := l.NextBatch()
	if err != nil || b == nil {
		return nil, false, err
	}
	return b, true, nil
}

// Close stops the goroutines and waits for them. It is safe to call more
// than once.
func (l *Loader) Close() error { return l.pool.Close() }
