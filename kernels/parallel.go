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
	workers []chan *gemmJob // workers[i] runs thread index i+1
	job     *gemmJob        // the job reused by every multi-threaded call
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
		ch := make(chan *gemmJob)
		gemmPool.workers = append(gemmPool.workers, ch)
		go gemmWorker(len(gemmPool.workers), ch)
	}
}

func gemmWorker(t int, ch chan *gemmJob) {
	for j := range ch {
		j.run(t)
		j.join.finish()
	}
}

// runJob runs j on nthreads threads (the caller plus nthreads-1 workers) and
// returns when all are done. gemmPool.mu must be held.
func runJob(j *gemmJob, nthreads int) {
	startWorkers(nthreads)
	j.join.start(nthreads - 1)
	for t := 1; t < nthreads; t++ {
		gemmPool.workers[t-1] <- j
	}
	j.run(0)
	j.join.wait(nthreads - 1)
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
