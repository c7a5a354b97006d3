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
// Shape errors panic with a *tensor.ShapeError (the graph was built wrong).
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
	for _, n := range g.Nodes {
		if n.Op == OpInput {
			continue
		}
		x := vals[n.Inputs[0]]
		var y *autograd.Var
		switch n.Op {
		case OpConv:
			if n.Conv.Depthwise {
				y = t.DepthwiseConv2D(x, n.Conv.Kernel, n.Conv.Stride, n.Conv.Pad)
			} else {
				y = t.Conv2D(x, n.Conv.Kernel, n.Conv.Stride, n.Conv.Pad)
			}
			if n.Conv.Bias != nil {
				y = t.AddBias(y, n.Conv.Bias)
			}
		case OpBatchNorm:
			y = t.BatchNorm(x, n.BN.Gamma, n.BN.Beta, n.BN.Stats)
		case OpAct:
			y = t.Activate(x, n.Act)
		case OpAdd:
			if len(n.Inputs) == 2 {
				y = t.Add(x, vals[n.Inputs[1]])
			} else {
				xs := make([]*autograd.Var, len(n.Inputs))
				for i, in := range n.Inputs {
					xs[i] = vals[in]
				}
				y = t.AddN(xs...)
			}
		case OpMaxPool:
			y = t.MaxPool2D(x, n.Pool.K, n.Pool.Stride, n.Pool.Pad)
		case OpResize:
			oh, ow := LevelSize(h, n.Level), LevelSize(w, n.Level)
			if x.Value.Dim(1) == oh && x.Value.Dim(2) == ow {
				y = x
			} else {
				y = t.UpsampleNearest(x, oh, ow)
			}
		case OpStochasticDepth:
			y = t.StochasticDepth(x, n.Rate)
		case OpDropout:
			y = t.Dropout(x, n.Rate)
		case OpGlobalAvgPool:
			y = t.GlobalAvgPool(x)
		case OpDense:
			y = t.Dense(x, n.Conv.Kernel, n.Conv.Bias)
		case OpScaleChannels:
			y = t.ScaleChannels(x, vals[n.Inputs[1]])
		case OpScale:
			y = t.Scale(x, n.Factor)
		default:
			panic(fmt.Sprintf("nn: node %s: op %v cannot run", n.Name, n.Op))
		}
		vals[n.ID] = y
	}
	outs := make([]*autograd.Var, len(g.Outputs))
	for i, id := range g.Outputs {
		outs[i] = vals[id]
	}
	return outs
}
