// Package cpu reports the x86 vector features the kernels dispatch on and lets
// tests switch them off, so one machine can exercise every code path.
//
// The flags are read once at start-up from golang.org/x/sys/cpu. Tests narrow
// them with Disable, which returns a function that restores the previous state:
//
//	defer cpu.Disable(cpu.AVX512)()
package cpu

import (
	"sync/atomic"

	xcpu "golang.org/x/sys/cpu"
)

// Feature is a set of instruction-set extensions a kernel may require.
type Feature uint32

const (
	// AVX2FMA means AVX2 together with FMA3 (Haswell and later, Zen and later).
	AVX2FMA Feature = 1 << iota
	// AVX512 means AVX-512 F, DQ, BW and VL.
	AVX512
)

var enabled atomic.Uint32

func init() { enabled.Store(uint32(Detected())) }

// Detected returns the features the processor has, ignoring Disable.
func Detected() Feature {
	var f Feature
	if xcpu.X86.HasAVX2 && xcpu.X86.HasFMA {
		f |= AVX2FMA
	}
	if f&AVX2FMA != 0 && xcpu.X86.HasAVX512F && xcpu.X86.HasAVX512DQ && xcpu.X86.HasAVX512BW && xcpu.X86.HasAVX512VL {
		f |= AVX512
	}
	return f
}

// Has reports whether every feature in f is present and not disabled.
func Has(f Feature) bool { return Feature(enabled.Load())&f == f }

// Enabled returns the feature set currently in force.
func Enabled() Feature { return Feature(enabled.Load()) }

// Disable turns the features in f off until the returned function is called.
// Kernel packages read the flags on every dispatch, so the change takes effect
// on the next call. It is meant for tests and benchmarks; callers must not run
// it concurrently with itself.
func Disable(f Feature) (restore func()) {
	prev := enabled.Load()
	enabled.Store(prev &^ uint32(f))
	return func() { enabled.Store(prev) }
}

// String names the widest feature in f: "avx512", "avx2+fma" or "generic".
func (f Feature) String() string {
	switch {
	case f&AVX512 != 0:
		return "avx512"
	case f&AVX2FMA != 0:
		return "avx2+fma"
	default:
		return "generic"
	}
}
