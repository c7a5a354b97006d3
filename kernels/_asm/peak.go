package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// genPeak emits loops of independent register-only FMAs that measure the
// float32 FMA throughput of one core.
func genPeak() {
	zs := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}
	ys := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}

	TEXT("peakFMAAVX512", NOSPLIT, "func(n int)")
	Doc("peakFMAAVX512 runs n iterations of 30 independent zmm FMAs (480 float32 FMA lanes).")
	n := RCX
	Load(Param("n"), n)
	for _, z := range zs {
		VPXORD(z, z, z)
	}
	Label("peak512_loop")
	for i := 0; i < 30; i++ {
		VFMADD231PS(zs[30], zs[31], zs[i])
	}
	DECQ(n)
	JNZ(LabelRef("peak512_loop"))
	VZEROUPPER()
	RET()

	TEXT("peakFMAAVX2", NOSPLIT, "func(n int)")
	Doc("peakFMAAVX2 runs n iterations of 14 independent ymm FMAs (112 float32 FMA lanes).")
	Load(Param("n"), n)
	for _, y := range ys {
		VXORPS(y, y, y)
	}
	Label("peak256_loop")
	for i := 0; i < 14; i++ {
		VFMADD231PS(ys[14], ys[15], ys[i])
	}
	DECQ(n)
	JNZ(LabelRef("peak256_loop"))
	VZEROUPPER()
	RET()
}
