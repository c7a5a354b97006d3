// Package pipeline is the deterministic, ordered worker pool behind the data
// loaders (data.Loader for detection, labeled.Loader for classification).
//
// A Pool produces the items of one or more epochs. The items of an epoch and
// their order come from Config.Order, a pure function of the epoch (usually
// Permutation, seeded by (Seed, epoch)). Item i of epoch e is produced by
// the Work function with a generator keyed by (Seed, e, i) alone
// (ItemRNG), into a slot that only that item uses while it is in flight, and
// the consumer receives the items in order. So the stream is bit-identical
// for any number of workers and any timing, and a pool started at
// (StartEpoch, Skip) delivers exactly the items a pool started at the
// beginning delivers from that point.
//
// At most Config.Window items are in flight or waiting for the consumer; the
// slot of an item is reused once the consumer has moved past it. A failing
// item does not stop the pool: Next reports it as an *ItemError naming its
// epoch, position and index, and the following call continues with the next
// item. Cancelling the context or calling Close stops every goroutine the
// pool started; Close waits for them.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Mix hashes a tuple of values into a 64-bit seed (a splitmix64 step per
// value, chained). Equal tuples give equal seeds; any change of a value or
// of the tuple's length gives an unrelated one.
func Mix(vals ...uint64) uint64 {
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

// Key names one family of generators, so that two uses of the same (seed,
// epoch, index) — an epoch's shuffle and its items, or two tasks — draw
// independent streams. The generator of a tuple is PCG seeded with
// Mix(tuple..., Tags...) on stream Stream. The zero Key is valid.
type Key struct {
	// Tags are appended to the tuple before hashing, so keys with
	// different Tags draw unrelated seeds for the same tuple (nil: none).
	Tags []uint64
	// Stream is the PCG stream (its second seed word), which also keeps
	// families with equal Tags apart.
	Stream uint64
}

// rng returns the key's generator for a tuple.
func (k Key) rng(vals ...uint64) *rand.Rand {
	return rand.New(rand.NewPCG(Mix(append(vals, k.Tags...)...), k.Stream))
}

// ItemRNG returns the generator of item index in epoch: Key k's generator
// for (seed, epoch, index). It is what Work receives.
func ItemRNG(seed uint64, epoch, index int, k Key) *rand.Rand {
	return k.rng(seed, uint64(epoch), uint64(index))
}

// Permutation returns 0…n−1, shuffled when shuffle is set (rand.Shuffle
// with Key k's generator for (seed, epoch)).
func Permutation(n int, seed uint64, epoch int, shuffle bool, k Key) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	if shuffle {
		k.rng(seed, uint64(epoch)).Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	}
	return perm
}

// Config configures a Pool.
type Config struct {
	// Order returns the items of an epoch in delivery order (item indices,
	// each at most once). It must depend on the epoch alone; the pool calls
	// it once per epoch from its dispatching goroutine.
	Order func(epoch int) []int
	// Workers is the number of producing goroutines; 0 means GOMAXPROCS.
	Workers int
	// Window is the number of items that may be in flight or waiting for
	// the consumer (the number of slots); 0 means 2·Workers. Below Workers,
	// some workers idle.
	Window int
	// Seed and ItemKey key every item's generator (ItemRNG).
	Seed uint64
	// ItemKey is the generator family of the items; the zero Key is
	// valid. An Order that shuffles with Permutation should use another
	// Key, so that its stream and the items' are independent.
	ItemKey Key
	// StartEpoch is the first epoch and Epochs the number of epochs
	// (0: unlimited); Skip skips the first Skip positions of the first
	// epoch (resuming mid-epoch).
	StartEpoch, Epochs, Skip int
}

// Item identifies one delivered item.
type Item struct {
	// Epoch is the item's epoch, Pos its position in the epoch's order and
	// Index the item itself (Order(Epoch)[Pos]).
	Epoch, Pos, Index int
	// Last is set on the epoch's final position.
	Last bool
}

// Work produces item it into slot, drawing any randomness from rng (keyed
// by (Seed, it.Epoch, it.Index)). worker in [0, Workers) names the calling
// goroutine, for per-worker scratch buffers; no two calls with the same
// worker run at once. A slot is reused for later items, so Work may keep
// buffers in it, and must set everything the consumer reads.
type Work[T any] func(worker int, it Item, rng *rand.Rand, slot *T) error

// ItemError is a failure of one item.
type ItemError struct {
	Item
	// Err is the error Work returned for the item.
	Err error
}

// Error formats the error with the item's epoch, position and index.
func (e *ItemError) Error() string {
	return fmt.Sprintf("pipeline: epoch %d position %d (item %d): %v", e.Epoch, e.Pos, e.Index, e.Err)
}

// Unwrap returns the Work function's error.
func (e *ItemError) Unwrap() error { return e.Err }

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("pipeline: pool closed")

