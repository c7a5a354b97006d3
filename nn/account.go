package nn

import (
	"fmt"

	"github.com/spinenet-go/spinenet/kernels"
	"github.com/spinenet-go/spinenet/tensor"
)

// NodeCost is one node's share of a model's size and work.
type NodeCost struct {
	Node *Node
	// Shape is the node's output shape for a batch of one.
	Shape []int
	// Params counts the trainable values first used by this node (a
	// parameter shared by several nodes is counted once, at its first use).
	Params int
	// BNStats counts batch-norm moving statistics (2 per channel).
	BNStats int
	// MACs counts multiply-accumulates of convolutions and dense layers, the
	// convention of the paper's "FLOPs" (spec §5.1).
	MACs int64
}

// Accounting is the size and cost of a graph at one input size.
type Accounting struct {
	H, W  int
	Nodes []NodeCost
	// TrainableParams counts every distinct trainable value (conv and dense
	// kernels and biases, batch-norm γ and β).
	TrainableParams int
	// ParamsWithBNStats adds the batch-norm moving means and variances
	// (Keras's count_params()).
	ParamsWithBNStats int
	// MACs is the total multiply-accumulates for one image.
	MACs int64
}

// GroupCost sums the nodes of one accounting group.
type GroupCost struct {
	Group   string
	Params  int
	BNStats int
	MACs    int64
}

// Account walks the graph for one image of h×w pixels, computing every
// node's output shape, parameters and multiply-adds without running it. It
// fails if a shape does not fit (e.g. an input too small for a window).
func (g *Graph) Account(h, w int) (*Accounting, error) {
	a := &Accounting{H: h, W: w, Nodes: make([]NodeCost, len(g.Nodes))}
	shapes := make([][]int, len(g.Nodes))
	seen := map[any]bool{}
	for _, n := range g.Nodes {
		c := NodeCost{Node: n}
		var in []int
		if len(n.Inputs) > 0 {
			in = shapes[n.Inputs[0]]
		}
		switch n.Op {
		case OpInput:
			c.Shape = []int{1, h, w, n.Channels}
		case OpConv:
			var p kernels.ConvParams
			var err error
			if n.Conv.Depthwise {
				p, err = tensor.DepthwiseParams(in, n.Conv.Kernel.Shape(), n.Conv.Stride, n.Conv.Pad)
			} else {
				p, err = tensor.Conv2DParams(in, n.Conv.Kernel.Shape(), n.Conv.Stride, n.Conv.Pad)
			}
			if err != nil {
				return nil, fmt.Errorf("nn: node %s: %w", n.Name, err)
			}
			c.Shape = []int{1, p.OutH(), p.OutW(), p.OC}
			per := int64(p.KH * p.KW * p.C * p.OC)
			if n.Conv.Depthwise {
				per = int64(p.KH * p.KW * p.C)
			}
			c.MACs = int64(p.OutH()*p.OutW()) * per
		case OpDense:
			c.Shape = append(append([]int(nil), in[:len(in)-1]...), n.Channels)
			rows := 1
			for _, d := range in[:len(in)-1] {
				rows *= d
			}
			c.MACs = int64(rows) * int64(in[len(in)-1]) * int64(n.Channels)
		case OpMaxPool:
			p, err := tensor.PoolParams(in, n.Pool.K, n.Pool.Stride, n.Pool.Pad)
			if err != nil {
				return nil, fmt.Errorf("nn: node %s: %w", n.Name, err)
			}
			c.Shape = []int{1, p.OutH(), p.OutW(), p.C}
		case OpResize:
			c.Shape = []int{1, LevelSize(h, n.Level), LevelSize(w, n.Level), n.Channels}
		case OpGlobalAvgPool:
			c.Shape = []int{1, n.Channels}
		case OpAdd, OpScaleChannels:
			for _, id := range n.Inputs[1:] {
				other := shapes[id]
				if n.Op == OpAdd && !tensor.EqualShapes(in, other) {
					return nil, fmt.Errorf("nn: node %s: adding shapes %v and %v", n.Name, in, other)
				}
			}
			c.Shape = in
		default:
			c.Shape = in
		}
		for _, p := range n.Params() {
			if !seen[p] {
				seen[p] = true
				c.Params += p.Value.NumElements()
			}
		}
		if n.Op == OpBatchNorm && !seen[n.BN.Stats] {
			seen[n.BN.Stats] = true
			c.BNStats = 2 * n.Channels
		}
		shapes[n.ID] = c.Shape
		a.Nodes[n.ID] = c
		a.TrainableParams += c.Params
		a.ParamsWithBNStats += c.Params + c.BNStats
		a.MACs += c.MACs
	}
	return a, nil
}

// ByGroup sums the nodes per accounting group, in order of first appearance.
func (a *Accounting) ByGroup() []GroupCost {
	var out []GroupCost
	index := map[string]int{}
	for _, c := range a.Nodes {
		i, ok := index[c.Node.Group]
		if !ok {
			i = len(out)
			index[c.Node.Group] = i
			out = append(out, GroupCost{Group: c.Node.Group})
		}
		out[i].Params += c.Params
		out[i].BNStats += c.BNStats
		out[i].MACs += c.MACs
	}
	return out
}
