//go:build !amd64 || noasm || purego

package kernels

import "github.com/spinenet-go/spinenet/internal/cpu"

// testedKernels lists every micro-kernel with the features it needs.
var testedKernels = []struct {
	k    *microKernel
	need cpu.Feature
}{
	{&goKernel, 0},
}

// selectKernel picks the micro-kernel: without assembly, always the Go one.
func selectKernel() *microKernel { return &goKernel }

// selectWideKernel returns the kernel for row-major A read in place against
// a wide B (see gemmPlan): none without assembly.
func selectWideKernel() *microKernel { return nil }

// peakLoop returns the pure-Go FMA throughput loop.
func peakLoop() (func(n int), int) { return peakFMAGo, peakGoLanes }
