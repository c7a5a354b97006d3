package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync/atomic"

	"github.com/spinenet-go/spinenet/data/pipeline"
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
	// Prefetch is how many batches' worth of transformed images may wait
	// for the consumer, beyond one per worker; 0 means 2.
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

// newBatch allocates a batch of up to n images of side S.
func newBatch(n, S int) *Batch {
	full := tensor.New(n, S, S, 3)
	return &Batch{
		full: full, Images: full,
		Objects: make([][]Object, n), Samples: make([]*Sample, n),
		Scales: make([]float32, n), Placements: make([]Placement, n),
	}
}

// Loader decodes and transforms images on a data/pipeline pool and
// assembles batches in a deterministic order.
//
// The epoch's sample order is pipeline.Permutation keyed by (Seed, epoch),
// and each sample's augmentation draws from pipeline.ItemRNG keyed by
// (Seed, epoch, sample index) (orderKey and augmentKey), so the output is
// identical for any number of workers and any timing. Transformed images
// wait in Workers + Prefetch·BatchSize recycled single-image buffers
// (S·S·3 float32 each, 4.9 MB at S=640); Next copies them into its one
// batch of BatchSize images. In steady state the Loader allocates no large
// buffers beyond what the image decoder itself allocates.
//
// The Dataset is only read, so any number of Loaders may share one Dataset
// (and one ImageSource) concurrently. A Loader itself is used from one
// goroutine; Close may be called from any. Call Close when done.
type Loader struct {
	ds     *Dataset
	cfg    LoaderConfig
	src    ImageSource
	sz     int // floats per image
	maxObj int

	pool   *pipeline.Pool[sampleBuf]
	rgb    []RGB         // per-worker decode buffers
	bad    []atomic.Bool // samples known to be unreadable
	closed atomic.Bool
	report syncReport

	batch    *Batch
	reported map[int]bool // samples already in the report
	epoch    int          // epoch of the last item seen
	started  bool         // an item has been seen
	index    int          // next batch index in the epoch
	good     int          // usable samples so far in the epoch
	err      error        // sticky error
}

// orderKey and augmentKey are the loader's generator families: the epoch
// order uses PCG(Mix(Seed, epoch, 1), 0) and a sample's augmentation
// PCG(Mix(Seed, epoch, index, 2), 0), the streams every shipped result was
// trained with.
var (
	orderKey   = pipeline.Key{Tags: []uint64{1}}
	augmentKey = pipeline.Key{Tags: []uint64{2}}
)

// sampleBuf is one pipeline slot: a transformed image and its objects.
type sampleBuf struct {
	pix   []float32 // [S, S, 3]
	objs  []Object
	place Placement
}

// errKnownBad marks a sample skipped without decoding because an earlier
// epoch found it unusable (and reported it).
var errKnownBad = errors.New("data: loader: sample known to be unusable")

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
	l := &Loader{ds: ds, cfg: cfg, src: cfg.Source, maxObj: cfg.MaxObjects, reported: map[int]bool{}}
	if l.src == nil {
		l.src = FileSource{}
	}
	if l.maxObj == 0 {
		l.maxObj = DefaultMaxObjects
	}
	S := cfg.Transform.Size
	l.sz = S * S * 3
	l.rgb = make([]RGB, cfg.Workers)
	l.bad = make([]atomic.Bool, len(ds.Samples))
	l.report.r.Samples = len(ds.Samples)
	l.batch = newBatch(cfg.BatchSize, S)
	n := len(ds.Samples)
	pool, err := pipeline.New(context.Background(), pipeline.Config{
		Order:   func(epoch int) []int { return pipeline.Permutation(n, cfg.Seed, epoch, cfg.Shuffle, orderKey) },
		Workers: cfg.Workers, Window: cfg.Workers + cfg.Prefetch*cfg.BatchSize,
		Seed: cfg.Seed, ItemKey: augmentKey,
		StartEpoch: cfg.StartEpoch, Epochs: cfg.Epochs, Skip: cfg.SkipBatches * cfg.BatchSize,
	}, l.work)
	if err != nil {
		return nil, fmt.Errorf("data: loader: %w", err)
	}
	l.pool = pool
	return l, nil
}

