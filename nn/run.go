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
	for i, id := range g.Inputs {
		vals[id] = inputs[i]
	}
	g.run(t, vals, nil, inputs[0].Value.Dim(1), inputs[0].Value.Dim(2))
	outs := make([]*autograd.Var, len(g.Outputs))
	for i, id := range g.Outputs {
		outs[i] = vals[id]
	}
	return outs
}

// Eval runs on a tape only the nodes that the nodes want depend on, from
// the input values in feeds (keyed by input node ID), and returns the
// values of want in order. h×w is the image size the pyramid levels follow
// (Resize targets), as the first input's size is for Forward. It lets a
// model run its graph in phases — a detector's image part first, then heads
// whose inputs (RoI features) are computed outside the graph from the
// first phase's outputs. A needed input missing from feeds panics naming
// it; so do the errors Forward panics with.
func (g *Graph) Eval(t *autograd.Tape, h, w int, feeds map[int]*autograd.Var, want ...int) []*autograd.Var {
	if g.shapeOnly {
		panic(ErrShapeOnly)
	}
	need := make([]bool, len(g.Nodes))
	for _, id := range want {
		need[id] = true
	}
	for id := len(g.Nodes) - 1; id >= 0; id-- {
		if need[id] {
			for _, in := range g.Nodes[id].Inputs {
				need[in] = true
			}
		}
	}
	vals := make([]*autograd.Var, len(g.Nodes))
	for _, id := range g.Inputs {
		if !need[id] {
			continue
		}
		v, ok := feeds[id]
		if !ok {
			panic(fmt.Sprintf("nn: Eval needs input %s, which feeds lacks", g.Nodes[id].Name))
		}
		vals[id] = v
	}
	g.run(t, vals, need, h, w)
	outs := make([]*autograd.Var, len(want))
	for i, id := range want {
		outs[i] = vals[id]
	}
	return outs
}

// run computes, in order, every node that need marks (nil: all) from the
// input values already in vals.
func (g *Graph) run(t *autograd.Tape, vals []*autograd.Var, need []bool, h, w int) {
	total := 0
	for _, n := range g.Nodes {
		total += len(n.Inputs)
	}
	args := make([]*autograd.Var, total) // every node's input list, in one allocation
	for _, n := range g.Nodes {
		if need != nil && !need[n.ID] {
			continue
		}
		if n.Op == OpInput {
			if c := vals[n.ID].Value.Dim(-1); c != n.Channels {
				panic(&tensor.ShapeError{Op: "nn.Forward", Msg: fmt.Sprintf("input %s has %d channels, want %d", n.Name, c, n.Channels)})
			}
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
}
