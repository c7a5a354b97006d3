package nn

import (
	"fmt"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/kernels"
	"github.com/spinenet-go/spinenet/tensor"
)

// OpDef is everything package nn knows about one Op, in one place: its
// name, how its output shape and cost follow from its inputs (Account),
// and how it runs on a tape (Forward). Adding an op means adding its Op
// constant, one entry of the op table and its kernels; a stage that finds
// no rule for an op reports an error instead of guessing (package infer
// keys its compilation rules by the same Op).
type OpDef struct {
	// Name is the op's name in tables and error messages.
	Name string
	// Shape returns the output shape for a batch of one, given the shapes
	// of the node's inputs and the h×w size of the graph input.
	Shape func(n *Node, in [][]int, h, w int) ([]int, error)
	// MACs returns the multiply-accumulates of one image given the input
	// shapes and the output shape; nil means none (spec §5.1 counts only
	// convolutions and dense layers).
	MACs func(n *Node, in [][]int, out []int) int64
	// Forward computes the node on a tape from its input values; h and w
	// are the graph input's size. Nil for OpInput, whose values are given.
	Forward func(t *autograd.Tape, n *Node, x []*autograd.Var, h, w int) *autograd.Var
}

// opTable holds the definition of every Op, indexed by Op.
var opTable = [...]OpDef{
	OpInput: {
		Name: "input",
		Shape: func(n *Node, _ [][]int, h, w int) ([]int, error) {
			if n.InputSize[0] > 0 {
				h, w = n.InputSize[0], n.InputSize[1]
			}
			return []int{1, h, w, n.Channels}, nil
		},
	},
	OpConv: {
		Name: "conv",
		Shape: func(n *Node, in [][]int, _, _ int) ([]int, error) {
			p, err := convParams(n, in[0])
			if err != nil {
				return nil, err
			}
			return []int{1, p.OutH(), p.OutW(), p.OC}, nil
		},
		MACs: func(n *Node, in [][]int, out []int) int64 {
			k := n.Conv.Kernel.Shape()
			per := int64(k[0] * k[1] * in[0][3])
			if !n.Conv.Depthwise {
				per *= int64(out[3])
			}
			return int64(out[1]*out[2]) * per
		},
		Forward: func(t *autograd.Tape, n *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			var y *autograd.Var
			if n.Conv.Depthwise {
				y = t.DepthwiseConv2D(x[0], n.Conv.Kernel, n.Conv.Stride, n.Conv.Pad)
			} else {
				y = t.Conv2D(x[0], n.Conv.Kernel, n.Conv.Stride, n.Conv.Pad)
			}
			if n.Conv.Bias != nil {
				y = t.AddBias(y, n.Conv.Bias)
			}
			return y
		},
	},
	OpBatchNorm: {
		Name:  "batchnorm",
		Shape: sameShape,
		Forward: func(t *autograd.Tape, n *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			return t.BatchNorm(x[0], n.BN.Gamma, n.BN.Beta, n.BN.Stats)
		},
	},
	OpAct: {
		Name:  "act",
		Shape: sameShape,
		Forward: func(t *autograd.Tape, n *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			return t.Activate(x[0], n.Act)
		},
	},
	OpAdd: {
		Name: "add",
		Shape: func(n *Node, in [][]int, _, _ int) ([]int, error) {
			for _, other := range in[1:] {
				if !tensor.EqualShapes(in[0], other) {
					return nil, fmt.Errorf("adding shapes %v and %v", in[0], other)
				}
			}
			return in[0], nil
		},
		Forward: func(t *autograd.Tape, _ *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			if len(x) == 2 {
				return t.Add(x[0], x[1])
			}
			return t.AddN(x...)
		},
	},
	OpMaxPool: {
		Name: "maxpool",
		Shape: func(n *Node, in [][]int, _, _ int) ([]int, error) {
			p, err := tensor.PoolParams(in[0], n.Pool.K, n.Pool.Stride, n.Pool.Pad)
			if err != nil {
				return nil, err
			}
			return []int{1, p.OutH(), p.OutW(), p.C}, nil
		},
		Forward: func(t *autograd.Tape, n *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			return t.MaxPool2D(x[0], n.Pool.K, n.Pool.Stride, n.Pool.Pad)
		},
	},
	OpResize: {
		Name: "resize",
		Shape: func(n *Node, _ [][]int, h, w int) ([]int, error) {
			return []int{1, LevelSize(h, n.Level), LevelSize(w, n.Level), n.Channels}, nil
		},
		Forward: func(t *autograd.Tape, n *Node, x []*autograd.Var, h, w int) *autograd.Var {
			oh, ow := LevelSize(h, n.Level), LevelSize(w, n.Level)
			if x[0].Value.Dim(1) == oh && x[0].Value.Dim(2) == ow {
				return x[0]
			}
			return t.UpsampleNearest(x[0], oh, ow)
		},
	},
	OpStochasticDepth: {
		Name:  "stochastic_depth",
		Shape: sameShape,
		Forward: func(t *autograd.Tape, n *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			return t.StochasticDepth(x[0], n.Rate)
		},
	},
	OpGlobalAvgPool: {
		Name:  "global_avg_pool",
		Shape: func(n *Node, _ [][]int, _, _ int) ([]int, error) { return []int{1, n.Channels}, nil },
		Forward: func(t *autograd.Tape, _ *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			return t.GlobalAvgPool(x[0])
		},
	},
	OpDense: {
		Name: "dense",
		Shape: func(n *Node, in [][]int, _, _ int) ([]int, error) {
			return append(append([]int(nil), in[0][:len(in[0])-1]...), n.Channels), nil
		},
		MACs: func(n *Node, in [][]int, _ []int) int64 {
			rows := 1
			for _, d := range in[0][:len(in[0])-1] {
				rows *= d
			}
			return int64(rows) * int64(in[0][len(in[0])-1]) * int64(n.Channels)
		},
		Forward: func(t *autograd.Tape, n *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			return t.Dense(x[0], n.Conv.Kernel, n.Conv.Bias)
		},
	},
	OpScaleChannels: {
		Name:  "scale_channels",
		Shape: sameShape,
		Forward: func(t *autograd.Tape, _ *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			return t.ScaleChannels(x[0], x[1])
		},
	},
	OpDropout: {
		Name:  "dropout",
		Shape: sameShape,
		Forward: func(t *autograd.Tape, n *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			return t.Dropout(x[0], n.Rate)
		},
	},
	OpScale: {
		Name:  "scale",
		Shape: sameShape,
		Forward: func(t *autograd.Tape, n *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			return t.Scale(x[0], n.Factor)
		},
	},
	OpDepthToSpace: {
		Name: "depth_to_space",
		Shape: func(n *Node, in [][]int, _, _ int) ([]int, error) {
			x := in[0]
			if len(x) != 4 || x[3]%4 != 0 || x[3]/4 != n.Channels {
				return nil, fmt.Errorf("depth to space of %v to %d channels, want [N,H,W,%d]", x, n.Channels, 4*n.Channels)
			}
			return []int{1, 2 * x[1], 2 * x[2], n.Channels}, nil
		},
		Forward: func(t *autograd.Tape, n *Node, x []*autograd.Var, _, _ int) *autograd.Var {
			y := t.DepthToSpace(x[0], 2)
			if n.Conv.Bias != nil {
				y = t.AddBias(y, n.Conv.Bias)
			}
			return y
		},
	},
}

