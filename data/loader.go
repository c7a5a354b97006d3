package data

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/spinenet-go/spinenet/tensor"
)

// DefaultMaxObjects is the per-image instance cap of the RetinaNet parsers
// (spec §7: at most 100 instances).
const DefaultMaxObjects = 100

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	// BatchSize is the number of images per batch.
	BatchSize int
	// Workers is the number of decoding goroutines; 0 means GOMAXPROCS.
	Workers int
	// Prefetch is how many finished batches may wait for the consumer;
	// 0 means 2.
	Prefetch int
	// Shuffle reshuffles the sample order every epoch (seeded by Seed and
	// the epoch number).
	Shuffle bool
	// Seed determines the shuffles and every sample's augmentation. The
	// batches depend only on the dataset, the config and Seed — not on
	// Workers or on timing.
	Seed uint64
	// DropLast drops each epoch's final partial batch.
	DropLast bool
	// Epochs is the number of passes over the data; 0 means unlimited.
	Epochs int
	// StartEpoch is the first epoch produced (its shuffle and augmentations
	// are those of that epoch number), and SkipBatches skips the first
	// batches of it, so a resumed training run continues with exactly the
	// batches it would have seen (exact when no sample in the skipped part
	// was unreadable).
	StartEpoch, SkipBatches int
	// Train selects Transform.Train (random flip, scale jitter, crop);
	// otherwise Transform.Eval.
	Train bool
	// Transform is the preprocessing (see DefaultTransform).
	Transform Transform
	// Source supplies the pixels; nil means FileSource (Sample.Path).
	Source ImageSource
	// Strict makes an unreadable image, or one whose size differs from the
	// annotation, an error returned by Next. By default such a sample is
	// skipped (every epoch, without being decoded again), counted in Report,
	// and the batch is filled with the following samples.
	Strict bool
	// MaxObjects caps the objects per image after the transform, keeping the
	// first ones in annotation order as the TF parsers do; 0 means
	// DefaultMaxObjects, negative means no cap.
	MaxObjects int
}

// Batch is one batch of network inputs and their targets. A Loader reuses its
// batches: a Batch and everything it holds are valid only until the next call
// to Next (copy what you need to keep).
type Batch struct {
	// Images are the normalised, padded inputs, [B, S, S, 3]; the last batch
	// of an epoch may have B < LoaderConfig.BatchSize.
	Images *tensor.Tensor
	// Objects are each image's objects in network pixels (Crowd objects
	// included and flagged: the matcher must ignore them).
	Objects [][]Object
	// Samples are the source samples (pointers into the Dataset).
	Samples []*Sample
	// Scales are the original→network scale factors (Placement.Scale).
	Scales []float32
	// Placements describe each image's resize, crop and flip, to map
	// detections back (Placement.ToOriginal).
	Placements []Placement
	// Epoch is the epoch (0-based) and Index the batch's position in it.
	Epoch, Index int

	full *tensor.Tensor // [BatchSize, S, S, 3] storage of Images
}

// Loader decodes and transforms images on a pool of goroutines and assembles
// batches in a deterministic order ahead of the consumer.
//
// Each sample's augmentation draws from its own RNG seeded by (Seed, epoch,
// sample index), and batches are assembled in the epoch's sample order, so
// the output is identical for any number of workers. Image buffers and
// batch tensors are recycled: in steady state the Loader allocates no large
// buffers beyond what the image decoder itself allocates. It holds
// Workers+2 single-image buffers and Prefetch+2 batches of
// BatchSize·S·S·3 float32 (at S=640, 4.9 MB per image). Call Close when done.
type Loader struct {
	ds     *Dataset
	cfg    LoaderConfig
	src    ImageSource
	sz     int // floats per image
	maxObj int

	jobs        chan job
	results     chan job
	out         chan outItem
	freeBufs    chan *sampleBuf
	freeBatches chan *Batch
	done        chan struct{}
	closeOnce   sync.Once
	wg          sync.WaitGroup // dispatcher and workers
	asmDone     chan struct{}

	closed atomic.Bool
	bad    []atomic.Bool // samples known to be unreadable
	report syncReport

	cur *Batch // batch held by the consumer
	err error  // sticky error
}

// job is one unit of work (a sample of an epoch, or an end-of-epoch marker)
// and, on the way back, its result.
type job struct {
	seq    uint64 // position in the output stream
	epoch  int
	idx    int  // sample index
	marker bool // end of epoch
	buf    *sampleBuf
	reason Reason // non-empty on failure
	detail string
	err    error
}

type sampleBuf struct {
	pix   []float32 // [S, S, 3]
	objs  []Object
	place Placement
}

type outItem struct {
	b   *Batch
	err error
}

