package infer

import "github.com/spinenet-go/spinenet/kernels"

// The Winograd hooks: until kernels provides Winograd convolution, 3×3
// stride-1 convolutions run direct.
type winogradWeights struct{}

func transformWinograd(c, oc int, w []float32) *winogradWeights { return nil }

func winogradFaster(p kernels.ConvParams) bool { return false }

func convWinograd(p kernels.ConvParams, x []float32, w *winogradWeights, y []float32, ep *kernels.Epilogue) {
	kernels.Conv2D(p, x, nil, y, ep)
}
