// Package kernels holds the float32 compute kernels everything else runs on:
// packed, cache-blocked, multi-threaded SGEMM with assembly micro-kernels,
// convolutions built on it, and the elementwise, pooling and reduction loops.
//
// Kernels work on plain []float32 slices plus sizes and strides; they know
// nothing about tensors or autograd. Matrices are row-major. Feature maps are
// NHWC. Convolution weights are [KH, KW, Cin, Cout] (TensorFlow's HWIO), so the
// weight tensor viewed as a (KH·KW·Cin)×Cout matrix is the right-hand GEMM
// operand of an NHWC convolution.
//
// Every assembly kernel has a pure-Go twin that is always compiled and is the
// reference the assembly is tested against. Dispatch reads internal/cpu on each
// call; the build tags noasm and purego force the pure-Go kernels everywhere.
//
// Every kernel that runs in parallel is a method of Exec, an execution
// context with its own thread budget and worker pools (NewExec); the
// package-level functions of the same names run on Default(), which uses
// every core. No kernel's result depends on the number of threads.
//
// Wrong use by the caller (a short slice, a bad stride) panics with a constant
// message starting "kernels:", as in gonum's BLAS; kernels never return errors.
package kernels