// work decodes and transforms one sample into its slot.
func (l *Loader) work(worker int, it pipeline.Item, rng *rand.Rand, buf *sampleBuf) error {
	if l.bad[it.Index].Load() {
		return errKnownBad
	}
	s := &l.ds.Samples[it.Index]
	img, err := l.src.Open(s, &l.rgb[worker])
	var se *SampleError
	switch {
	case err != nil:
		se = &SampleError{Path: s.Path, SampleID: s.ID, Object: -1, Reason: ReasonUnreadable, Detail: err.Error(), Err: err}
	case img.Width != s.Width || img.Height != s.Height:
		se = &SampleError{Path: s.Path, SampleID: s.ID, Object: -1, Reason: ReasonSizeMismatch,
			Detail: fmt.Sprintf("decoded %d×%d, annotation says %d×%d", img.Width, img.Height, s.Width, s.Height)}
	}
	if se != nil {
		l.bad[it.Index].Store(true)
		return se
	}
	if buf.pix == nil {
		buf.pix = make([]float32, l.sz)
	}
	t := l.cfg.Transform
	if l.cfg.Train {
		buf.objs, buf.place = t.Train(buf.pix, img, s.Objects, rng, buf.objs[:0])
	} else {
		buf.objs, buf.place = t.Eval(buf.pix, img, s.Objects, buf.objs[:0])
	}
	return nil
}

// Next returns the next batch; io.EOF after the last epoch. The previous
// batch returned by Next is reused by this call. After an error (strict
// mode, or no usable samples in an epoch) Next keeps returning it.
func (l *Loader) Next() (*Batch, error) {
	if l.err != nil {
		return nil, l.err
	}
	if l.closed.Load() {
		return nil, io.EOF
	}
	b, n := l.batch, 0
	for {
		it, buf, err := l.pool.Next()
		switch {
		case err == io.EOF || errors.Is(err, pipeline.ErrClosed):
			l.err = io.EOF
			return nil, io.EOF
		case errors.Is(err, errKnownBad):
		case err != nil:
			var se *SampleError
			if !errors.As(err, &se) {
				l.err = fmt.Errorf("data: loader: %s: %w", l.ds.Name, err)
				return nil, l.err
			}
			if l.cfg.Strict {
				l.err = se
				return nil, se
			}
			if !l.reported[it.Index] {
				l.reported[it.Index] = true
				l.report.add(se.Reason, se.Path, se.Detail)
			}
		}
		if !l.started || it.Epoch != l.epoch {
			l.started, l.epoch, l.good, l.index = true, it.Epoch, 0, 0
			if it.Epoch == l.cfg.StartEpoch {
				l.index = l.cfg.SkipBatches
			}
		}
		if err == nil {
			if n == 0 {
				b.Epoch, b.Index = it.Epoch, l.index
				l.index++
			}
			l.put(b, n, it.Index, buf)
			n++
			l.good++
		}
		switch {
		case n == l.cfg.BatchSize:
			return l.finish(n), nil
		case !it.Last:
		case l.good == 0:
			l.err = fmt.Errorf("data: loader: epoch %d of %s has no usable samples", it.Epoch, l.ds.Name)
			return nil, l.err
		case n > 0 && !l.cfg.DropLast:
			return l.finish(n), nil
		default:
			n = 0 // the epoch's partial batch is dropped
		}
	}
}

// put copies a transformed sample into image i of b.
func (l *Loader) put(b *Batch, i, idx int, buf *sampleBuf) {
	copy(b.full.Data()[i*l.sz:(i+1)*l.sz], buf.pix)
	objs := buf.objs
	if l.maxObj > 0 && len(objs) > l.maxObj {
		objs = objs[:l.maxObj]
	}
	b.Objects = b.Objects[:cap(b.Objects)]
	b.Objects[i] = append(b.Objects[i][:0], objs...)
	b.Samples = b.Samples[:cap(b.Samples)]
	b.Samples[i] = &l.ds.Samples[idx]
	b.Placements = b.Placements[:cap(b.Placements)]
	b.Placements[i] = buf.place
	b.Scales = b.Scales[:cap(b.Scales)]
	b.Scales[i] = buf.place.Scale
}

// finish trims the batch to its n images.
func (l *Loader) finish(n int) *Batch {
	b := l.batch
	b.Images = b.full
	if n < b.full.Dim(0) {
		sh := b.full.Shape()
		b.Images, _ = tensor.FromSlice(b.full.Data()[:n*l.sz], n, sh[1], sh[2], sh[3])
	}
	b.Objects, b.Samples, b.Scales, b.Placements = b.Objects[:n], b.Samples[:n], b.Scales[:n], b.Placements[:n]
	return b
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
	l.closed.Store(true)
	return l.pool.Close()
}
