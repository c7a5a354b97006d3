//go:build !amd64 || noasm || purego

package kernels

// winoAsm reports whether assembly transforms can run: never in this build.
func winoAsm() bool { return false }

func winoIn6(v *float32, vstride int, d *[36]*float32, tmp *float32, n int) {
	panic("kernels: no Winograd assembly in this build")
}

func winoOut6(y *[16]*float32, m *float32, mstride int, bias *float32, tmp *float32, n int, lo float32) {
	panic("kernels: no Winograd assembly in this build")
}
