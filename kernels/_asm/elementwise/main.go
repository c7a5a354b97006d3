// Command elementwise generates the amd64 elementwise kernels of package
// kernels (activations forward and backward, the fused bias + residual +
// activation epilogue, and the depthwise multiply-accumulate) with avo:
//
//	cd kernels/_asm && go run ./elementwise -out ../elementwise_amd64.s -stubs ../elementwise_amd64.go -pkg kernels
//
// (see the go:generate line in kernels/elementwise_dispatch_amd64.go). It is a
// separate command so that the other generators are untouched.
//
// Every kernel exists for AVX-512 (16 lanes, masked tails) and AVX2+FMA
// (8 lanes, VMASKMOVPS tails). The exp, sigmoid, swish and hard-swish
// arithmetic is the same operation for operation as the pure-Go twins in
// kernels/elementwise.go (expCore, ...): change both together.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!noasm,!purego")
	constTable()
	for _, s := range []isa{avx512, avx2} {
		for _, a := range acts {
			genFwd(s, a)
		}
		for _, a := range acts {
			genBwd(s, a)
		}
		genDwMAC(s)
		genPoolMax(s)
	}
	Generate()
}

type isa struct {
	name  string
	zmm   bool
	lanes int
}

var (
	avx512 = isa{"AVX512", true, 16}
	avx2   = isa{"AVX2", false, 8}
)

func (s isa) vb() int { return s.lanes * 4 }

func (s isa) vec() VecVirtual {
	if s.zmm {
		return ZMM()
	}
	return YMM()
}

var acts = []string{"None", "ReLU", "Swish", "HardSwish", "Sigmoid"}

// Constants: each replicated 16 times (64 bytes) so that it can be used as a
// 256- or 512-bit memory operand directly.
const (
	kLog2e = iota
	kNegLog2e
	kC1
	kC2
	kP0
	kP1
	kP2
	kP3
	kP4
	kP5
	kOne
	kZero
	kThree
	kNegThree
	kSix
	kSixth
	kNeg89
	k104
	kNeg104
	kAbs  // 0x7fffffff
	kI127 // int32 127
	nConst
)

var consts, tailMask Mem

func constTable() {
	consts = GLOBL("ewConsts", RODATA|NOPTR)
	f := func(v float64) uint32 { return math.Float32bits(float32(v)) }
	vals := [nConst]uint32{
		kLog2e:    f(1.44269504088896341),
		kNegLog2e: f(-1.44269504088896341),
		kC1:       f(0.693359375),
		kC2:       f(-2.12194440e-4),
		kP0:       f(1.9875691500e-4),
		kP1:       f(1.3981999507e-3),
		kP2:       f(8.3334519073e-3),
		kP3:       f(4.1665795894e-2),
		kP4:       f(1.6666665459e-1),
		kP5:       f(5.0000001201e-1),
		kOne:      f(1),
		kZero:     0,
		kThree:    f(3),
		kNegThree: f(-3),
		kSix:      f(6),
		kSixth:    f(1.0 / 6),
		kNeg89:    f(-89),
		k104:      f(104),
		kNeg104:   f(-104),
		kAbs:      0x7fffffff,
		kI127:     127,
	}
	for i, v := range vals {
		for l := 0; l < 16; l++ {
			DATA(64*i+4*l, U32(v))
		}
	}
	// Tail masks for AVX2: 8 all-ones then 8 zeros; the mask of the first r
	// lanes starts at byte 4*(8-r).
	tailMask = GLOBL("ewTailMask", RODATA|NOPTR)
	for l := 0; l < 16; l++ {
		v := uint32(0)
		if l < 8 {
			v = 0xffffffff
		}
		DATA(4*l, U32(v))
	}
}

func cmem(i int) Mem { return consts.Offset(64 * i) }

// kctx holds the constants of one function: registers where the kernel needs
// one (NaN-propagating clamps, dividends), memory operands elsewhere on AVX2.
type kctx struct {
	s    isa
	regs map[int]VecVirtual
}

