package kernels

import (
	"fmt"
	"strconv"
	"strings"
)

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

// activationNames are the canonical names, indexed by Activation.
var activationNames = [...]string{ActNone: "none", ActReLU: "relu", ActSwish: "swish", ActHardSwish: "hard_swish", ActSigmoid: "sigmoid"}

// String returns the canonical name: none, relu, swish, hard_swish or
// sigmoid.
func (a Activation) String() string {
	if int(a) < len(activationNames) {
		return activationNames[a]
	}
	return "activation(" + strconv.Itoa(int(a)) + ")"
}

// ParseActivation maps a name to an activation: the canonical names of
// String, case-insensitively, plus the aliases silu (swish), hardswish and
// linear or "" (none).
func ParseActivation(name string) (Activation, error) {
	switch strings.ToLower(name) {
	case "relu":
		return ActReLU, nil
	case "swish", "silu":
		return ActSwish, nil
	case "hard_swish", "hardswish":
		return ActHardSwish, nil
	case "sigmoid":
		return ActSigmoid, nil
	case "none", "linear", "":
		return ActNone, nil
	}
	return ActNone, fmt.Errorf("unknown activation %q, want relu, swish, hard_swish, sigmoid or none", name)
}

// MarshalText encodes the canonical name, so JSON and YAML carry
// activations as words.
func (a Activation) MarshalText() ([]byte, error) {
	if int(a) >= len(activationNames) {
		return nil, fmt.Errorf("kernels: cannot encode %v", a)
	}
	return []byte(a.String()), nil
}

// UnmarshalText decodes a name ParseActivation accepts.
func (a *Activation) UnmarshalText(b []byte) error {
	v, err := ParseActivation(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// UnmarshalJSON decodes a name, or the bare number older weights files
// stored.
func (a *Activation) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return fmt.Errorf("activation %s: %w", b, err)
		}
		return a.UnmarshalText([]byte(s))
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 || n >= len(activationNames) {
		return fmt.Errorf("activation %s: want a name (relu, swish, hard_swish, sigmoid, none) or 0..%d", b, len(activationNames)-1)
	}
	*a = Activation(n)
	return nil
}
