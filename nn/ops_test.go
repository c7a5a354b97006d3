package nn

import (
	"errors"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/tensor"
)

// Every op in the table has the rules of every stage of this package.
func TestOpTableComplete(t *testing.T) {
	ops := Ops()
	if len(ops) != int(OpDepthToSpace)+1 {
		t.Errorf("%d ops in the table, want %d (OpInput…OpDepthToSpace)", len(ops), OpDepthToSpace+1)
	}
	for _, o := range ops {
		d, _ := o.Def()
		if d.Shape == nil {
			t.Errorf("op %v has no shape rule", o)
		}
		if d.Forward == nil && o != OpInput {
			t.Errorf("op %v has no forward rule", o)
		}
	}
}

// An op the table does not define is an error in Account and in Forward,
// not a node that silently takes its input's shape.
func TestUnknownOpReported(t *testing.T) {
	g := NewGraph()
	s := NewScope(g, 1)
	x := s.Input("image", 3)
	g.AddNode(&Node{Op: Op(200), Inputs: []int{x}, Name: "mystery", Channels: 3})
	_, err := g.Account(8, 8)
	var oe *OpError
	if !errors.As(err, &oe) || oe.Stage != "shape" || oe.Node != "mystery" {
		t.Fatalf("Account: %v, want an *OpError for the shape stage of node mystery", err)
	}
	if got := Op(200).String(); got != "op(200)" {
		t.Errorf("String of an unknown op: %q", got)
	}
	defer func() {
		r := recover()
		err, _ := r.(error)
		if !errors.As(err, &oe) || oe.Stage != "forward" {
			t.Errorf("Forward panicked with %v, want an *OpError for the forward stage", r)
		}
	}()
	g.Forward(autograd.NewInferenceTape(), autograd.NewConstant(tensor.New(1, 8, 8, 3)))
	t.Error("Forward ran an unknown op")
}

// Account gives the shapes and multiply-adds the table's rules define on a
// small graph with one of every kind of cost.
func TestAccountSmallGraph(t *testing.T) {
	g := NewGraph()
	s := NewScope(g, 1)
	x := s.Input("image", 3)
	c := s.ConvBN(x, "stem", ConvSpec{K: 3, Out: 8, Stride: 2, Pad: tensor.PadSame}, tensor.ActReLU)
	d := s.Conv(c, "dw", ConvSpec{K: 3, Stride: 1, Pad: tensor.PadSame, Depthwise: true})
	p := s.MaxPool(d, "pool", 3, 2, tensor.PadSame)
	r := s.Resize(p, "up", 1)
	sum := s.Add("sum", r, d)
	gp := s.GlobalAvgPool(sum, "gap")
	s.Dense(gp, "fc", 5, true, nil, nil)
	a, err := g.Account(17, 10)
	if err != nil {
		t.Fatal(err)
	}
	// A 17×10 input: level 1 is 9×5, the stride-2 pool of it 5×3.
	wantShapes := map[string][]int{"stem/conv": {1, 9, 5, 8}, "dw": {1, 9, 5, 8}, "pool": {1, 5, 3, 8}, "up": {1, 9, 5, 8},
		"sum": {1, 9, 5, 8}, "gap": {1, 8}, "fc": {1, 5}}
	for _, nc := range a.Nodes {
		if want, ok := wantShapes[nc.Node.Name]; ok && !tensor.EqualShapes(nc.Shape, want) {
			t.Errorf("%s: shape %v, want %v", nc.Node.Name, nc.Shape, want)
		}
	}
	wantMACs := int64(9*5*3*3*3*8 + 9*5*3*3*8 + 8*5) // conv, depthwise, dense
	if a.MACs != wantMACs {
		t.Errorf("MACs %d, want %d", a.MACs, wantMACs)
	}
	wantParams := 3*3*3*8 + 2*8 + 3*3*8 + 8*5 + 5
	if a.TrainableParams != wantParams || a.ParamsWithBNStats != wantParams+2*8 {
		t.Errorf("params %d (with BN stats %d), want %d (%d)", a.TrainableParams, a.ParamsWithBNStats, wantParams, wantParams+16)
	}
}
