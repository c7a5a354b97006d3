package nn

import (
	"errors"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/tensor"
)

// tinyGraph is conv → batch norm → dense, for weights tests.
func tinyGraph(out int) *Graph {
	g := NewGraph()
	s := NewScope(g, 1)
	x := s.Input("image", 2)
	h := s.BatchNorm(s.Conv(x, "conv", ConvSpec{K: 3, Out: 4, Stride: 1, Pad: tensor.PadSame}), "bn")
	h = s.GlobalAvgPool(h, "pool")
	g.MarkOutput(s.Dense(h, "dense", out, true, nil, nil), "logits")
	return g
}

// InitFrom loads what fits, keeps what Skip or Scope allows fresh, refuses
// everything else by name and changes nothing then, and refuses a file of
// which nothing fits.
func TestInitFrom(t *testing.T) {
	src := tinyGraph(5).StateDict()
	for _, v := range src {
		for i := range v.Data() {
			v.Data()[i] = 7
		}
	}
	isDense := func(n string) bool { return strings.HasPrefix(n, "dense/") }

	g := tinyGraph(3)
	_, err := g.InitFrom(src, "src", InitOptions{})
	var we *WeightsError
	if !errors.As(err, &we) || len(we.Mismatched) != 2 || !strings.HasPrefix(we.Mismatched[0], "dense/bias: shape [5], want [3]") {
		t.Fatalf("mismatched dense: %v", err)
	}
	if g.StateDict()["conv/kernel"].Data()[0] == 7 {
		t.Error("a refused init changed the graph")
	}
	rep, err := g.InitFrom(src, "src", InitOptions{Skip: isDense})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Loaded) != 5 || len(rep.Reinitialised) != 2 || rep.Reinitialised[0].Name != "dense/bias" ||
		rep.Reinitialised[0].Reason != "shape [5] in the file, [3] here" || len(rep.Unused) != 2 {
		t.Errorf("report %+v", rep)
	}
	if g.StateDict()["bn/moving_mean"].Data()[0] != 7 || g.StateDict()["dense/bias"].Data()[0] == 7 {
		t.Error("loaded the wrong tensors")
	}

	g = tinyGraph(3)
	rep, err = g.InitFrom(src, "src", InitOptions{Scope: func(n string) bool { return !isDense(n) }})
	if err != nil || len(rep.Reinitialised) != 2 || rep.Reinitialised[1].Reason != "outside the init scope" {
		t.Errorf("scope: %v %+v", err, rep)
	}
	delete(src, "conv/kernel")
	if _, err := tinyGraph(3).InitFrom(src, "src", InitOptions{Skip: isDense}); !errors.As(err, &we) || len(we.Missing) != 1 || we.Missing[0] != "conv/kernel" {
		t.Errorf("missing conv: %v", err)
	}
	other := map[string]*tensor.Tensor{"x/kernel": tensor.New(1)}
	if _, err := tinyGraph(3).InitFrom(other, "other", InitOptions{Skip: func(string) bool { return true }}); err == nil || !strings.Contains(err.Error(), "none of the file's 1 tensors fits") {
		t.Errorf("nothing fits: %v", err)
	}
}
