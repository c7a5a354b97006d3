package kernels

import (
	"runtime"
	"sync"
)

// Scratch memory for the convolution, depthwise and pooling kernels.
//
// A kernel that needs scratch takes a *convWork from a small mutex-cvGuarded free
// list and gives it back when it returns. The float buffers inside only ever
// grow, so once every layer shape has been seen a steady-state call allocates
// nothing. The panel and matrix descriptors live in the same object so that
// handing them to GemmEx as interfaces does not allocate either.

// convWork is one set of scratch buffers plus the descriptors built on them.
type convWork struct {
	xt  []float32 // transposed, padded copy of a convolution input (im2colPanel)
	wt  []float32 // rearranged weights (backward data)
	out []float32 // dense phase output (strided backward data)

	im2col im2colPanel
	filt   filterPanel
	bmat   Matrix
	amat   Matrix
}

const convWorkMaxFree = 8 // free-list bound; extra objects are left to the GC

var (
	convWorkMu   sync.Mutex
	convWorkFree []*convWork
)

// convWorkGet takes a workspace from the free list, or makes a new one.
func convWorkGet() *convWork {
	convWorkMu.Lock()
	var w *convWork
	if n := len(convWorkFree); n > 0 {
		w = convWorkFree[n-1]
		convWorkFree[n-1] = nil
		convWorkFree = convWorkFree[:n-1]
	}
	convWorkMu.Unlock()
	if w == nil {
		w = new(convWork)
	}
	return w
}

// convWorkPut returns w to the free list. It drops the references to caller
// memory held by the descriptors so the workspace does not pin them.
func convWorkPut(w *convWork) {
	w.im2col = im2colPanel{}
	w.filt = filterPanel{}
	w.bmat = Matrix{}
	w.amat = Matrix{}
	convWorkMu.Lock()
	if len(convWorkFree) < convWorkMaxFree {
		convWorkFree = append(convWorkFree, w)
	}
	convWorkMu.Unlock()
}

// cvGrow returns (*b)[:n], reallocating *b first when its capacity is short.
// The contents are not cleared.
func cvGrow(b *[]float32, n int) []float32 {
	if cap(*b) < n {
		*b = make([]float32, n+n/8)
	}
	return (*b)[:n]
}

// ParallelFunc is Parallel for a closure. A closure that captures variables
// costs one small heap allocation per call; hot paths use Parallel.
func ParallelFunc(n, work int, f func(lo, hi int)) { Parallel(n, work, rangeFunc(f)) }

// Parallel runs body over [0, n) in contiguous chunks on up to Threads()
// threads: the caller and pool workers claim chunks of about n/(4·threads)
// indices, so a thread that another process keeps off its core delays at
// most one chunk. work is the approximate total cost in element operations;
// below about 32K per thread the loop runs inline on fewer threads (or
// none). A nested or concurrent call runs inline. Which thread runs which
// chunk varies from call to call: a body that reduces must write per-index
// partial results and combine them in index order to be deterministic.
func Parallel(n, work int, body Ranger) {
	const minWorkPerThread = 1 << 15
	parallelRange(n, min(runtime.GOMAXPROCS(0), Threads(), n, max(work/minWorkPerThread, 1)), body)
}
