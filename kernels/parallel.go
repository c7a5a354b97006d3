package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The GEMM worker pool: persistent goroutines, one per extra thread, each
// waiting on its own channel for the next job. The calling goroutine always
// acts as thread 0, so a call with t threads wakes t-1 workers.
var gemmPool struct {
	mu      sync.Mutex // held while a multi-threaded GEMM runs or the pool is resized
	threads atomic.Int32
	workers []chan gemmTicket // workers[i] runs thread index i+1
	job     *gemmJob          // the job reused by every multi-threaded call
}

// Threads returns the number of threads GEMM calls use (by default
// runtime.GOMAXPROCS(0) at the first call).
func Threads() int {
	if n := gemmPool.threads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// SetThreads sets the number of threads GEMM calls use and returns the
// previous setting; n < 1 means runtime.GOMAXPROCS(0). It waits for a running
// multi-threaded GEMM to finish and stops surplus workers.
func SetThreads(n int) (prev int) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	gemmPool.mu.Lock()
	defer gemmPool.mu.Unlock()
	prev = Threads()
	for len(gemmPool.workers) > n-1 {
		last := len(gemmPool.workers) - 1
		close(gemmPool.workers[last])
		gemmPool.workers = gemmPool.workers[:last]
	}
	gemmPool.threads.Store(int32(n))
	return prev
}

// startWorkers makes sure at least n-1 workers exist. gemmPool.mu must be held.
func startWorkers(n int) {
	for len(gemmPool.workers) < n-1 {
		ch := make(chan gemmTicket, 1)
		gemmPool.workers = append(gemmPool.workers, ch)
		go gemmWorker(len(gemmPool.workers), ch)
	}
}

// gemmTicket invites a worker to one call of the shared job.
type gemmTicket struct {
	j   *gemmJob
	gen uint32
}

func gemmWorker(t int, ch chan gemmTicket) {
	for tk := range ch {
		if tk.j.crew.enter(tk.gen) {
			tk.j.run(t)
			tk.j.crew.leave()
		}
	}
}

// runJob runs j on up to nthreads threads (the caller plus nthreads-1
// workers) and returns when all are done. gemmPool.mu must be held.
//
// Every work item is claimed dynamically, so the caller finishes the job
// alone if the workers do not get a core in time, and then does not wait for
// them (see crew). A job with several column blocks of B synchronises its
// threads at a barrier between blocks, so there every worker must take part:
// the ticket is delivered even if the worker is still busy with an old one.
func runJob(j *gemmJob, nthreads int) {
	startWorkers(nthreads)
	gen := j.crew.open()
	all := j.n > j.nc
	for t := 1; t < nthreads; t++ {
		tk := gemmTicket{j, gen}
		if all {
			gemmPool.workers[t-1] <- tk
			continue
		}
		select {
		case gemmPool.workers[t-1] <- tk:
		default: // still holding a stale ticket: busy, leave it out
		}
	}
	j.run(0)
	j.crew.close()
}

// barrier is a reusable spinning barrier for the threads of one job.
type barrier struct {
	n     int32
	_     [60]byte
	count atomic.Int32
	_     [60]byte
	gen   atomic.Uint32
	_     [60]byte
}

// wait blocks until all n threads have called it. The last to arrive
// resets j's work counters before releasing the others.
func (b *barrier) wait(j *gemmJob) {
	g := b.gen.Load()
	if b.count.Add(1) == b.n {
		j.resetCounters()
		b.count.Store(0)
		b.gen.Add(1)
		return
	}
	spinUntil(func() bool { return b.gen.Load() != g })
}

// split returns the s-th of parts near-equal contiguous ranges of [0, n).
func split(n, parts, s int) (lo, hi int) {
	q, r := n/parts, n%parts
	lo = s*q + min(s, r)
	hi = lo + q
	if s < r {
		hi++
	}
	return lo, hi
}

// The loop pool: persistent goroutines for parallelRange, like the GEMM
// pool's but separate from it, since loops run between GEMM calls and may
// run inside one (packing).
var loopPool struct {
	mu      sync.Mutex
	workers []chan uint32 // a ticket for loopPool.job
	job     loopJob
}

type loopJob struct {
	body  Ranger
	n     int
	chunk int
	next  atomic.Int64
	_     [56]byte
	crew  crew
}

// work claims chunks of [0, n) and runs f on them until none are left.
func (j *loopJob) work() {
	for {
		lo := int(j.next.Add(int64(j.chunk))) - j.chunk
		if lo >= j.n {
			return
		}
		j.body.RunRange(lo, min(lo+j.chunk, j.n))
	}
}

func loopWorker(ch chan uint32) {
	for gen := range ch {
		j := &loopPool.job
		if j.crew.enter(gen) {
			j.work()
			j.crew.leave()
		}
	}
}

// Ranger is the body of a parallel loop over an index range (see Parallel).
// A hot call site implements it on a pointer to a reused argument struct (a
// workspace field, or one from an ArgPool), so that running in parallel
// allocates nothing; a capturing closure handed to ParallelFunc escapes to
// the heap instead.
type Ranger interface {
	RunRange(lo, hi int)
}

// rangeFunc adapts a closure to Ranger.
type rangeFunc func(lo, hi int)

func (f rangeFunc) RunRange(lo, hi int) { f(lo, hi) }

// ArgPool recycles the argument structs of parallel loops (see Ranger). The
// zero value is ready to use.
type ArgPool[T any] struct{ p sync.Pool }

// Get returns a zeroed *T, reused when one is available.
func (a *ArgPool[T]) Get() *T {
	if v, ok := a.p.Get().(*T); ok {
		return v
	}
	return new(T)
}

// Put zeroes t, dropping its references to the caller's memory, and keeps it
// for reuse.
func (a *ArgPool[T]) Put(t *T) {
	var zero T
	*t = zero
	a.p.Put(t)
}

// parallelRange runs body over [0, n) on up to p threads: the caller and
// p−1 pool workers claim chunks of about n/(4p) indices, so a thread that
// another process keeps off its core delays at most one chunk, and a worker
// that starts late finds nothing left and is not waited for (see crew).
// If the pool is busy (a nested or concurrent call) body runs inline.
func parallelRange(n, p int, body Ranger) {
	if n <= 0 {
		return
	}
	if p <= 1 || n == 1 || !loopPool.mu.TryLock() {
		body.RunRange(0, n)
		return
	}
	for len(loopPool.workers) < p-1 {
		ch := make(chan uint32, 1)
		loopPool.workers = append(loopPool.workers, ch)
		go loopWorker(ch)
	}
	j := &loopPool.job
	j.body, j.n = body, n
	j.chunk = max(1, n/(4*p))
	j.next.Store(0)
	gen := j.crew.open()
	for t := 0; t < p-1; t++ {
		select {
		case loopPool.workers[t] <- gen:
		default: // still holding a stale ticket
		}
	}
	j.work()
	j.crew.close()
	j.body = nil
	loopPool.mu.Unlock()
}
