//go:build amd64 && !noasm && !purego

package kernels

import (
	"unsafe"

	"github.com/spinenet-go/spinenet/internal/cpu"
)

// poolMaxAsm is poolMax in assembly, if available (see poolMaxGo).
func poolMaxAsm(dst []float32, dstStep int, a []*float32, aStep, c, npix int) bool {
	pa := (**float32)(unsafe.Pointer(&a[0]))
	switch {
	case cpu.Has(cpu.AVX512):
		poolMaxAVX512(&dst[0], dstStep, pa, aStep, len(a), c, npix)
	case cpu.Has(cpu.AVX2FMA):
		poolMaxAVX2(&dst[0], dstStep, pa, aStep, len(a), c, npix)
	default:
		return false
	}
	return true
}
