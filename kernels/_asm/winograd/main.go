// Command winograd generates the AVX-512 Winograd F(4×4, 3×3) transforms of
// package kernels with avo:
//
//	cd kernels/_asm && go run ./winograd -out ../winograd_amd64.s -stubs ../winograd_amd64.go -pkg kernels
//
// (see the go:generate line in kernels/winograd.go). It is a separate
// command so that the GEMM generator in the parent directory is untouched.
//
// The interpolation points 0, ±a, ±b, ∞ must match winoA, winoB in
// kernels/winograd.go.
package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const (
	wA    = 0.5
	wB    = 2.0
	wA2   = wA * wA
	wB2   = wB * wB
	wA2B2 = wA2 * wB2
	wSum2 = wA2 + wB2
	wA3   = wA2 * wA
	wB3   = wB2 * wB
)

func main() {
	ConstraintExpr("amd64,!noasm,!purego")
	genInput()
	genOutput()
	Generate()
}

var consts Mem

// constant indices in the table
const (
	cA = iota
	cB
	cA2
	cB2
	cSum2
	cA3
	cB3
	cA2B2
	nConst
)

func constTable() {
	consts = GLOBL("winoConsts", RODATA|NOPTR)
	for i, v := range []float64{wA, wB, wA2, wB2, wSum2, wA3, wB3, wA2B2} {
		DATA(4*i, U32(math.Float32bits(float32(v))))
	}
}

// bt6 computes o = Bᵀ d for six vectors; k holds the broadcast constants.
// It writes outputs through store(i, reg) so callers choose the address.
func bt6(d [6]VecPhysical, k map[int]VecPhysical, t [4]VecPhysical, store func(i int, r VecPhysical)) {
	// o0 = a²b²·d0 − (a²+b²)·d2 + d4
	VMOVAPS(d[4], t[0])
	VFNMADD231PS(k[cSum2], d[2], t[0])
	if wA2B2 == 1 {
		VADDPS(d[0], t[0], t[0])
	} else {
		VFMADD231PS(k[cA2B2], d[0], t[0])
	}
	store(0, t[0])
	// P = d4 − b²·d2, Q = d3 − b²·d1; o1 = P + a·Q, o2 = P − a·Q
	VMOVAPS(d[4], t[1])
	VFNMADD231PS(k[cB2], d[2], t[1])
	VMOVAPS(d[3], t[2])
	VFNMADD231PS(k[cB2], d[1], t[2])
	VMOVAPS(t[1], t[3])
	VFMADD231PS(k[cA], t[2], t[3])
	store(1, t[3])
	VFNMADD231PS(k[cA], t[2], t[1])
	store(2, t[1])
	// R = d4 − a²·d2, S = d3 − a²·d1; o3 = R + b·S, o4 = R − b·S
	VMOVAPS(d[4], t[0])
	VFNMADD231PS(k[cA2], d[2], t[0])
	VMOVAPS(d[3], t[2])
	VFNMADD231PS(k[cA2], d[1], t[2])
	VMOVAPS(t[0], t[3])
	VFMADD231PS(k[cB], t[2], t[3])
	store(3, t[3])
	VFNMADD231PS(k[cB], t[2], t[0])
	store(4, t[0])
	// o5 = a²b²·d1 − (a²+b²)·d3 + d5
	VMOVAPS(d[5], t[1])
	VFNMADD231PS(k[cSum2], d[3], t[1])
	if wA2B2 == 1 {
		VADDPS(d[1], t[1], t[1])
	} else {
		VFMADD231PS(k[cA2B2], d[1], t[1])
	}
	store(5, t[1])
}

// at6 computes y = Aᵀ m for six vectors into y (4 registers).
func at6(m [6]VecPhysical, k map[int]VecPhysical, t [4]VecPhysical, y [4]VecPhysical) {
	VADDPS(m[2], m[1], t[0]) // sa
	VSUBPS(m[2], m[1], t[1]) // da
	VADDPS(m[4], m[3], t[2]) // sb
	VSUBPS(m[4], m[3], t[3]) // db
	VADDPS(t[0], m[0], y[0])
	VADDPS(t[2], y[0], y[0])
	VMULPS(k[cA], t[1], y[1])
	VFMADD231PS(k[cB], t[3], y[1])
	VMULPS(k[cA2], t[0], y[2])
	VFMADD231PS(k[cB2], t[2], y[2])
	VMOVAPS(m[5], y[3])
	VFMADD231PS(k[cA3], t[1], y[3])
	VFMADD231PS(k[cB3], t[3], y[3])
}

func loadConsts(base int) map[int]VecPhysical {
	k := map[int]VecPhysical{}
	for i := 0; i < nConst; i++ {
		r := zmm(base + i)
		VBROADCASTSS(consts.Offset(4*i), r)
		k[i] = r
	}
	return k
}

