package nn

import (
	"fmt"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/tensor"
)

// LevelSize returns the spatial size of pyramid level l for an input of the
// given size: ⌈size/2^l⌉, what 'same'-padded stride-2 convolutions and
// pools produce level by level (spec §4).
func LevelSize(size, l int) int {
	if l <= 0 {
		return size
	}
	return (size + (1 << l) - 1) >> l
}

// Forward runs the graph on a tape and returns its outputs in order. inputs
// are the values of g.Inputs, [N,H,W,C] each; the first input's H and W fix
// the size of every level. On a training tape batch norm uses batch
// statistics and stochastic depth and dropout are active.
//
// Shape errors panic with a *tensor.ShapeError (the graph was built wrong),
// an op without a forward rule with an *OpError.
func (g *Graph) Forward(t *autograd.Tape, inputs ...*autograd.Var) []*autograd.Var {
	if g.shapeOnly {
		panic(ErrShapeOnly)
	}
	if len(inputs) != len(g.Inputs) {
		panic(fmt.Sprintf("nn: Forward got %d inputs, the graph has %d", len(inputs), len(g.Inputs)))
	}
	vals := make([]*autograd.Var, len(g.Nodes))
	h, w := inputs[0].Value.Dim(1), inputs[0].Value.Dim(2)
	for i, id := range g.Inputs {
		if c := inputs[i].Value.Dim(-1); c != g.Nodes[id].Channels {
			panic(&tensor.ShapeError{Op: "nn.Forward", Msg: fmt.Sprintf("input %s has %d channels, want %d", g.Nodes[id].Name, c, g.Nodes[id].Channels)})
		}
		vals[id] = inputs[i]
	}
	total := 0
	for _, n := range g.Nodes {
		total += len(n.Inputs)
	}
	args := make([]*autograd.Var, total) // every node's input list, in one allocation
	for _, n := range g.Nodes {
		if n.Op == OpInput {
			continue
		}
		d, ok := n.Op.Def()
		if !ok || d.Forward == nil {
			panic(&OpError{Node: n.Name, Op: n.Op, Stage: "forward"})
		}
		xs := args[:len(n.Inputs):len(n.Inputs)]
		args = args[len(n.Inputs):]
		for i, in := range n.Inputs {
			xs[i] = vals[in]
		}
		vals[n.ID] = d.Forward(t, n, xs, h, w)
	}
	outs := make([]*autograd.Var, len(g.Outputs))
	for i, id := range g.Outputs {
		outs[i] = vals[id]
	}
	return outs
}