// Pool runs Work on a fixed set of goroutines and delivers the items in
// order (see the package doc). Next must be called from one goroutine at a
// time; Close may be called from any.
type Pool[T any] struct {
	cfg    Config
	work   Work[T]
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	closed chan struct{} // closed by Close

	slots []T
	items []Item          // the item in each slot, written by the dispatcher
	errs  []error         // Work's result for each slot
	ready []chan struct{} // one signal per filled slot
	sem   chan struct{}   // one token per slot in use
	jobs  chan job
	total int           // items dispatched, final once dispatched is closed
	ended chan struct{} // closed when the dispatcher has handed out every item

	next int  // sequence number of the next item to deliver
	held bool // the consumer holds item next−1's slot
}

type job struct{ seq int }

// New starts a pool. Cancelling ctx stops it (Next then returns ctx's
// error); Close must still be called to wait for the goroutines.
func New[T any](ctx context.Context, cfg Config, work Work[T]) (*Pool[T], error) {
	if cfg.Order == nil || work == nil {
		return nil, errors.New("pipeline: Config.Order and the Work function must be set")
	}
	if cfg.StartEpoch < 0 || cfg.Epochs < 0 || cfg.Skip < 0 {
		return nil, fmt.Errorf("pipeline: StartEpoch %d, Epochs %d and Skip %d must not be negative", cfg.StartEpoch, cfg.Epochs, cfg.Skip)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Window <= 0 {
		cfg.Window = 2 * cfg.Workers
	}
	n := cfg.Window
	p := &Pool[T]{
		cfg: cfg, work: work, closed: make(chan struct{}),
		slots: make([]T, n), items: make([]Item, n), errs: make([]error, n),
		ready: make([]chan struct{}, n), sem: make(chan struct{}, n),
		jobs: make(chan job), ended: make(chan struct{}),
	}
	for i := range p.ready {
		p.ready[i] = make(chan struct{}, 1)
	}
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Add(1 + cfg.Workers)
	go p.dispatch()
	for w := range cfg.Workers {
		go p.run(w)
	}
	return p, nil
}

// dispatch hands out the items in delivery order, each once a slot is free.
func (p *Pool[T]) dispatch() {
	defer p.wg.Done()
	defer close(p.jobs)
	seq := 0
	for e := 0; p.cfg.Epochs == 0 || e < p.cfg.Epochs; e++ {
		epoch := p.cfg.StartEpoch + e
		order := p.cfg.Order(epoch)
		first := 0
		if e == 0 {
			first = min(p.cfg.Skip, len(order))
		}
		for pos := first; pos < len(order); pos++ {
			select {
			case p.sem <- struct{}{}:
			case <-p.ctx.Done():
				return
			}
			s := seq % len(p.slots)
			p.items[s] = Item{Epoch: epoch, Pos: pos, Index: order[pos], Last: pos == len(order)-1}
			select {
			case p.jobs <- job{seq}:
			case <-p.ctx.Done():
				return
			}
			seq++
		}
		if len(order) == 0 && p.cfg.Epochs == 0 {
			break // an empty unlimited stream would spin
		}
	}
	p.total = seq
	close(p.ended)
}

// run is one worker.
func (p *Pool[T]) run(w int) {
	defer p.wg.Done()
	for j := range p.jobs {
		s := j.seq % len(p.slots)
		if p.ctx.Err() == nil {
			it := p.items[s]
			p.errs[s] = p.work(w, it, ItemRNG(p.cfg.Seed, it.Epoch, it.Index, p.cfg.ItemKey), &p.slots[s])
		}
		p.ready[s] <- struct{}{} // never blocks: the slot's previous signal was consumed
	}
}

// Next returns the next item and its slot, valid until the next call to
// Next. A failed item comes with an *ItemError (its slot holds whatever Work
// left there) and the stream goes on; after the last item Next returns
// io.EOF, after Close ErrClosed, and once ctx is cancelled ctx's error —
// never another item, even one already produced.
func (p *Pool[T]) Next() (Item, *T, error) {
	if p.held {
		<-p.sem // release the previous item's slot
		p.held = false
	}
	if err := p.stopped(); err != nil {
		return Item{}, nil, err
	}
	s := p.next % len(p.slots)
	ended := p.ended
	for {
		select {
		case <-p.ready[s]:
			// A worker that found the pool stopped skipped Work and left
			// the slot as an earlier item had it: never deliver that.
			if err := p.stopped(); err != nil {
				return Item{}, nil, err
			}
			p.next++
			p.held = true
			it := p.items[s]
			if err := p.errs[s]; err != nil {
				return it, &p.slots[s], &ItemError{Item: it, Err: err}
			}
			return it, &p.slots[s], nil
		case <-ended:
			if p.next >= p.total {
				return Item{}, nil, io.EOF
			}
			ended = nil // the item is in flight: wait for it
		case <-p.ctx.Done():
			return Item{}, nil, p.stopped()
		}
	}
}

// stopped returns ErrClosed after Close, the context's error after its
// cancellation, and nil while the pool runs.
func (p *Pool[T]) stopped() error {
	select {
	case <-p.closed:
		return ErrClosed
	default:
		return p.ctx.Err()
	}
}

// Close stops the pool and waits for its goroutines. It is safe to call
// more than once and from any goroutine; Next returns ErrClosed afterwards.
func (p *Pool[T]) Close() error {
	p.once.Do(func() {
		close(p.closed)
		p.cancel()
	})
	p.wg.Wait()
	return nil
}