// NewLoader starts a loader over ds. The dataset must not be modified while
// the loader runs.
func NewLoader(ds *Dataset, cfg LoaderConfig) (*Loader, error) {
	if len(ds.Samples) == 0 {
		return nil, errors.New("data: loader: dataset has no samples")
	}
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("data: loader: batch size %d must be positive", cfg.BatchSize)
	}
	if cfg.StartEpoch < 0 || cfg.SkipBatches < 0 {
		return nil, fmt.Errorf("data: loader: StartEpoch %d and SkipBatches %d must not be negative", cfg.StartEpoch, cfg.SkipBatches)
	}
	if err := cfg.Transform.Check(); err != nil {
		return nil, err
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 2
	}
	l := &Loader{ds: ds, cfg: cfg, src: cfg.Source, maxObj: cfg.MaxObjects}
	if l.src == nil {
		l.src = FileSource{}
	}
	if l.maxObj == 0 {
		l.maxObj = DefaultMaxObjects
	}
	S := cfg.Transform.Size
	l.sz = S * S * 3
	nBufs := cfg.Workers + 2 // one per worker, two results waiting to be put in order
	nBatches := cfg.Prefetch + 2
	l.jobs = make(chan job, nBufs)
	l.results = make(chan job, nBufs+1)
	l.out = make(chan outItem, cfg.Prefetch)
	l.freeBufs = make(chan *sampleBuf, nBufs)
	l.freeBatches = make(chan *Batch, nBatches)
	l.done = make(chan struct{})
	l.asmDone = make(chan struct{})
	l.bad = make([]atomic.Bool, len(ds.Samples))
	l.report.r.Samples = len(ds.Samples)
	for range nBufs {
		l.freeBufs <- &sampleBuf{pix: make([]float32, l.sz)}
	}
	B := cfg.BatchSize
	for range nBatches {
		full := tensor.New(B, S, S, 3)
		l.freeBatches <- &Batch{
			full: full, Images: full,
			Objects: make([][]Object, B), Samples: make([]*Sample, B),
			Scales: make([]float32, B), Placements: make([]Placement, B),
		}
	}

	l.wg.Add(1 + cfg.Workers)
	go l.dispatch()
	for range cfg.Workers {
		go l.work()
	}
	go func() { l.wg.Wait(); close(l.results) }()
	go l.assemble()
	return l, nil
}

// Next returns the next batch; io.EOF after the last epoch. The previous
// batch returned by Next is recycled by this call. After an error (strict
// mode, or no usable samples in an epoch) Next keeps returning it.
func (l *Loader) Next() (*Batch, error) {
	if l.cur != nil {
		l.freeBatches <- l.cur // never blocks: the channel holds every batch
		l.cur = nil
	}
	if l.err != nil {
		return nil, l.err
	}
	if l.closed.Load() {
		return nil, io.EOF
	}
	it, ok := <-l.out
	if !ok {
		l.err = io.EOF
		return nil, io.EOF
	}
	if it.err != nil {
		l.err = it.err
		return nil, it.err
	}
	l.cur = it.b
	return it.b, nil
}

// All iterates over the remaining batches (see Next); it stops after the
// last epoch or after yielding an error.
func (l *Loader) All() iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		for {
			b, err := l.Next()
			if err == io.EOF {
				return
			}
			if !yield(b, err) || err != nil {
				return
			}
		}
	}
}

// Report returns the samples skipped so far (each counted once, however
// many epochs it was met in).
func (l *Loader) Report() Report { return l.report.snapshot() }

// Close stops the goroutines and waits for them. It is safe to call more
// than once; Next returns io.EOF (or the earlier error) afterwards.
func (l *Loader) Close() error {
	l.closeOnce.Do(func() { l.closed.Store(true); close(l.done) })
	l.wg.Wait()
	<-l.asmDone
	return nil
}

