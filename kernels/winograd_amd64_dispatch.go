//go:build amd64 && !noasm && !purego

package kernels

import "github.com/spinenet-go/spinenet/internal/cpu"

// winoAsm reports whether the AVX-512 F(4×4, 3×3) transforms can run.
func winoAsm() bool { return cpu.Has(cpu.AVX512) }

func winoIn6(v *float32, vstride int, d *[36]*float32, tmp *float32, n int) {
	winoIn6AVX512(v, vstride, d, tmp, n)
}

func winoOut6(y *[16]*float32, m *float32, mstride int, bias *float32, tmp *float32, n int, lo float32) {
	winoOut6AVX512(y, m, mstride, bias, tmp, n, lo)
}
