package kernels

import "unsafe"

// kernelFunc is the signature shared by every micro-kernel. It computes the
// mr×nr tile C = A·B (flags&kernelAccumulate == 0) or C += A·B over k steps,
// where B is a packed micro-panel (b[p*nr+j]) and element (r, p) of A is
// a[r*rs+p*cs]. rs, cs and ldc count float32 elements. Every tile element is
// written; the kernel never reads or writes outside the mr×nr tile of C.
type kernelFunc func(k int, a *float32, rs, cs int, b, c *float32, ldc int, flags int)

const kernelAccumulate = 1

// microKernel describes one register-tiled micro-kernel and the cache
// blocking the driver uses with it.
type microKernel struct {
	name   string
	mr, nr int
	// colA handles A with unit row stride (rs = 1): packed panels
	// (cs = mr) and transposed matrices read in place (cs = stride).
	colA kernelFunc
	// rowA handles A with unit column stride (cs = 1): row-major matrices
	// read in place (rs = stride). nil when the kernel has no such variant.
	rowA kernelFunc
	// kc and mc are the largest k and m blocks; kcDirect is the largest k
	// block when A is read in place.
	kc, kcDirect, mc int
}

// goKernel is the pure-Go micro-kernel used without assembly.
var goKernel = microKernel{
	name: "go4x16",
	mr:   4, nr: 16,
	colA: func(k int, a *float32, rs, cs int, b, c *float32, ldc int, flags int) {
		sgemmKernelGo(4, 16, k, a, rs, cs, b, c, ldc, flags)
	},
	rowA: func(k int, a *float32, rs, cs int, b, c *float32, ldc int, flags int) {
		sgemmKernelGo(4, 16, k, a, rs, cs, b, c, ldc, flags)
	},
	kc: 256, kcDirect: 256, mc: 64,
}

// sgemmKernelGo is the pure-Go micro-kernel for any mr×nr tile with nr ≤ 64;
// it is also the reference the assembly kernels are tested against.
func sgemmKernelGo(mr, nr, k int, a *float32, rs, cs int, b, c *float32, ldc int, flags int) {
	if nr > 64 {
		panic("kernels: micro-kernel tile too wide")
	}
	var as, bs []float32
	if k > 0 {
		as = unsafe.Slice(a, (mr-1)*rs+(k-1)*cs+1)
		bs = unsafe.Slice(b, k*nr)
	}
	cs2 := unsafe.Slice(c, (mr-1)*ldc+nr)
	var acc [64]float32
	for r := 0; r < mr; r++ {
		row := acc[:nr]
		clear(row)
		for p := 0; p < k; p++ {
			av := as[r*rs+p*cs]
			bp := bs[p*nr : p*nr+nr]
			for j, bv := range bp {
				row[j] += av * bv
			}
		}
		crow := cs2[r*ldc : r*ldc+nr]
		if flags&kernelAccumulate != 0 {
			for j := range crow {
				crow[j] += row[j]
			}
		} else {
			copy(crow, row)
		}
	}
}
