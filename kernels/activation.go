package kernels

import "math"

// ApplyActivation replaces every x in v with act(x).
func ApplyActivation(act Activation, v []float32) {
	switch act {
	case ActNone:
	case ActReLU:
		for i, x := range v {
			if x < 0 {
				v[i] = 0
			}
		}
	case ActSwish:
		for i, x := range v {
			v[i] = x * Sigmoid(x)
		}
	case ActHardSwish:
		for i, x := range v {
			v[i] = x * relu6(x+3) / 6
		}
	case ActSigmoid:
		for i, x := range v {
			v[i] = Sigmoid(x)
		}
	default:
		panic("kernels: unknown activation")
	}
}

// Sigmoid returns 1/(1+exp(-x)), computed without overflow for large |x|.
func Sigmoid(x float32) float32 {
	if x >= 0 {
		return 1 / (1 + float32(math.Exp(float64(-x))))
	}
	e := float32(math.Exp(float64(x)))
	return e / (1 + e)
}

func relu6(x float32) float32 {
	return min(max(x, 0), 6)
}
