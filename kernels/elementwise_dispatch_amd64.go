//go:build amd64 && !noasm && !purego

package kernels

import (
	"unsafe"

	"github.com/spinenet-go/spinenet/internal/cpu"
)

//go:generate sh -c "cd _asm && go run ./elementwise -out ../elementwise_amd64.s -stubs ../elementwise_amd64.go -pkg kernels"

// ewFwdAsm runs the fused bias + residual + activation kernel over rows×cols
// of c if the processor has AVX-512 or AVX2+FMA and reports whether it did.
// The caller has checked the bounds; bias and res may be nil.
func ewFwdAsm(act Activation, c *float32, ldc, rows, cols int, bias, res *float32, ldres int) bool {
	switch {
	case cpu.Has(cpu.AVX512):
		switch act {
		case ActNone:
			ewFwdNoneAVX512(c, ldc, rows, cols, bias, res, ldres)
		case ActReLU:
			ewFwdReLUAVX512(c, ldc, rows, cols, bias, res, ldres)
		case ActSwish:
			ewFwdSwishAVX512(c, ldc, rows, cols, bias, res, ldres)
		case ActHardSwish:
			ewFwdHardSwishAVX512(c, ldc, rows, cols, bias, res, ldres)
		case ActSigmoid:
			ewFwdSigmoidAVX512(c, ldc, rows, cols, bias, res, ldres)
		default:
			return false
		}
	case cpu.Has(cpu.AVX2FMA):
		switch act {
		case ActNone:
			ewFwdNoneAVX2(c, ldc, rows, cols, bias, res, ldres)
		case ActReLU:
			ewFwdReLUAVX2(c, ldc, rows, cols, bias, res, ldres)
		case ActSwish:
			ewFwdSwishAVX2(c, ldc, rows, cols, bias, res, ldres)
		case ActHardSwish:
			ewFwdHardSwishAVX2(c, ldc, rows, cols, bias, res, ldres)
		case ActSigmoid:
			ewFwdSigmoidAVX2(c, ldc, rows, cols, bias, res, ldres)
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// ewBwdAsm is the assembly ActivationBackward over n elements, if available.
func ewBwdAsm(act Activation, dx, x, dy *float32, n int, acc bool) bool {
	a := 0
	if acc {
		a = 1
	}
	switch {
	case cpu.Has(cpu.AVX512):
		switch act {
		case ActNone:
			ewBwdNoneAVX512(dx, x, dy, n, a)
		case ActReLU:
			ewBwdReLUAVX512(dx, x, dy, n, a)
		case ActSwish:
			ewBwdSwishAVX512(dx, x, dy, n, a)
		case ActHardSwish:
			ewBwdHardSwishAVX512(dx, x, dy, n, a)
		case ActSigmoid:
			ewBwdSigmoidAVX512(dx, x, dy, n, a)
		default:
			return false
		}
	case cpu.Has(cpu.AVX2FMA):
		switch act {
		case ActNone:
			ewBwdNoneAVX2(dx, x, dy, n, a)
		case ActReLU:
			ewBwdReLUAVX2(dx, x, dy, n, a)
		case ActSwish:
			ewBwdSwishAVX2(dx, x, dy, n, a)
		case ActHardSwish:
			ewBwdHardSwishAVX2(dx, x, dy, n, a)
		case ActSigmoid:
			ewBwdSigmoidAVX2(dx, x, dy, n, a)
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// dwMACAsm is dwMAC in assembly, if available (see dwMACGo).
func dwMACAsm(dst []float32, dstStep int, a, b []*float32, aStep, bStep, c, npix int, acc bool) bool {
	ac := 0
	if acc {
		ac = 1
	}
	pa, pb := (**float32)(unsafe.Pointer(&a[0])), (**float32)(unsafe.Pointer(&b[0]))
	switch {
	case cpu.Has(cpu.AVX512):
		dwMACAVX512(&dst[0], dstStep, pa, pb, aStep, bStep, len(a), c, npix, ac)
	case cpu.Has(cpu.AVX2FMA):
		dwMACAVX2(&dst[0], dstStep, pa, pb, aStep, bStep, len(a), c, npix, ac)
	default:
		return false
	}
	return true
}
