package nn

import (
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/tensor"
)

// Eval runs a two-input graph in phases — the image part, then a head on a
// fixed-size input — with the values Forward computes, and only the nodes
// asked for; Account sizes the fixed input by its own size.
func TestEvalPhases(t *testing.T) {
	g := NewGraph()
	s := NewScope(g, 1)
	img := s.Input("image", 2)
	feat := s.Act(s.Conv(img, "conv", ConvSpec{K: 3, Out: 3, Stride: 2, Pad: tensor.PadSame}), tensor.ActReLU)
	g.MarkOutput(feat, "features")
	rois := s.InputSized("rois", 3, 7, 7)
	fc := s.Conv(rois, "fc", ConvSpec{K: 7, Out: 5, Stride: 1, Bias: true})
	g.MarkOutput(fc, "fc")

	x := tensor.New(1, 9, 11, 2)
	r := tensor.New(4, 7, 7, 3)
	for i := range x.Data() {
		x.Data()[i] = float32(i%7) - 3
	}
	for i := range r.Data() {
		r.Data()[i] = float32(i%5) - 2
	}
	tp := autograd.NewInferenceTape()
	all := g.Forward(tp, tp.Constant(x), tp.Constant(r))
	phase1 := g.Eval(tp, 9, 11, map[int]*autograd.Var{img: tp.Constant(x)}, feat)
	phase2 := g.Eval(tp, 9, 11, map[int]*autograd.Var{rois: tp.Constant(r)}, fc)
	for i, pair := range [][2]*autograd.Var{{all[0], phase1[0]}, {all[1], phase2[0]}} {
		if !tensor.SameShape(pair[0].Value, pair[1].Value) {
			t.Fatalf("output %d: shapes %v and %v", i, pair[0].Shape(), pair[1].Shape())
		}
		for j, v := range pair[0].Value.Data() {
			if pair[1].Value.Data()[j] != v {
				t.Fatalf("output %d differs at %d", i, j)
			}
		}
	}
	if got := phase2[0].Shape(); got[0] != 4 || got[1] != 1 || got[2] != 1 || got[3] != 5 {
		t.Errorf("head output %v", got)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(string), "needs input rois") {
				t.Errorf("a missing feed: %v", r)
			}
		}()
		g.Eval(tp, 9, 11, map[int]*autograd.Var{img: tp.Constant(x)}, fc)
	}()
	a, err := g.Account(9, 11)
	if err != nil {
		t.Fatal(err)
	}
	if c := a.Nodes[fc]; c.MACs != 7*7*3*5 || c.Params != 7*7*3*5+5 {
		t.Errorf("head conv: %d MACs, %d params", c.MACs, c.Params)
	}
}
