package kernels

// Scratch memory for the convolution, depthwise and pooling kernels.
//
// A kernel that needs scratch takes a *convWork from its Exec's small
// mutex-guarded free list and gives it back when it returns. The float buffers inside only ever
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

const convWorkMaxFree = 8 // free-list bound (per Exec); extra objects are left to the GC

// cvGrow returns (*b)[:n], reallocating *b first when its capacity is short.
// The contents are not cleared.
func cvGrow(b *[]float32, n int) []float32 {
	if cap(*b) < n {
		*b = make([]float32, n+n/8)
	}
	return (*b)[:n]
}