// seedOf derives an independent 64-bit seed from a tuple (splitmix64 over the
// values).
func seedOf(vals ...uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range vals {
		h ^= v
		h += 0x9e3779b97f4a7c15
		h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
		h = (h ^ h>>27) * 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

// order is the sample order of an epoch.
func (l *Loader) order(epoch int) []int {
	n := len(l.ds.Samples)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	if l.cfg.Shuffle {
		rng := rand.New(rand.NewPCG(seedOf(l.cfg.Seed, uint64(epoch), 1), 0))
		rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	}
	return perm
}

// dispatch hands out samples in output order. It takes a free buffer before
// each job, in order, so the earliest unfinished sample always has one and
// the reorder window (the buffers) is bounded.
func (l *Loader) dispatch() {
	defer l.wg.Done()
	defer close(l.jobs)
	var seq uint64
	for e := 0; l.cfg.Epochs <= 0 || e < l.cfg.Epochs; e++ {
		epoch := l.cfg.StartEpoch + e
		order := l.order(epoch)
		if e == 0 {
			order = order[min(l.cfg.SkipBatches*l.cfg.BatchSize, len(order)):]
			if len(order) == 0 {
				continue // resumed exactly at the end of the epoch
			}
		}
		for _, idx := range order {
			if l.bad[idx].Load() {
				continue
			}
			var buf *sampleBuf
			select {
			case buf = <-l.freeBufs:
			case <-l.done:
				return
			}
			select {
			case l.jobs <- job{seq: seq, epoch: epoch, idx: idx, buf: buf}:
			case <-l.done:
				return
			}
			seq++
		}
		select {
		case l.results <- job{seq: seq, epoch: epoch, marker: true}:
		case <-l.done:
			return
		}
		seq++
	}
}

// work decodes and transforms samples.
func (l *Loader) work() {
	defer l.wg.Done()
	var rgb RGB
	t := l.cfg.Transform
	for j := range l.jobs {
		s := &l.ds.Samples[j.idx]
		img, err := l.src.Open(s, &rgb)
		switch {
		case err != nil:
			j.reason, j.detail, j.err = ReasonUnreadable, err.Error(), err
		case img.Width != s.Width || img.Height != s.Height:
			j.reason = ReasonSizeMismatch
			j.detail = fmt.Sprintf("decoded %d×%d, annotation says %d×%d", img.Width, img.Height, s.Width, s.Height)
		case l.cfg.Train:
			rng := rand.New(rand.NewPCG(seedOf(l.cfg.Seed, uint64(j.epoch), uint64(j.idx), 2), 0))
			j.buf.objs, j.buf.place = t.Train(j.buf.pix, img, s.Objects, rng, j.buf.objs[:0])
		default:
			j.buf.objs, j.buf.place = t.Eval(j.buf.pix, img, s.Objects, j.buf.objs[:0])
		}
		if j.reason != "" {
			l.bad[j.idx].Store(true)
		}
		select {
		case l.results <- j:
		case <-l.done:
			return
		}
	}
}

// assemble puts results back in order and fills batches.
func (l *Loader) assemble() {
	defer close(l.asmDone)
	defer close(l.out)
	pending := map[uint64]job{}
	var next uint64
	a := assembler{l: l, reported: map[int]bool{}, index: l.cfg.SkipBatches}
	for r := range l.results {
		pending[r.seq] = r
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if !a.handle(r) {
				return
			}
		}
	}
}

type assembler struct {
	l        *Loader
	cur      *Batch
	n        int // images in cur
	index    int // batch index in the epoch
	good     int // usable samples in the epoch
	reported map[int]bool
}

// handle processes one in-order result; false stops the assembler.
func (a *assembler) handle(r job) bool {
	l := a.l
	switch {
	case r.marker:
		if a.n > 0 {
			if l.cfg.DropLast {
				l.freeBatches <- a.cur
			} else if !a.emit(outItem{b: a.finish()}) {
				return false
			}
		}
		a.cur, a.n, a.index = nil, 0, 0
		if a.good == 0 {
			a.emit(outItem{err: fmt.Errorf("data: loader: epoch %d of %s has no usable samples", r.epoch, l.ds.Name)})
			return false
		}
		a.good = 0
		return true
	case r.reason != "":
		l.freeBufs <- r.buf
		s := &l.ds.Samples[r.idx]
		if l.cfg.Strict {
			a.emit(outItem{err: &SampleError{Path: s.Path, SampleID: s.ID, Object: -1, Reason: r.reason, Detail: r.detail, Err: r.err}})
			return false
		}
		if !a.reported[r.idx] {
			a.reported[r.idx] = true
			l.report.add(r.reason, s.Path, r.detail)
		}
		return true
	}
	if a.cur == nil {
		select {
		case a.cur = <-l.freeBatches:
		case <-l.done:
			return false
		}
		b := a.cur
		b.Objects, b.Samples = b.Objects[:cap(b.Objects)], b.Samples[:cap(b.Samples)]
		b.Scales, b.Placements = b.Scales[:cap(b.Scales)], b.Placements[:cap(b.Placements)]
		b.Epoch, b.Index = r.epoch, a.index
		a.index++
	}
	b, i := a.cur, a.n
	copy(b.full.Data()[i*l.sz:(i+1)*l.sz], r.buf.pix)
	objs := r.buf.objs
	if l.maxObj > 0 && len(objs) > l.maxObj {
		objs = objs[:l.maxObj]
	}
	b.Objects[i] = append(b.Objects[i][:0], objs...)
	b.Samples[i] = &l.ds.Samples[r.idx]
	b.Placements[i] = r.buf.place
	b.Scales[i] = r.buf.place.Scale
	l.freeBufs <- r.buf
	a.n++
	a.good++
	if a.n == l.cfg.BatchSize {
		if !a.emit(outItem{b: a.finish()}) {
			return false
		}
		a.cur, a.n = nil, 0
	}
	return true
}

// finish trims the current batch to its n images.
func (a *assembler) finish() *Batch {
	b, n := a.cur, a.n
	b.Images = b.full
	if n < b.full.Dim(0) {
		sh := b.full.Shape()
		b.Images, _ = tensor.FromSlice(b.full.Data()[:n*a.l.sz], n, sh[1], sh[2], sh[3])
	}
	b.Objects, b.Samples, b.Scales, b.Placements = b.Objects[:n], b.Samples[:n], b.Scales[:n], b.Placements[:n]
	return b
}

func (a *assembler) emit(it outItem) bool {
	select {
	case a.l.out <- it:
		return true
	case <-a.l.done:
		return false
	}
}
