package kernels

import (
	"encoding/json"
	"testing"
)

// Activations travel as words in JSON; older files' bare numbers still
// decode, and unknown names are errors.
func TestActivationText(t *testing.T) {
	for _, a := range []Activation{ActNone, ActReLU, ActSwish, ActHardSwish, ActSigmoid} {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if want := `"` + a.String() + `"`; string(b) != want {
			t.Errorf("%v marshals to %s, want %s", a, b, want)
		}
		var back Activation
		if err := json.Unmarshal(b, &back); err != nil || back != a {
			t.Errorf("%s: back %v, %v", b, back, err)
		}
		p, err := ParseActivation(a.String())
		if err != nil || p != a {
			t.Errorf("ParseActivation(%q) = %v, %v", a.String(), p, err)
		}
	}
	for in, want := range map[string]Activation{`2`: ActSwish, `"SiLU"`: ActSwish, `"hardswish"`: ActHardSwish, `"linear"`: ActNone} {
		var a Activation
		if err := json.Unmarshal([]byte(in), &a); err != nil || a != want {
			t.Errorf("%s: %v, %v; want %v", in, a, err, want)
		}
	}
	for _, in := range []string{`"gelu"`, `9`, `-1`, `true`} {
		var a Activation
		if err := json.Unmarshal([]byte(in), &a); err == nil {
			t.Errorf("%s decoded to %v", in, a)
		}
	}
	if _, err := Activation(9).MarshalText(); err == nil {
		t.Error("Activation(9) marshalled")
	}
}
