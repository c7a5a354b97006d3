package nn

import (
	"fmt"
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
// fails if a shape does not fit (e.g. an input too small for a window) and,
// with an *OpError, for an op without a shape rule.
func (g *Graph) Account(h, w int) (*Accounting, error) {
	a := &Accounting{H: h, W: w, Nodes: make([]NodeCost, len(g.Nodes))}
	shapes := make([][]int, len(g.Nodes))
	seen := map[any]bool{}
	for _, n := range g.Nodes {
		c := NodeCost{Node: n}
		d, ok := n.Op.Def()
		if !ok || d.Shape == nil {
			return nil, &OpError{Node: n.Name, Op: n.Op, Stage: "shape"}
		}
		in := make([][]int, len(n.Inputs))
		for i, id := range n.Inputs {
			in[i] = shapes[id]
		}
		if n.Op != OpInput && len(in) == 0 {
			return nil, fmt.Errorf("nn: node %s: %v without inputs", n.Name, n.Op)
		}
		shape, err := d.Shape(n, in, h, w)
		if err != nil {
			return nil, fmt.Errorf("nn: node %s: %w", n.Name, err)
		}
		c.Shape = shape
		if d.MACs != nil {
			c.MACs = d.MACs(n, in, shape)
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
