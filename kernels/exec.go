package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Exec is an execution context for the kernels: a thread budget with its
// own worker pools (GEMM, parallel loops, Winograd transforms), its own
// scratch free lists and its own Winograd switch. Every parallel kernel is
// a method of Exec; the package-level functions run on Default().
//
// Calls on different Execs share no pool and no lock, so two runs in one
// process, each on its own Exec, do not slow each other down beyond the
// cores they compete for, and (since no kernel's result depends on the
// thread count) compute exactly what they compute alone. Calls on one Exec
// may be made concurrently: a call that finds a pool busy runs on the
// calling goroutine alone.
type Exec struct {
	threads int
	wino    atomic.Bool
	closed  atomic.Bool
	wakeups atomic.Int64
	keep    bool // Default(): Close is ignored

	gemmMu  sync.Mutex // held while a multi-threaded GEMM runs
	gemmJob *gemmJob   // the job reused by every multi-threaded GEMM

	loopMu  sync.Mutex // held while a parallel loop runs
	loopJob *loopJob

	winoMu sync.Mutex // held while a multi-threaded Winograd phase runs

	// workers holds the workers' channels. It is a separate object, which
	// no worker references, so that an Exec dropped without Close can be
	// collected and its workers stopped (see NewExec).
	workers *execWorkers

	convFree freeList[convWork]
	winoFree freeList[winoWork]
}

// execWorkers are the ticket channels of an Exec's persistent workers: one
// goroutine per channel, per extra thread of each pool.
type execWorkers struct {
	gemm []chan gemmTicket // gemm[i] runs thread index i+1
	loop []chan loopTicket
	wino []chan winoTicket // wino[i] runs thread index i+1
}

// stop ends every worker. The caller holds all of the Exec's pool locks,
// or the Exec is unreachable.
func (w *execWorkers) stop() {
	for _, ch := range w.gemm {
		close(ch)
	}
	for _, ch := range w.loop {
		close(ch)
	}
	for _, ch := range w.wino {
		close(ch)
	}
	w.gemm, w.loop, w.wino = nil, nil, nil
}

// NewExec returns an execution context running kernels on up to threads
// threads (the caller plus threads−1 workers, started on first use);
// threads < 1 means runtime.GOMAXPROCS(0). Winograd is on. Call Close when
// done with it; an Exec dropped without Close has its workers stopped when
// the garbage collector finds it unreachable.
func NewExec(threads int) *Exec {
	e := newExec(threads)
	runtime.AddCleanup(e, (*execWorkers).stop, e.workers)
	return e
}

func newExec(threads int) *Exec {
	if threads < 1 {
		threads = runtime.GOMAXPROCS(0)
	}
	e := &Exec{threads: threads, workers: new(execWorkers), gemmJob: new(gemmJob), loopJob: new(loopJob)}
	e.wino.Store(true)
	return e
}

var defaultExec = sync.OnceValue(func() *Exec {
	e := newExec(0)
	e.keep = true
	return e
})

// Default returns the process-wide Exec that the package-level kernel
// functions (Conv2D, GemmEx, Parallel, …) run on: runtime.GOMAXPROCS(0)
// threads as of its first use, Winograd on. Its Close does nothing. Code
// that wants its own thread budget makes an Exec with NewExec instead of
// changing this one.
func Default() *Exec { return defaultExec() }

// Threads returns the number of threads e's kernels use at most.
func (e *Exec) Threads() int { return e.threads }

// SetWinograd turns the automatic use of Winograd in e's Conv2D and
// Conv2DBackwardData on or off (it is on by default) and returns the
// previous setting; benchmarks and tests use it to measure or check the
// direct algorithm. Calls already running keep the choice they made.
func (e *Exec) SetWinograd(on bool) (prev bool) { return e.wino.Swap(on) }

// Winograd reports whether e's Conv2D and Conv2DBackwardData may use
// Winograd (see SetWinograd).
func (e *Exec) Winograd() bool { return e.wino.Load() }

// Wakeups returns how many times e has handed work to one of its worker
// goroutines since it was made. An Exec with one thread never does.
func (e *Exec) Wakeups() int64 { return e.wakeups.Load() }

// Close stops e's workers, waiting for running multi-threaded calls to
// finish; later calls on e run on the calling goroutine alone. Close is
// idempotent, and does nothing on Default().
func (e *Exec) Close() {
	if e.keep {
		return
	}
	e.gemmMu.Lock()
	e.loopMu.Lock()
	e.winoMu.Lock()
	if !e.closed.Swap(true) {
		e.workers.stop()
	}
	e.winoMu.Unlock()
	e.loopMu.Unlock()
	e.gemmMu.Unlock()
}

// freeList is a bounded LIFO of reusable workspaces; objects beyond max
// are left to the garbage collector.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

// get takes an object from l, or makes a new one.
func (l *freeList[T]) get() *T {
	l.mu.Lock()
	var w *T
	if n := len(l.items); n > 0 {
		w = l.items[n-1]
		l.items[n-1] = nil
		l.items = l.items[:n-1]
	}
	l.mu.Unlock()
	if w == nil {
		w = new(T)
	}
	return w
}

// put keeps w for reuse unless l already holds max objects.
func (l *freeList[T]) put(w *T, max int) {
	l.mu.Lock()
	if len(l.items) < max {
		l.items = append(l.items, w)
	}
	l.mu.Unlock()
}

// convWorkGet takes a workspace from e's free list, or makes a new one.
func (e *Exec) convWorkGet() *convWork { return e.convFree.get() }

// convWorkPut returns w to e's free list. It drops the references to caller
// memory held by the descriptors so the workspace does not pin them.
func (e *Exec) convWorkPut(w *convWork) {
	w.im2col = im2colPanel{}
	w.filt = filterPanel{}
	w.bmat = Matrix{}
	w.amat = Matrix{}
	e.convFree.put(w, convWorkMaxFree)
}

// winoWorkGet takes a Winograd workspace bound to e.
func (e *Exec) winoWorkGet() *winoWork {
	w := e.winoFree.get()
	w.exec = e
	return w
}

// winoWorkPut returns w to e's free list, dropping its references to caller
// memory and to e.
func (e *Exec) winoWorkPut(w *winoWork) {
	w.x, w.y, w.w, w.ww = nil, nil, nil, nil
	w.ep = Epilogue{}
	w.amat, w.bmat = Matrix{}, Matrix{}
	w.exec = nil
	e.winoFree.put(w, winoWorkMaxFree)
}
