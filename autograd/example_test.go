package autograd_test

import (
	"fmt"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/tensor"
)

// The package documentation's example: one convolution, ReLU and mean,
// differentiated with respect to the kernel.
func Example() {
	x := tensor.New(1, 4, 4, 1)
	x.Fill(1)
	kernel := tensor.New(3, 3, 1, 1)
	kernel.Fill(0.5)

	tape := autograd.NewTape(1)
	w := autograd.NewParam("conv/kernel", kernel)
	y := tape.ReLU(tape.Conv2D(tape.Constant(x), w, 1, tensor.PadSame))
	loss := tape.Mean(y)
	if err := tape.Backward(loss); err != nil {
		panic(err)
	}
	fmt.Printf("loss %.4f, ∂loss/∂w[1,1] %.4f\n", loss.Value.Data()[0], w.Grad.Data()[4])
	tape.Reset()
	// Output: loss 3.1250, ∂loss/∂w[1,1] 1.0000
}