func newK(s isa) *kctx { return &kctx{s: s, regs: map[int]VecVirtual{}} }

// reg returns constant i in a register, loading it on first use. Call reg
// for every constant a kernel needs before its loops start.
func (k *kctx) reg(i int) VecVirtual {
	if r, ok := k.regs[i]; ok {
		return r
	}
	r := k.s.vec()
	VMOVUPS(cmem(i), r)
	k.regs[i] = r
	return r
}

// op returns constant i as an operand: its register on AVX-512 (loaded up
// front), or a memory operand on AVX2 (16 registers only).
func (k *kctx) op(i int) Op {
	if r, ok := k.regs[i]; ok {
		return r
	}
	if k.s.zmm {
		panic(fmt.Sprintf("constant %d not preloaded", i))
	}
	return cmem(i)
}

// preload loads constants into registers (all of them on AVX-512, only the
// listed "must be register" ones on AVX2).
func (k *kctx) preload(regOnly []int, all []int) {
	for _, i := range regOnly {
		k.reg(i)
	}
	if k.s.zmm {
		for _, i := range all {
			k.reg(i)
		}
	}
}

var expConsts = []int{kLog2e, kNegLog2e, kC1, kC2, kP0, kP1, kP2, kP3, kP4, kP5, kOne, kI127}

// expCore returns exp(u) for u in [-104, 89] (or NaN), where u = v if !neg
// and u = −v if neg. v is clobbered. Mirrors expCore in elementwise.go:
//
//	n = roundEven(u·log2e); r = u − n·C1 − n·C2
//	y = ((((((p0 r + p1) r + p2) r + p3) r + p4) r + p5) r² + r) + 1
//	exp = y·2ⁿ (VSCALEFPS, or two exponent multiplications on AVX2)
func (k *kctx) expCore(v VecVirtual, neg bool) VecVirtual {
	s := k.s
	n := s.vec()
	if neg {
		VMULPS(k.op(kNegLog2e), v, n)
	} else {
		VMULPS(k.op(kLog2e), v, n)
	}
	if s.zmm {
		VRNDSCALEPS(U8(8), n, n)
	} else {
		VROUNDPS(U8(8), n, n)
	}
	if neg {
		VFNMSUB231PS(k.op(kC1), n, v) // v = −n·C1 − v
	} else {
		VFNMADD231PS(k.op(kC1), n, v) // v = −n·C1 + v
	}
	VFNMADD231PS(k.op(kC2), n, v) // r = v − n·C2
	z := s.vec()
	VMULPS(v, v, z)
	p := s.vec()
	VMOVUPS(k.op(kP0), p)
	for _, c := range []int{kP1, kP2, kP3, kP4, kP5} {
		VFMADD213PS(k.op(c), v, p) // p = r·p + c
	}
	VFMADD213PS(v, z, p) // p = z·p + r
	VADDPS(k.op(kOne), p, p)
	if s.zmm {
		VSCALEFPS(n, p, p)
		return p
	}
	ni, n1 := s.vec(), s.vec()
	VCVTPS2DQ(n, ni)
	VPSRAD(U8(1), ni, n1)
	VPSUBD(n1, ni, ni)
	VPADDD(k.op(kI127), n1, n1)
	VPSLLD(U8(23), n1, n1)
	VPADDD(k.op(kI127), ni, ni)
	VPSLLD(U8(23), ni, ni)
	VMULPS(n1, p, p)
	VMULPS(ni, p, p)
	return p
}

// fwdConsts lists, per activation, the constants that must be registers and
// all constants used.
func fwdConsts(act string) (regOnly, all []int) {
	switch act {
	case "ReLU":
		return []int{kZero}, nil
	case "Swish":
		return []int{kNeg104, k104, kOne}, append([]int{kAbs}, expConsts...)
	case "Sigmoid":
		return []int{kNeg104, k104, kOne}, append([]int{kAbs}, expConsts...)
	case "HardSwish":
		return []int{kNegThree, kSix}, []int{kThree, kSixth}
	}
	return nil, nil
}

