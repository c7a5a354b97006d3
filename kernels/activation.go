package kernels

// ApplyActivation replaces every x in v with act(x). It runs the vectorised
// kernels of elementwise.go (see EpilogueRows).
func ApplyActivation(act Activation, v []float32) {
	EpilogueRows(act, v, len(v), 1, len(v), nil, nil, 0)
}

// Sigmoid returns 1/(1+exp(-x)) in float32, saturating to 0 or 1 for large
// |x| (the scalar twin of the vectorised kernel).
func Sigmoid(x float32) float32 { return sigmoidGo(x) }

func relu6(x float32) float32 {
	return min(max(x, 0), 6)
}