// sameShape is the shape rule of elementwise ops: the output is shaped
// like the first input.
func sameShape(_ *Node, in [][]int, _, _ int) ([]int, error) { return in[0], nil }

// convParams resolves the convolution of node n on an input of shape in.
func convParams(n *Node, in []int) (kernels.ConvParams, error) {
	if n.Conv.Depthwise {
		return tensor.DepthwiseParams(in, n.Conv.Kernel.Shape(), n.Conv.Stride, n.Conv.Pad)
	}
	return tensor.Conv2DParams(in, n.Conv.Kernel.Shape(), n.Conv.Stride, n.Conv.Pad)
}

// Def returns the definition of o, or false for a value outside the op
// table.
func (o Op) Def() (*OpDef, bool) {
	if int(o) >= len(opTable) || opTable[o].Name == "" {
		return nil, false
	}
	return &opTable[o], true
}

// Ops returns every defined Op in order.
func Ops() []Op {
	var ops []Op
	for i := range opTable {
		if opTable[i].Name != "" {
			ops = append(ops, Op(i))
		}
	}
	return ops
}

// String returns the op's name in the op table, or "op(N)" for a value
// outside it.
func (o Op) String() string {
	if d, ok := o.Def(); ok {
		return d.Name
	}
	return fmt.Sprintf("op(%d)", o)
}

// OpError reports a node whose op has no rule for a stage (a new op added
// to the Op list but not to every stage, or a value outside it).
type OpError struct {
	Node  string // the node's name
	Op    Op
	Stage string // "shape", "forward", "compile", …
}

// Error names the node, the op and the stage that lacks a rule for it.
func (e *OpError) Error() string {
	return fmt.Sprintf("nn: node %s: op %v has no %s rule", e.Node, e.Op, e.Stage)
}