// fwd applies the activation to x in place (returns the result register).
func (k *kctx) fwd(act string, x VecVirtual) VecVirtual {
	switch act {
	case "None":
		return x
	case "ReLU":
		VMAXPS(x, k.reg(kZero), x) // NaN and −0 kept (second source returned)
		return x
	case "Swish", "Sigmoid":
		// xc = max(x, −104); a = exp(−min(|xc|, 104)) (no overflow, NaN
		// kept); swish = (x<0 ? xc·a : xc)/(1+a), sigmoid = (x<0 ? a : 1)/(1+a).
		VMAXPS(x, k.reg(kNeg104), x)
		ax := k.s.vec()
		VANDPS(k.op(kAbs), x, ax)
		VMINPS(ax, k.reg(k104), ax)
		a := k.expCore(ax, true)
		num := k.s.vec()
		if act == "Swish" {
			if k.s.zmm {
				m := K()
				VPMOVD2M(x, m)
				VMULPS(a, x, m, x)
			} else {
				VMULPS(a, x, num)
				VBLENDVPS(x, num, x, x)
			}
			num = x
		} else {
			if k.s.zmm {
				m := K()
				VPMOVD2M(x, m)
				VBLENDMPS(a, k.reg(kOne), m, num)
			} else {
				VBLENDVPS(x, a, k.reg(kOne), num)
			}
		}
		VADDPS(k.op(kOne), a, a)
		k.divide(num, a)
		return num
	case "HardSwish":
		// xc = max(x, −3); t = min(xc+3, 6); y = xc·(t·(1/6)).
		VMAXPS(x, k.reg(kNegThree), x)
		t := k.s.vec()
		VADDPS(k.op(kThree), x, t)
		VMINPS(t, k.reg(kSix), t)
		VMULPS(k.op(kSixth), t, t)
		VMULPS(t, x, x)
		return x
	}
	panic(act)
}

// divide sets num = num/d for d in [1, 2]. AVX-512: the divider is the
// bottleneck of the whole activation, so num·(1/d) with 1/d from VRCP14PS
// and one Newton step (r' = r + r·(1 − d·r), error ≈ 2⁻²⁸ before rounding):
// at most about one ulp more than a division. AVX2: VDIVPS (VRCPPS has only
// 12 bits).
func (k *kctx) divide(num, d VecVirtual) {
	if !k.s.zmm {
		VDIVPS(d, num, num)
		return
	}
	r, e := ZMM(), ZMM()
	VRCP14PS(d, r)
	VMOVAPS(k.reg(kOne), e)
	VFNMADD231PS(r, d, e) // e = 1 − d·r
	VFMADD231PS(e, r, r)  // r = r + r·e
	VMULPS(r, num, num)
}

// recip returns 1/d for d in [1, 2] (see divide).
func (k *kctx) recip(d VecVirtual) VecVirtual {
	r := k.s.vec()
	if !k.s.zmm {
		VDIVPS(d, k.reg(kOne), r)
		return r
	}
	e := ZMM()
	VRCP14PS(d, r)
	VMOVAPS(k.reg(kOne), e)
	VFNMADD231PS(r, d, e) // e = 1 − d·r
	VFMADD231PS(e, r, r)  // r = r + r·e
	return r
}

// tail holds the tail mask of a function: a K register on AVX-512 (first
// cols%16 lanes) or a YMM mask on AVX2.
type tail struct {
	k Op
	y VecVirtual
}

func makeTail(s isa, n Register) tail {
	cnt := GP64()
	MOVQ(n, cnt)
	ANDQ(U32(s.lanes-1), cnt)
	if s.zmm {
		m := GP64()
		MOVQ(U32(1), m)
		SHLXQ(cnt, m, m)
		DECQ(m)
		kr := K()
		KMOVW(m.As32(), kr)
		return tail{k: kr}
	}
	NEGQ(cnt)
	ADDQ(U8(8), cnt)
	base := GP64()
	LEAQ(tailMask, base)
	y := YMM()
	VMOVDQU(Mem{Base: base, Index: cnt, Scale: 4}, y)
	return tail{y: y}
}

