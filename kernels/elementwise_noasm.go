//go:build !amd64 || noasm || purego

package kernels

func ewFwdAsm(act Activation, c *float32, ldc, rows, cols int, bias, res *float32, ldres int) bool {
	return false
}

func ewBwdAsm(act Activation, dx, x, dy *float32, n int, acc bool) bool { return false }

func dwMACAsm(dst []float32, dstStep int, a, b []*float32, aStep, bStep, c, npix int, acc bool) bool {
	return false
}
