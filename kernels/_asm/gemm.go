package main

import (
	"flag"
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// A micro-kernel computes an mr×nr tile of C = A·B (or C += A·B) over k steps.
// B is a packed micro-panel: b[p*nr+c]. Element (r, p) of A lives at
//   - a + r*rs + p*4      for the "RowA" variants (A stored row-major, unpacked), or
//   - a + r*4  + p*cs     for the "ColA" variants (packed panels, cs = mr*4,
//     or A stored transposed and read in place).
//
// All kernels share the Go signature
//
//	func(k int, a *float32, rs, cs int, b, c *float32, ldc int, flags int)
//
// with rs, cs and ldc counted in float32 elements. flags&1 selects C += A·B.

// prefetchShift sets how far ahead (2^prefetchShift k steps) the ColA
// kernels prefetch A: far enough to cover DRAM latency when a transposed A
// is read in place.
const prefetchShift = 5

const kernelSig = "func(k int, a *float32, rs, cs int, b, c *float32, ldc int, flags int)"

type kernelSpec struct {
	name    string
	mr      int  // rows of the tile
	nv      int  // vectors per row of the tile
	zmm     bool // AVX-512 (zmm, embedded broadcast) or AVX2 (ymm, VBROADCASTSS)
	rowA    bool // RowA addressing (else ColA)
	prefA   bool // software-prefetch A ahead
	unroll  int
	pfShift int  // ColA prefetch distance: 2^pfShift k steps (0: prefetchShift)
	regBc   bool // AVX-512: broadcast A into a register instead of embedded broadcast
}

func (s kernelSpec) vecBytes() int {
	if s.zmm {
		return 64
	}
	return 32
}

var experiment = flag.Bool("experiment", false, "also emit experimental kernels")

func genGemm() {
	for _, rowA := range []bool{false, true} {
		for _, sp := range []kernelSpec{
			// On Zen 5 broadcasting A into a register (one load feeding
			// nv FMAs) beats embedded-broadcast FMAs, which need a load each.
			{name: "sgemmKernel12x32AVX512", mr: 12, nv: 2, zmm: true, regBc: true},
			{name: "sgemmKernel14x32AVX512", mr: 14, nv: 2, zmm: true, regBc: true},
			{name: "sgemmKernel6x64AVX512", mr: 6, nv: 4, zmm: true, regBc: true},
			{name: "sgemmKernel6x16AVX2", mr: 6, nv: 2, zmm: false},
		} {
			sp.rowA = rowA
			sp.prefA = true
			sp.unroll = 4
			if rowA {
				sp.name += "RowA"
			} else {
				sp.name += "ColA"
			}
			genKernel(sp)
		}
	}
	if *experiment {
		genKernel(kernelSpec{name: "sgemmKernel12x32AVX512ColAPf4", mr: 12, nv: 2, zmm: true, regBc: true, prefA: true, unroll: 4, pfShift: 4})
		genKernel(kernelSpec{name: "sgemmKernel12x32AVX512ColAPf6", mr: 12, nv: 2, zmm: true, regBc: true, prefA: true, unroll: 4, pfShift: 6})
	}
}

func vreg(s kernelSpec, i int) VecPhysical {
	if s.zmm {
		return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
			Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
	}
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

func genKernel(s kernelSpec) {
	TEXT(s.name, NOSPLIT, kernelSig)
	Pragma("noescape")
	layout := "ColA: A(r,p) at a[r+p*cs]"
	if s.rowA {
		layout = "RowA: A(r,p) at a[r*rs+p]"
	}
	Doc(fmt.Sprintf("%s computes a %d×%d tile of C (+)= A·B; %s.", s.name, s.mr, s.nv*s.vecBytes()/4, layout))

	vb := s.vecBytes()
	nacc := s.mr * s.nv
	acc := func(r, v int) VecPhysical { return vreg(s, r*s.nv+v) }
	breg := func(v int) VecPhysical { return vreg(s, nacc+v) }
	nfree := 32 - nacc - s.nv
	if !s.zmm {
		nfree = 16 - nacc - s.nv
	}
	if nfree < 0 || ((!s.zmm || s.regBc) && nfree < 1) {
		panic("too many registers: " + s.name)
	}
	bcast := func(i int) VecPhysical { return vreg(s, nacc+s.nv+i%nfree) }

	k := RCX
	Load(Param("k"), k)
	a := RSI
	Load(Param("a"), a)
	b := RDI
	Load(Param("b"), b)
	c := RBX
	Load(Param("c"), c)
	ldc := R9
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	// Stride registers (bytes): st = rs (RowA) or cs (ColA); st3 = 3*st.
	st, st3 := RDX, R8
	if s.rowA {
		Load(Param("rs"), st)
	} else {
		Load(Param("cs"), st)
	}
	SHLQ(U8(2), st)
	LEAQ(Mem{Base: st, Index: st, Scale: 2}, st3)

	// RowA: row bases a, a+4rs, a+8rs, a+12rs.
	bases := []GPPhysical{a, R12, R13, RAX}
	if s.rowA {
		for g := 1; g*4 < s.mr; g++ {
			LEAQ(Mem{Base: bases[g-1], Index: st, Scale: 4}, bases[g])
		}
	}

	// Prefetch the C tile.
	ctmp := R10
	MOVQ(c, ctmp)
	for r := 0; r < s.mr; r++ {
		for off := 0; off < s.nv*vb; off += 64 {
			PREFETCHT0(Mem{Base: ctmp, Disp: off})
		}
		if s.nv*vb%64 != 0 {
			PREFETCHT0(Mem{Base: ctmp, Disp: s.nv*vb - 4})
		}
		if r < s.mr-1 {
			ADDQ(ldc, ctmp)
		}
	}

	for i := 0; i < nacc; i++ {
		if s.zmm {
			VPXORD(acc(i/s.nv, i%s.nv), acc(i/s.nv, i%s.nv), acc(i/s.nv, i%s.nv))
		} else {
			VXORPS(acc(i/s.nv, i%s.nv), acc(i/s.nv, i%s.nv), acc(i/s.nv, i%s.nv))
		}
	}

	// aAddr returns the address of A(r, u) relative to the current position.
	aAddr := func(r, u int) Mem {
		if s.rowA {
			m := Mem{Base: bases[r/4], Disp: 4 * u}
			switch r % 4 {
			case 1:
				m.Index, m.Scale = st, 1
			case 2:
				m.Index, m.Scale = st, 2
			case 3:
				m.Index, m.Scale = st3, 1
			}
			return m
		}
		m := Mem{Base: a, Disp: 4 * r}
		switch u {
		case 1:
			m.Index, m.Scale = st, 1
		case 2:
			m.Index, m.Scale = st, 2
		case 3:
			m.Index, m.Scale = st3, 1
		}
		return m
	}

	nb := 0
	step := func(u int) {
		for v := 0; v < s.nv; v++ {
			VMOVUPS(Mem{Base: b, Disp: (u*s.nv + v) * vb}, breg(v))
		}
		for r := 0; r < s.mr; r++ {
			if s.zmm && !s.regBc {
				for v := 0; v < s.nv; v++ {
					VFMADD231PS_BCST(aAddr(r, u), breg(v), acc(r, v))
				}
			} else {
				bc := bcast(nb)
				nb++
				VBROADCASTSS(aAddr(r, u), bc)
				for v := 0; v < s.nv; v++ {
					VFMADD231PS(breg(v), bc, acc(r, v))
				}
			}
		}
	}
	advance := func(steps int) {
		if s.rowA {
			for g := 0; g*4 < s.mr; g++ {
				ADDQ(U32(4*steps), bases[g])
			}
		} else if steps == 1 {
			ADDQ(st, a)
		} else {
			LEAQ(Mem{Base: a, Index: st, Scale: 4}, a)
		}
		ADDQ(U32(steps*s.nv*vb), b)
	}

	if s.prefA && !s.rowA {
		MOVQ(st, R13)
		sh := prefetchShift
		if s.pfShift != 0 {
			sh = s.pfShift
		}
		SHLQ(U8(sh), R13)
	}
	n4 := R11
	MOVQ(k, n4)
	SHRQ(U8(2), n4)
	ANDQ(U8(3), k)
	TESTQ(n4, n4)
	JZ(LabelRef(s.name + "_tail"))
	Label(s.name + "_loop4")
	if s.prefA {
		if s.rowA {
			// 16 bytes of each row per iteration; prefetch 4 lines ahead.
			for r := 0; r < s.mr; r++ {
				m := aAddr(r, 0)
				m.Disp += 256
				PREFETCHT0(m)
			}
		} else {
			// pfd = prefetchSteps*cs bytes ahead (set up before the loop).
			LEAQ(Mem{Base: a, Index: R13, Scale: 1}, R10)
			for u := 0; u < 4; u++ {
				m := Mem{Base: R10}
				switch u {
				case 1:
					m.Index, m.Scale = st, 1
				case 2:
					m.Index, m.Scale = st, 2
				case 3:
					m.Index, m.Scale = st3, 1
				}
				PREFETCHT0(m)
				if 4*s.mr > 32 {
					m.Disp = 4*s.mr - 4
					PREFETCHT0(m)
				}
			}
		}
	}
	for u := 0; u < 4; u++ {
		step(u)
	}
	advance(4)
	DECQ(n4)
	JNZ(LabelRef(s.name + "_loop4"))

	Label(s.name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(s.name + "_store"))
	Label(s.name + "_loop1")
	step(0)
	advance(1)
	DECQ(k)
	JNZ(LabelRef(s.name + "_loop1"))

	Label(s.name + "_store")
	flags := R10
	Load(Param("flags"), flags)
	TESTQ(U32(1), flags)
	JZ(LabelRef(s.name + "_overwrite"))
	for r := 0; r < s.mr; r++ {
		for v := 0; v < s.nv; v++ {
			VADDPS(Mem{Base: c, Disp: v * vb}, acc(r, v), acc(r, v))
			VMOVUPS(acc(r, v), Mem{Base: c, Disp: v * vb})
		}
		if r < s.mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
	Label(s.name + "_overwrite")
	for r := 0; r < s.mr; r++ {
		for v := 0; v < s.nv; v++ {
			VMOVUPS(acc(r, v), Mem{Base: c, Disp: v * vb})
		}
		if r < s.mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}