func (t tail) load(s isa, m Mem, dst VecVirtual) {
	if s.zmm {
		VMOVUPS_Z(m, t.k, dst)
	} else {
		VMASKMOVPS(m, t.y, dst)
	}
}

func (t tail) store(s isa, src VecVirtual, m Mem) {
	if s.zmm {
		VMOVUPS(src, t.k, m)
	} else {
		VMASKMOVPS(src, t.y, m)
	}
}

// genFwd emits
//
//	ewFwd<Act><ISA>(c *float32, ldc, rows, cols int, bias, res *float32, ldres int)
//
// which for each of rows rows of cols floats (row stride ldc) computes
// c = act(c + bias + res) (bias, res may be nil; res has row stride ldres).
func genFwd(s isa, act string) {
	name := "ewFwd" + act + s.name
	TEXT(name, NOSPLIT, "func(c *float32, ldc, rows, cols int, bias, res *float32, ldres int)")
	Pragma("noescape")
	Doc(name+" computes c[r*ldc+j] = "+act+"(c[r*ldc+j] + bias[j] + res[r*ldres+j]) for r < rows, j < cols;",
		"bias and res may be nil.")
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	rows := Load(Param("rows"), GP64())
	cols := Load(Param("cols"), GP64())
	bias := Load(Param("bias"), GP64())
	res := Load(Param("res"), GP64())
	ldres := Load(Param("ldres"), GP64())
	SHLQ(U8(2), ldres)
	k := newK(s)
	ro, all := fwdConsts(act)
	k.preload(ro, all)
	tl := makeTail(s, cols)
	done := name + "_done"
	TESTQ(rows, rows)
	JZ(LabelRef(done))
	TESTQ(cols, cols)
	JZ(LabelRef(done))
	unroll := 1
	if s.zmm {
		unroll = 2
	}
	for _, hb := range []bool{true, false} {
		for _, hr := range []bool{true, false} {
			pre := fmt.Sprintf("%s_b%v_r%v", name, b2i(hb), b2i(hr))
			next := fmt.Sprintf("%s_b%v_r%v", name, b2i(hb), b2i(!hr))
			if !hr {
				next = fmt.Sprintf("%s_b%v_r1", name, b2i(!hb))
			}
			Label(pre)
			if hb {
				TESTQ(bias, bias)
				JZ(LabelRef(fmt.Sprintf("%s_b0_r1", name)))
			}
			if hr {
				TESTQ(res, res)
				JZ(LabelRef(next))
			}
			pc, pb, pr, n := GP64(), GP64(), GP64(), GP64()
			Label(pre + "_row")
			MOVQ(c, pc)
			if hb {
				MOVQ(bias, pb)
			}
			if hr {
				MOVQ(res, pr)
			}
			MOVQ(cols, n)
			body := func(off int, masked bool) {
				x := s.vec()
				m := Mem{Base: pc, Disp: off}
				if masked {
					tl.load(s, m, x)
				} else {
					VMOVUPS(m, x)
				}
				for _, add := range []struct {
					on bool
					p  Register
				}{{hb, pb}, {hr, pr}} {
					if !add.on {
						continue
					}
					am := Mem{Base: add.p, Disp: off}
					if masked {
						t := s.vec()
						tl.load(s, am, t)
						VADDPS(t, x, x)
					} else {
						VADDPS(am, x, x)
					}
				}
				y := k.fwd(act, x)
				if masked {
					tl.store(s, y, m)
				} else {
					VMOVUPS(y, m)
				}
			}
			advance := func(nv int) {
				ADDQ(U32(nv*s.vb()), pc)
				if hb {
					ADDQ(U32(nv*s.vb()), pb)
				}
				if hr {
					ADDQ(U32(nv*s.vb()), pr)
				}
				SUBQ(U32(nv*s.lanes), n)
			}
			Label(pre + "_loop")
			CMPQ(n, U32(unroll*s.lanes))
			JL(LabelRef(pre + "_one"))
			for u := 0; u < unroll; u++ {
				body(u*s.vb(), false)
			}
			advance(unroll)
			JMP(LabelRef(pre + "_loop"))
			Label(pre + "_one")
			if unroll > 1 {
				CMPQ(n, U32(s.lanes))
				JL(LabelRef(pre + "_tail"))
				body(0, false)
				advance(1)
			}
			Label(pre + "_tail")
			TESTQ(n, n)
			JZ(LabelRef(pre + "_next"))
			body(0, true)
			Label(pre + "_next")
			ADDQ(ldc, c)
			if hr {
				ADDQ(ldres, res)
			}
			DECQ(rows)
			JNZ(LabelRef(pre + "_row"))
			JMP(LabelRef(done))
		}
	}
	Label(done)
	VZEROUPPER()
	RET()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func bwdConsts(act string) (regOnly, all []int) {
	switch act {
	case "None":
		return []int{kOne}, nil
	case "ReLU":
		return []int{kZero, kOne}, nil
	case "Swish":
		return []int{k104, kNeg104, kOne, kZero}, append([]int{kAbs}, expConsts...)
	case "Sigmoid":
		return []int{k104, kOne}, append([]int{kAbs}, expConsts...)
	case "HardSwish":
		return []int{kOne, kZero}, []int{kThree, kNegThree, kSixth}
	}
	return nil, nil
}

// deriv returns act'(x) (x may be clobbered). Mirrors the Go twins.
func (k *kctx) deriv(act string, x VecVirtual) VecVirtual {
	s := k.s
	switch act {
	case "None":
		return k.reg(kOne)
	case "ReLU":
		d := s.vec()
		if s.zmm {
			m := K()
			VCMPPS(U8(0x1e), k.reg(kZero), x, m) // x > 0 (ordered)
			VMOVAPS_Z(k.reg(kOne), m, d)
		} else {
			VCMPPS(U8(0x1e), k.reg(kZero), x, d)
			VANDPS(k.reg(kOne), d, d)
		}
		return d
	case "HardSwish":
		// d = x ≤ −3 ? 0 : x ≥ 3 ? 1 : (2x+3)·(1/6)
		t := s.vec()
		VADDPS(x, x, t)
		VADDPS(k.op(kThree), t, t)
		VMULPS(k.op(kSixth), t, t)
		if s.zmm {
			hi, lo := K(), K()
			VCMPPS(U8(0x1d), k.op(kThree), x, hi) // x ≥ 3
			VMOVAPS(k.reg(kOne), hi, t)
			VCMPPS(U8(0x12), k.op(kNegThree), x, lo) // x ≤ −3
			VMOVAPS(k.reg(kZero), lo, t)
		} else {
			m := s.vec()
			VCMPPS(U8(0x1d), k.op(kThree), x, m)
			VBLENDVPS(m, k.op(kOne), t, t)
			VCMPPS(U8(0x12), k.op(kNegThree), x, m)
			VANDNPS(t, m, t)
		}
		return t
	case "Swish", "Sigmoid":
		// a = exp(−min(|x|, 104)); inv = 1/(1+a); small = a·inv.
		ax := s.vec()
		VANDPS(k.op(kAbs), x, ax)
		VMINPS(ax, k.reg(k104), ax)
		a := k.expCore(ax, true)
		den := s.vec()
		VADDPS(k.op(kOne), a, den)
		inv := k.recip(den)
		VMULPS(inv, a, a) // small
		if act == "Sigmoid" {
			VMULPS(inv, a, a) // inv·small = s(1−s)
			return a
		}
		// s = x<0 ? small : inv; q = x<0 ? inv : small; d = s·(xc·q + 1)
		sv, q := s.vec(), s.vec()
		if s.zmm {
			m := K()
			VCMPPS(U8(0x11), k.reg(kZero), x, m) // x < 0
			VBLENDMPS(a, inv, m, sv)
			VBLENDMPS(inv, a, m, q)
		} else {
			m := s.vec()
			VCMPPS(U8(0x11), k.reg(kZero), x, m)
			VBLENDVPS(m, a, inv, sv)
			VBLENDVPS(m, inv, a, q)
		}
		VMAXPS(x, k.reg(kNeg104), x)
		VMINPS(x, k.reg(k104), x)
		VFMADD213PS(k.op(kOne), x, q) // q = xc·q + 1
		VMULPS(q, sv, sv)
		return sv
	}
	panic(act)
}

// genBwd emits
//
//	ewBwd<Act><ISA>(dx, x, dy *float32, n int, acc int)
//
// dx[i] = dy[i]·act'(x[i]), or dx[i] += dy[i]·act'(x[i]) (fused) if acc != 0.
func genBwd(s isa, act string) {
	name := "ewBwd" + act + s.name
	TEXT(name, NOSPLIT, "func(dx, x, dy *float32, n int, acc int)")
	Pragma("noescape")
	Doc(name + " computes dx[i] (+)= dy[i]·" + act + "'(x[i]) for i < n; acc != 0 accumulates (one fused multiply-add).")
	dx := Load(Param("dx"), GP64())
	x := Load(Param("x"), GP64())
	dy := Load(Param("dy"), GP64())
	n := Load(Param("n"), GP64())
	acc := Load(Param("acc"), GP64())
	k := newK(s)
	ro, all := bwdConsts(act)
	k.preload(ro, all)
	tl := makeTail(s, n)
	done := name + "_done"
	TESTQ(n, n)
	JZ(LabelRef(done))
	for _, ac := range []bool{true, false} {
		pre := fmt.Sprintf("%s_acc%d", name, b2i(ac))
		Label(pre)
		if ac {
			TESTQ(acc, acc)
			JZ(LabelRef(name + "_acc0"))
		}
		body := func(masked bool) {
			xv, g := s.vec(), s.vec()
			mx, mg, md := Mem{Base: x}, Mem{Base: dy}, Mem{Base: dx}
			if masked {
				tl.load(s, mx, xv)
				tl.load(s, mg, g)
			} else {
				VMOVUPS(mx, xv)
				VMOVUPS(mg, g)
			}
			d := k.deriv(act, xv)
			out := s.vec()
			if ac {
				if masked {
					tl.load(s, md, out)
				} else {
					VMOVUPS(md, out)
				}
				VFMADD231PS(g, d, out) // out += d·g
			} else {
				VMULPS(g, d, out)
			}
			if masked {
				tl.store(s, out, md)
			} else {
				VMOVUPS(out, md)
			}
		}
		Label(pre + "_loop")
		CMPQ(n, U32(s.lanes))
		JL(LabelRef(pre + "_tail"))
		body(false)
		for _, p := range []Register{dx, x, dy} {
			ADDQ(U32(s.vb()), p)
		}
		SUBQ(U32(s.lanes), n)
		JMP(LabelRef(pre + "_loop"))
		Label(pre + "_tail")
		TESTQ(n, n)
		JZ(LabelRef(done))
		body(true)
		JMP(LabelRef(done))
	}
	Label(done)
	VZEROUPPER()
	RET()
}

// genDwMAC emits
//
//	dwMAC<ISA>(dst *float32, dstStep int, a, b **float32, aStep, bStep, ntaps, c, npix, acc int)
//
// which for p < npix and ch < c computes
//
//	dst[p·dstStep+ch] = (acc ? dst[p·dstStep+ch] : 0) + Σ_{t<ntaps} a[t][p·aStep+ch]·b[t][p·bStep+ch]
//
// (steps in floats), the building block of the depthwise convolutions.
func genDwMAC(s isa) {
	name := "dwMAC" + s.name
	TEXT(name, NOSPLIT, "func(dst *float32, dstStep int, a, b **float32, aStep, bStep, ntaps, c, npix, acc int)")
	Pragma("noescape")
	Doc(name+" computes dst[p*dstStep+ch] = (acc != 0 ? dst[p*dstStep+ch] : 0) + Σ_t a[t][p*aStep+ch]·b[t][p*bStep+ch]",
		"for p < npix, ch < c, t < ntaps.")
	dst := Load(Param("dst"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	ntaps := Load(Param("ntaps"), GP64())
	c := Load(Param("c"), GP64())
	tl := makeTail(s, c)
	done := name + "_done"
	CMPQ(paramAddr("npix"), U8(0))
	JLE(LabelRef(done))
	TESTQ(c, c)
	JZ(LabelRef(done))
	acc := paramAddr("acc")
	aoff, boff := GP64(), GP64() // byte offsets of pixel p in a[t], b[t]
	XORQ(aoff, aoff)
	XORQ(boff, boff)
	off, rem, t, pa, pb := GP64(), GP64(), GP64(), GP64(), GP64()
	Label(name + "_pix")
	XORQ(off, off)
	MOVQ(c, rem)
	// block emits one pass over nv vectors (masked: one masked vector).
	block := func(lbl string, nv int, masked bool) {
		Label(lbl)
		if !masked {
			CMPQ(rem, U32(nv*s.lanes))
			JL(LabelRef(lbl + "_end"))
		} else {
			TESTQ(rem, rem)
			JZ(LabelRef(lbl + "_end"))
		}
		accs := make([]VecVirtual, nv)
		for i := range accs {
			accs[i] = s.vec()
			VXORPS(accs[i], accs[i], accs[i])
		}
		CMPQ(acc, U8(0))
		JE(LabelRef(lbl + "_taps"))
		for i := range accs {
			m := Mem{Base: dst, Index: off, Scale: 1, Disp: i * s.vb()}
			if masked {
				tl.load(s, m, accs[i])
			} else {
				VMOVUPS(m, accs[i])
			}
		}
		Label(lbl + "_taps")
		XORQ(t, t)
		Label(lbl + "_tap")
		MOVQ(Mem{Base: a, Index: t, Scale: 8}, pa)
		ADDQ(aoff, pa)
		MOVQ(Mem{Base: b, Index: t, Scale: 8}, pb)
		ADDQ(boff, pb)
		for i := range accs {
			ma := Mem{Base: pa, Index: off, Scale: 1, Disp: i * s.vb()}
			mb := Mem{Base: pb, Index: off, Scale: 1, Disp: i * s.vb()}
			va := s.vec()
			if masked {
				vb := s.vec()
				tl.load(s, ma, va)
				tl.load(s, mb, vb)
				VFMADD231PS(vb, va, accs[i])
			} else {
				VMOVUPS(ma, va)
				VFMADD231PS(mb, va, accs[i])
			}
		}
		INCQ(t)
		CMPQ(t, ntaps)
		JL(LabelRef(lbl + "_tap"))
		for i := range accs {
			m := Mem{Base: dst, Index: off, Scale: 1, Disp: i * s.vb()}
			if masked {
				tl.store(s, accs[i], m)
			} else {
				VMOVUPS(accs[i], m)
			}
		}
		if !masked {
			ADDQ(U32(nv*s.vb()), off)
			SUBQ(U32(nv*s.lanes), rem)
			JMP(LabelRef(lbl))
		}
		Label(lbl + "_end")
	}
	block(name+"_b4", 4, false)
	block(name+"_b1", 1, false)
	block(name+"_bt", 1, true)
	for _, st := range []struct {
		name string
		r    Register
	}{{"dstStep", dst}, {"aStep", aoff}, {"bStep", boff}} {
		MOVQ(paramAddr(st.name), rem)
		SHLQ(U8(2), rem)
		ADDQ(rem, st.r)
	}
	DECQ(paramAddr("npix"))
	JNZ(LabelRef(name + "_pix"))
	Label(done)
	VZEROUPPER()
	RET()
}

// paramAddr returns the stack address of a scalar parameter.
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// genPoolMax emits
//
//	poolMax<ISA>(dst *float32, dstStep int, a **float32, aStep, ntaps, c, npix int)
//
// which for p < npix and ch < c computes
//
//	m := a[0][p·aStep+ch]
//	for t := 1; t < ntaps; t++ { v := a[t][p·aStep+ch]; if v > m { m = v } }
//	dst[p·dstStep+ch] = m
//
// (steps in floats; ntaps ≥ 1), the inner loop of max pooling. VMAXPS with
// the running maximum as its second source returns it unless v > m, which
// is exactly the comparison above (a NaN only survives as the first tap).
func genPoolMax(s isa) {
	name := "poolMax" + s.name
	TEXT(name, NOSPLIT, "func(dst *float32, dstStep int, a **float32, aStep, ntaps, c, npix int)")
	Pragma("noescape")
	Doc(name+" computes dst[p*dstStep+ch] = max over t < ntaps (in order, first wins ties and NaN only as t = 0) of a[t][p*aStep+ch]",
		"for p < npix, ch < c; ntaps must be at least 1.")
	dst := Load(Param("dst"), GP64())
	a := Load(Param("a"), GP64())
	ntaps := Load(Param("ntaps"), GP64())
	c := Load(Param("c"), GP64())
	tl := makeTail(s, c)
	done := name + "_done"
	CMPQ(paramAddr("npix"), U8(0))
	JLE(LabelRef(done))
	TESTQ(c, c)
	JZ(LabelRef(done))
	aoff := GP64() // byte offset of pixel p in a[t]
	XORQ(aoff, aoff)
	off, rem, t, pa := GP64(), GP64(), GP64(), GP64()
	Label(name + "_pix")
	XORQ(off, off)
	MOVQ(c, rem)
	block := func(lbl string, nv int, masked bool) {
		Label(lbl)
		if !masked {
			CMPQ(rem, U32(nv*s.lanes))
			JL(LabelRef(lbl + "_end"))
		} else {
			TESTQ(rem, rem)
			JZ(LabelRef(lbl + "_end"))
		}
		accs := make([]VecVirtual, nv)
		MOVQ(Mem{Base: a}, pa)
		ADDQ(aoff, pa)
		for i := range accs {
			accs[i] = s.vec()
			m := Mem{Base: pa, Index: off, Scale: 1, Disp: i * s.vb()}
			if masked {
				tl.load(s, m, accs[i])
			} else {
				VMOVUPS(m, accs[i])
			}
		}
		MOVQ(U32(1), t)
		Label(lbl + "_tap")
		CMPQ(t, ntaps)
		JGE(LabelRef(lbl + "_store"))
		MOVQ(Mem{Base: a, Index: t, Scale: 8}, pa)
		ADDQ(aoff, pa)
		for i := range accs {
			m := Mem{Base: pa, Index: off, Scale: 1, Disp: i * s.vb()}
			if masked {
				v := s.vec()
				tl.load(s, m, v)
				VMAXPS(accs[i], v, accs[i]) // v > acc ? v : acc
			} else {
				v := s.vec()
				VMOVUPS(m, v)
				VMAXPS(accs[i], v, accs[i])
			}
		}
		INCQ(t)
		JMP(LabelRef(lbl + "_tap"))
		Label(lbl + "_store")
		for i := range accs {
			m := Mem{Base: dst, Index: off, Scale: 1, Disp: i * s.vb()}
			if masked {
				tl.store(s, accs[i], m)
			} else {
				VMOVUPS(accs[i], m)
			}
		}
		if !masked {
			ADDQ(U32(nv*s.vb()), off)
			SUBQ(U32(nv*s.lanes), rem)
			JMP(LabelRef(lbl))
		}
		Label(lbl + "_end")
	}
	block(name+"_b4", 4, false)
	block(name+"_b1", 1, false)
	block(name+"_bt", 1, true)
	MOVQ(paramAddr("dstStep"), rem)
	SHLQ(U8(2), rem)
	ADDQ(rem, dst)
	MOVQ(paramAddr("aStep"), rem)
	SHLQ(U8(2), rem)
	ADDQ(rem, aoff)
	DECQ(paramAddr("npix"))
	JNZ(LabelRef(name + "_pix"))
	Label(done)
	VZEROUPPER()
	RET()
}
