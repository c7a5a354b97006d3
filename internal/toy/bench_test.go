package toy

import (
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/tensor"
)

// BenchmarkTrainStep times one steady-state training step of the toy network
// (forward, backward, SGD update, tape reset) and reports its allocations,
// which should be zero once the tape's pool and the node slices have grown.
func BenchmarkTrainStep(b *testing.B) {
	net := NewNet(1)
	opt, err := optim.NewSGD(net.Params(), optim.DefaultSGDConfig())
	if err != nil {
		b.Fatal(err)
	}
	tape := autograd.NewTape(1)
	x := tensor.New(32, Size, Size, 1)
	labels := make([]int32, 32)
	Batch(rand.New(rand.NewPCG(1, 1)), x, labels)
	step := func() {
		loss := tape.SoftmaxCrossEntropy(net.Forward(tape, tape.Constant(x)), labels, 0.1)
		if err := tape.Backward(loss); err != nil {
			b.Fatal(err)
		}
		if _, err := opt.Step(0.01); err != nil {
			b.Fatal(err)
		}
		tape.Reset()
	}
	step()
	step()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		step()
	}
}

// BenchmarkInference times a steady-state forward pass in inference mode.
func BenchmarkInference(b *testing.B) {
	net := NewNet(1)
	tape := autograd.NewInferenceTape()
	x := tensor.New(32, Size, Size, 1)
	Batch(rand.New(rand.NewPCG(1, 1)), x, make([]int32, 32))
	tape.Reset()
	net.Forward(tape, tape.Constant(x))
	tape.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		net.Forward(tape, tape.Constant(x))
		tape.Reset()
	}
}