func zmm(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

// genInput emits
//
//	winoIn6AVX512(v *float32, vstride int, d *[36]*float32, tmp *float32, n int)
//
// which, for channels q in [0, n) (n a multiple of 16), transforms the 6×6
// input tile d[k*6+j][q] (row k, column j) into v[ξ*vstride+q] for ξ = i*6+l.
// tmp is scratch for 36×16 floats.
func genInput() {
	constTable()
	TEXT("winoIn6AVX512", NOSPLIT, "func(v *float32, vstride int, d *[36]*float32, tmp *float32, n int)")
	Pragma("noescape")
	Doc("winoIn6AVX512 is the F(4×4, 3×3) input transform of one tile over n channels (n%16 == 0).")
	v := Load(Param("v"), GP64())
	vs := Load(Param("vstride"), GP64())
	SHLQ(U8(2), vs)
	d := Load(Param("d"), GP64())
	tmp := Load(Param("tmp"), GP64())
	n := Load(Param("n"), GP64())
	SHLQ(U8(2), n)
	off := GP64()
	XORQ(off, off)
	p := GP64()
	row := GP64()
	k := loadConsts(20)
	in := [6]VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5}
	t := [4]VecPhysical{Z6, Z7, Z8, Z9}
	Label("in6_loop")
	CMPQ(off, n)
	JGE(LabelRef("in6_done"))
	// Columns: tmp[i*6+j] = Σ_k Bᵀ[i][k] d[k*6+j].
	for j := 0; j < 6; j++ {
		for kk := 0; kk < 6; kk++ {
			MOVQ(Mem{Base: d, Disp: 8 * (kk*6 + j)}, p)
			VMOVUPS(Mem{Base: p, Index: off, Scale: 1}, in[kk])
		}
		bt6(in, k, t, func(i int, r VecPhysical) {
			VMOVUPS(r, Mem{Base: tmp, Disp: 64 * (i*6 + j)})
		})
	}
	// Rows: v[(i*6+l)] = Σ_k tmp[i*6+k] Bᵀ[l][k].
	MOVQ(v, row)
	ADDQ(off, row)
	for i := 0; i < 6; i++ {
		for kk := 0; kk < 6; kk++ {
			VMOVUPS(Mem{Base: tmp, Disp: 64 * (i*6 + kk)}, in[kk])
		}
		bt6(in, k, t, func(l int, r VecPhysical) {
			VMOVUPS(r, Mem{Base: row})
			ADDQ(vs, row)
		})
	}
	ADDQ(U8(64), off)
	JMP(LabelRef("in6_loop"))
	Label("in6_done")
	VZEROUPPER()
	RET()
}

// genOutput emits
//
//	winoOut6AVX512(y *[16]*float32, m *float32, mstride int, bias *float32, tmp *float32, n int, lo float32)
//
// which, for channels q in [0, n) (n a multiple of 16), transforms the 6×6
// tile m[ξ*mstride+q] back into the 4×4 outputs y[i*4+l][q], adding bias[q]
// and clamping below at lo (max(x, lo), NaN kept): lo = 0 fuses ReLU, lo = −∞
// is the identity. tmp is scratch for 24×16 floats.
func genOutput() {
	TEXT("winoOut6AVX512", NOSPLIT, "func(y *[16]*float32, m *float32, mstride int, bias *float32, tmp *float32, n int, lo float32)")
	Pragma("noescape")
	Doc("winoOut6AVX512 is the F(4×4, 3×3) output transform of one tile over n channels (n%16 == 0), with bias and a lower clamp.")
	y := Load(Param("y"), GP64())
	m := Load(Param("m"), GP64())
	ms := Load(Param("mstride"), GP64())
	SHLQ(U8(2), ms)
	bias := Load(Param("bias"), GP64())
	tmp := Load(Param("tmp"), GP64())
	n := Load(Param("n"), GP64())
	SHLQ(U8(2), n)
	lo := Load(Param("lo"), XMM())
	VBROADCASTSS(lo, Z31)
	ms6 := GP64()
	IMUL3Q(U8(6), ms, ms6)
	off := GP64()
	XORQ(off, off)
	p := GP64()
	col := GP64()
	k := loadConsts(20)
	in := [6]VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5}
	t := [4]VecPhysical{Z6, Z7, Z8, Z9}
	out := [4]VecPhysical{Z10, Z11, Z12, Z13}
	zb := Z14
	Label("out6_loop")
	CMPQ(off, n)
	JGE(LabelRef("out6_done"))
	// Columns: tmp[i*6+j] = Σ_k Aᵀ[i][k] m[k*6+j].
	MOVQ(m, col)
	ADDQ(off, col)
	for j := 0; j < 6; j++ {
		MOVQ(col, p)
		for kk := 0; kk < 6; kk++ {
			VMOVUPS(Mem{Base: p}, in[kk])
			if kk < 5 {
				ADDQ(ms6, p)
			}
		}
		at6(in, k, t, out)
		for i := 0; i < 4; i++ {
			VMOVUPS(out[i], Mem{Base: tmp, Disp: 64 * (i*6 + j)})
		}
		if j < 5 {
			ADDQ(ms, col)
		}
	}
	VMOVUPS(Mem{Base: bias, Index: off, Scale: 1}, zb)
	// Rows: y[i*4+l] = max(Σ_k tmp[i*6+k] Aᵀ[l][k] + bias, lo).
	for i := 0; i < 4; i++ {
		for kk := 0; kk < 6; kk++ {
			VMOVUPS(Mem{Base: tmp, Disp: 64 * (i*6 + kk)}, in[kk])
		}
		at6(in, k, t, out)
		for l := 0; l < 4; l++ {
			VADDPS(zb, out[l], out[l])
			VMAXPS(out[l], Z31, out[l])
			MOVQ(Mem{Base: y, Disp: 8 * (i*4 + l)}, p)
			VMOVUPS(out[l], Mem{Base: p, Index: off, Scale: 1})
		}
	}
	ADDQ(U8(64), off)
	JMP(LabelRef("out6_loop"))
	Label("out6_done")
	VZEROUPPER()
	RET()
}
