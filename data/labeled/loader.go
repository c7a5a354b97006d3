package labeled

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/spinenet-go/spinenet/tensor"
)

// Batch is one batch of transformed images and their labels. A Loader
// reuses its batches: a Batch is valid until the next call to Next.
type Batch struct {
	// Images [B, S, S, C]; the last batch of an epoch may be smaller unless
	// DropLast.
	Images *tensor.Tensor
	// Labels are the B class indices, Indices the B sample indices.
	Labels  []int32
	Indices []int
	// Epoch and Index (batch position in the epoch).
	Epoch, Index int

	full *tensor.Tensor // [BatchSize, S, S, C] storage
}

// Order returns the sample order of an epoch: 0…n−1, shuffled (when
// shuffle) by a generator seeded from (seed, epoch).
func Order(n int, seed uint64, epoch int, shuffle bool) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	if shuffle {
		rng := rand.New(rand.NewPCG(SampleSeed(seed, epoch, -1), 0x0dde7))
		rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	}
	return perm
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
	BatchSize int
	Transform Transform
	// Seed and Epoch determine the order (with Shuffle) and every sample's
	// augmentation.
	Seed    uint64
	Epoch   int
	Shuffle bool
	// DropLast drops the final partial batch.
	DropLast bool
	// Skip skips the first Skip batches (resuming mid-epoch).
	Skip int
	// Workers build batches concurrently (default 1); Prefetch is how many
	// finished batches may wait (default 2).
	Workers, Prefetch int
}

// Loader builds the batches of one epoch on background goroutines, ahead
// of the consumer, and hands them out in order. It implements
// train.Batches. Batch buffers are recycled: in steady state it allocates
// nothing large.
type Loader struct {
	set     *Set
	cfg     LoaderConfig
	order   []int
	batches int

	pending chan chan result // results in batch order
	free    chan *Batch
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	cur  *Batch
	next int
	err  error
}

type result struct {
	b   *Batch
	err error
}

type job struct {
	index int
	b     *Batch
	out   chan result
}

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
	l := &Loader{set: s, cfg: cfg, order: Order(s.N, cfg.Seed, cfg.Epoch, cfg.Shuffle),
		batches: NumBatches(s.N, cfg.BatchSize, cfg.DropLast), next: max(cfg.Skip, 0)}
	depth := cfg.Workers + cfg.Prefetch
	l.pending = make(chan chan result, depth)
	l.free = make(chan *Batch, depth+1)
	l.done = make(chan struct{})
	S, C := cfg.Transform.Size, cfg.Transform.Channels
	for range depth + 1 {
		full := tensor.New(cfg.BatchSize, S, S, C)
		l.free <- &Batch{full: full, Labels: make([]int32, cfg.BatchSize), Indices: make([]int, cfg.BatchSize)}
	}
	jobs := make(chan job)
	l.wg.Add(1 + cfg.Workers)
	go l.dispatch(jobs)
	for range cfg.Workers {
		go l.work(jobs)
	}
	return l, nil
}

// dispatch hands out batches in order, each with its own result channel
// queued on pending, taking a free buffer first so at most depth batches
// are in flight.
func (l *Loader) dispatch(jobs chan<- job) {
	defer l.wg.Done()
	defer close(jobs)
	defer close(l.pending)
	for k := l.next; k < l.batches; k++ {
		select {
		case <-l.done:
			return
		default:
		}
		var b *Batch
		select {
		case b = <-l.free:
		case <-l.done:
			return
		}
		out := make(chan result, 1)
		select {
		case l.pending <- out:
		case <-l.done:
			return
		}
		select {
		case jobs <- job{k, b, out}:
		case <-l.done:
			return
		}
	}
}

func (l *Loader) work(jobs <-chan job) {
	defer l.wg.Done()
	sc := new(Scratch)
	cfg := l.cfg
	per := cfg.Transform.Floats()
	for j := range jobs {
		b := j.b
		lo := j.index * cfg.BatchSize
		hi := min(lo+cfg.BatchSize, l.set.N)
		n := hi - lo
		b.Indices = b.Indices[:n]
		copy(b.Indices, l.order[lo:hi])
		b.Labels = b.Labels[:n]
		b.Epoch, b.Index = cfg.Epoch, j.index
		if n == cfg.BatchSize {
			b.Images = b.full
		} else {
			S, C := cfg.Transform.Size, cfg.Transform.Channels
			b.Images, _ = tensor.FromSlice(b.full.Data()[:n*per], n, S, S, C)
		}
		err := l.set.FillBatch(b.Images, b.Labels, b.Indices, cfg.Transform, cfg.Seed, cfg.Epoch, sc)
		j.out <- result{b, err}
	}
}

// NextBatch returns the next batch, or nil at the end of the epoch. The
// previous batch is recycled.
func (l *Loader) NextBatch() (*Batch, error) {
	if l.err != nil {
		return nil, l.err
	}
	if l.cur != nil {
		l.free <- l.cur
		l.cur = nil
	}
	out, ok := <-l.pending
	if !ok {
		return nil, nil
	}
	r := <-out
	if r.err != nil {
		l.err = r.err
		return nil, r.err
	}
	l.cur = r.b
	return r.b, nil
}

// Next implements train.Batches: the batch is a *Batch.
func (l *Loader) Next() (any, bool, error) {
	b, err := l.NextBatch()
	if err != nil || b == nil {
		return nil, false, err
	}
	return b, true, nil
}

// Close stops the goroutines. It is safe to call more than once.
func (l *Loader) Close() error {
	// Workers never block (their result channels are buffered) and the
	// dispatcher watches done, so closing it stops everything.
	l.once.Do(func() {
		close(l.done)
		l.wg.Wait()
	})
	return nil
}
