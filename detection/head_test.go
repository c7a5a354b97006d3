package detection

import (
	"testing"

	"github.com/spinenet-go/spinenet/spinenet"
)

// Spec §10.5: trainable parameters and MACs of SpineNet RetinaNet with a
// 91-class, 9-anchor head, from the shape-only graph, with the head HeadFor
// derives from the scaling fields.
func TestRetinaNetCounts(t *testing.T) {
	cases := []struct {
		id     string
		size   int
		params int
		macs   int64
	}{
		{"49", 640, 28543383, 85281555200},
		{"96", 1024, 42974871, 0},
		{"190", 1280, 163637351, 0},
		{"49S", 640, 11265942, 30778541175},   // official SCALING_MAP (endpoints 128), spec §10.5
		{"143", 1280, 66959511, 523337600000}, // 523.34 B in spec §10.5
	}
	for _, c := range cases {
		if testing.Short() && c.id == "190" {
			continue
		}
		arch, _ := spinenet.Lookup(c.id)
		opt := spinenet.DefaultOptions()
		opt.ShapeOnly = true
		m, err := NewRetinaNet(arch, opt, HeadFor(arch, 91, opt.Activation))
		if err != nil {
			t.Fatal(err)
		}
		acc, err := m.Graph().Account(c.size, c.size)
		if err != nil {
			t.Fatal(err)
		}
		if acc.TrainableParams != c.params {
			t.Errorf("%s: %d params, want %d", c.id, acc.TrainableParams, c.params)
		}
		if c.macs != 0 && acc.MACs != c.macs {
			t.Errorf("%s: %d MACs at %d, want %d", c.id, acc.MACs, c.size, c.macs)
		}
	}
}
