package nn

import (
	"math"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/tensor"
)

// Init fills a freshly created parameter. fanIn is the number of inputs
// feeding each output unit (KH·KW·Cin for a convolution).
type Init interface {
	Fill(t *tensor.Tensor, fanIn int, rng *rand.Rand)
}

// VarianceScaling is Keras's VarianceScaling(scale, mode='fan_in',
// distribution='truncated_normal'), the initializer of every SpineNet
// backbone convolution (spec §3.6): a normal with standard deviation
// sqrt(Scale/fanIn)/0.87962566 (the correction for truncation), redrawn
// outside two standard deviations.
type VarianceScaling struct{ Scale float64 }

// Fill implements Init.
func (v VarianceScaling) Fill(t *tensor.Tensor, fanIn int, rng *rand.Rand) {
	std := math.Sqrt(v.Scale/float64(max(fanIn, 1))) / 0.87962566103423978
	for i := range t.Data() {
		z := rng.NormFloat64()
		for math.Abs(z) > 2 {
			z = rng.NormFloat64()
		}
		t.Data()[i] = float32(z * std)
	}
}

// Normal draws from N(0, Std²) (the RetinaNet head's initializers, spec §3.6).
type Normal struct{ Std float64 }

// Fill implements Init.
func (n Normal) Fill(t *tensor.Tensor, _ int, rng *rand.Rand) {
	for i := range t.Data() {
		t.Data()[i] = float32(rng.NormFloat64() * n.Std)
	}
}

// Constant sets every element to a value (0 for biases and β, 1 for γ).
type Constant float32

// Fill implements Init.
func (c Constant) Fill(t *tensor.Tensor, _ int, _ *rand.Rand) { t.Fill(float32(c)) }
