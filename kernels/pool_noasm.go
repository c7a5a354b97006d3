//go:build !amd64 || noasm || purego

package kernels

func poolMaxAsm(dst []float32, dstStep int, a []*float32, aStep, c, npix int) bool { return false }
