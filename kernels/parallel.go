package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The GEMM worker pool of an Exec: persistent goroutines, one per extra
// thread, each waiting on its own channel for the next job. The calling
// goroutine always acts as thread 0, so a call with t threads wakes t-1
// workers.

// startGemmWorkers makes sure at least n-1 GEMM workers exist. e.gemmMu
// must be held.
func (e *Exec) startGemmWorkers(n int) {
	w := e.workers
	for len(w.gemm) < n-1 {
		ch := make(chan gemmTicket, 1)
		w.gemm = append(w.gemm, ch)
		go gemmWorker(len(w.gemm), ch)
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

// runJob runs j on up to nthreads threads (the caller plus nthreads-1 of
// e's workers) and returns when all are done. e.gemmMu must be held.
//
// Every work item is claimed dynamically, so the caller finishes the job
// alone if the workers do not get a core in time, and then does not wait for
// them (see crew). A job with several column blocks of B synchronises its
// threads at a barrier between blocks, so there every worker must take part:
// the ticket is delivered even if the worker is still busy with an old one.
func (e *Exec) runJob(j *gemmJob, nthreads int) {
	e.startGemmWorkers(nthreads)
	workers := e.workers.gemm
	gen := j.crew.open()
	all := j.n > j.nc
	for t := 1; t < nthreads; t++ {
		tk := gemmTicket{j, gen}
		if all {
			workers[t-1] <- tk
			e.wakeups.Add(1)
			continue
		}
		select {
		case workers[t-1] <- tk:
			e.wakeups.Add(1)
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

// The loop pool of an Exec: persistent goroutines for parallelRange, like
// the GEMM pool's but separate from it, since loops run between GEMM calls
// and may run inside one (packing).

type loopJob struct {
	body  Ranger
	n     int
	chunk int
	next  atomic.Int64
	_     [56]byte
	crew  crew
}

// loopTicket invites a loop worker to one call of j.
type loopTicket struct {
	j   *loopJob
	gen uint32
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

func loopWorker(ch chan loopTicket) {
	for tk := range ch {
		if tk.j.crew.enter(tk.gen) {
			tk.j.work()
			tk.j.crew.leave()
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
// p−1 of e's loop workers claim chunks of about n/(4p) indices, so a thread
// that another process keeps off its core delays at most one chunk, and a
// worker that starts late finds nothing left and is not waited for (see
// crew). If e's loop pool is busy (a nested or concurrent call on e) or e
// is closed, body runs inline.
func (e *Exec) parallelRange(n, p int, body Ranger) {
	if n <= 0 {
		return
	}
	if p <= 1 || n == 1 || !e.loopMu.TryLock() {
		body.RunRange(0, n)
		return
	}
	if e.closed.Load() {
		e.loopMu.Unlock()
		body.RunRange(0, n)
		return
	}
	w := e.workers
	for len(w.loop) < p-1 {
		ch := make(chan loopTicket, 1)
		w.loop = append(w.loop, ch)
		go loopWorker(ch)
	}
	j := e.loopJob
	j.body, j.n = body, n
	j.chunk = max(1, n/(4*p))
	j.next.Store(0)
	gen := j.crew.open()
	for t := 0; t < p-1; t++ {
		select {
		case w.loop[t] <- loopTicket{j, gen}:
			e.wakeups.Add(1)
		default: // still holding a stale ticket
		}
	}
	j.work()
	j.crew.close()
	j.body = nil
	e.loopMu.Unlock()
}

// ParallelFunc is Parallel for a closure. A closure that captures variables
// costs one small heap allocation per call; hot paths use Parallel.
func (e *Exec) ParallelFunc(n, work int, f func(lo, hi int)) { e.Parallel(n, work, rangeFunc(f)) }

// Parallel runs body over [0, n) in contiguous chunks on up to e.Threads()
// threads: the caller and e's workers claim chunks of about n/(4·threads)
// indices, so a thread that another process keeps off its core delays at
// most one chunk. work is the approximate total cost in element operations;
// below about 32K per thread the loop runs inline on fewer threads (or
// none). A nested or concurrent call on e runs inline. Which thread runs
// which chunk varies from call to call: a body that reduces must write
// per-index partial results and combine them in index order to be
// deterministic (and so independent of the thread count).
func (e *Exec) Parallel(n, work int, body Ranger) {
	const minWorkPerThread = 1 << 15
	e.parallelRange(n, min(runtime.GOMAXPROCS(0), e.threads, n, max(work/minWorkPerThread, 1)), body)
}

// ParallelFunc is Default().ParallelFunc.
func ParallelFunc(n, work int, f func(lo, hi int)) { Default().ParallelFunc(n, work, f) }

// Parallel is Default().Parallel.
func Parallel(n, work int, body Ranger) { Default().Parallel(n, work, body) }
