// Package nn describes models as graphs of layers and runs them.
//
// A Graph is a directed acyclic graph of Nodes — convolutions, batch norms,
// activations, sums, pooling, resizes — whose weights are autograd Params
// named by a hierarchical path ("stem/conv/kernel"). Builders (package
// spinenet, the detection and classification heads) add nodes through a
// Scope; the same Graph is then
//
//   - run for training or evaluation on an autograd Tape (Forward),
//   - measured without computing anything (Account: parameters and
//     multiply-adds per node and per group, at any input size),
//   - compiled into a fused inference plan (package infer), and
//   - saved and loaded by parameter name (Graph.SaveWeights, LoadWeights,
//     StateDict).
//
// Spatial sizes are not part of the graph: every node knows its channel
// count and its pyramid level, and sizes follow from the input at run time
// (level L has ⌈H/2^L⌉ rows). That is what lets one built model take any
// input size.
package nn

import (
	"errors"
	"fmt"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/tensor"
)

// Op is the kind of a Node.
type Op uint8

// The node kinds.
const (
	OpInput           Op = iota // a graph input [N,H,W,C]
	OpConv                      // convolution (Conv), optional bias
	OpBatchNorm                 // batch normalization (BN)
	OpAct                       // elementwise activation (Act)
	OpAdd                       // sum of all inputs
	OpMaxPool                   // max-pool (Pool)
	OpResize                    // nearest-neighbour resize to the size of Level
	OpStochasticDepth           // per-example drop of a residual branch (Rate)
	OpGlobalAvgPool             // [N,H,W,C] → [N,C]
	OpDense                     // fully connected layer over the last axis (Conv.Kernel [in,out])
	OpScaleChannels             // inputs x [N,H,W,C] and gate [N,C]: x·gate
	OpDropout                   // per-element dropout (Rate)
	OpScale                     // multiply by the constant Factor
	OpDepthToSpace              // [N,H,W,4C] → [N,2H,2W,C] (block 2), optional bias (Conv.Bias); see Scope.Deconv2x2
)

// ConvAttrs are the attributes of a convolution or dense node.
type ConvAttrs struct {
	Kernel    *autograd.Var  // [KH,KW,Cin,Cout]; depthwise [KH,KW,C]; dense [in,out]
	Bias      *autograd.Var  // [Cout] or nil
	Stride    int            // 1 or more
	Pad       tensor.Padding // 'same' or explicit
	Depthwise bool
}

// BNAttrs are the attributes of a batch-norm node.
type BNAttrs struct {
	Gamma, Beta *autograd.Var
	Stats       *autograd.BatchNormStats
}

// PoolAttrs are the attributes of a max-pool node.
type PoolAttrs struct {
	K, Stride int
	Pad       tensor.Padding
}

// Node is one operation of a Graph.
type Node struct {
	ID     int
	Op     Op
	Inputs []int // IDs of earlier nodes
	// Name is the node's path, the prefix of its parameters' names.
	Name string
	// Group labels the node for accounting tables (e.g. "stem", "block 5").
	Group string
	// Channels is the size of the last axis of the output.
	Channels int
	// Level is the pyramid level of the output (stride 2^Level); −1 for
	// outputs without spatial extent.
	Level int

	Conv   ConvAttrs
	BN     BNAttrs
	Act    tensor.Activation
	Pool   PoolAttrs
	Rate   float64 // stochastic depth or dropout rate
	Factor float32 // OpScale
	// InputSize fixes an OpInput's height and width (Scope.InputSized:
	// RoI features of a detector's head); zero means the graph's image
	// size.
	InputSize [2]int
}

// Params returns the node's trainable parameters.
func (n *Node) Params() []*autograd.Var {
	var ps []*autograd.Var
	for _, p := range []*autograd.Var{n.Conv.Kernel, n.Conv.Bias, n.BN.Gamma, n.BN.Beta} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Graph is a model as a DAG of Nodes in topological order.
type Graph struct {
	Nodes []*Node
	// Inputs and Outputs are node IDs; OutputNames names the outputs
	// (e.g. "P3"…"P7").
	Inputs      []int
	Outputs     []int
	OutputNames []string

	params    []*autograd.Var
	byName    map[string]*autograd.Var
	stats     []NamedStats
	shapeOnly bool
}

// ShapeOnly reports whether the graph was built with Scope.ShapeOnly: its
// parameters have shapes but no values, so it can be accounted but not run,
// compiled, saved or loaded.
func (g *Graph) ShapeOnly() bool { return g.shapeOnly }

// ErrShapeOnly is returned (or, from Forward, panicked) when a shape-only
// graph is asked to compute, save or load values.
var ErrShapeOnly = errors.New("nn: the graph was built shape-only (for accounting); build it again without ShapeOnly to run it")

// NamedStats is a batch-norm layer's statistics with the layer's path.
type NamedStats struct {
	Name  string
	Stats *autograd.BatchNormStats
}

// NewGraph returns an empty graph.
func NewGraph() *Graph { return &Graph{byName: map[string]*autograd.Var{}} }

// Params returns every trainable parameter in creation order.
func (g *Graph) Params() []*autograd.Var { return g.params }

// Param returns the parameter with the given full name.
func (g *Graph) Param(name string) (*autograd.Var, bool) {
	p, ok := g.byName[name]
	return p, ok
}

// BatchNormStats returns every batch-norm layer's running statistics with
// its path, in creation order.
func (g *Graph) BatchNormStats() []NamedStats { return g.stats }

// AddParam registers a parameter under name; names must be unique.
func (g *Graph) AddParam(name string, value *tensor.Tensor) *autograd.Var {
	if _, dup := g.byName[name]; dup {
		panic("nn: duplicate parameter name " + name)
	}
	p := autograd.NewParam(name, value)
	g.params = append(g.params, p)
	g.byName[name] = p
	return p
}

// AddNode appends n (its ID is set here) and returns its ID. Inputs must be
// earlier nodes.
func (g *Graph) AddNode(n *Node) int {
	n.ID = len(g.Nodes)
	for _, in := range n.Inputs {
		if in < 0 || in >= n.ID {
			panic(fmt.Sprintf("nn: node %s takes input %d, not an earlier node", n.Name, in))
		}
	}
	g.Nodes = append(g.Nodes, n)
	if n.Op == OpInput {
		g.Inputs = append(g.Inputs, n.ID)
	}
	return n.ID
}

// MarkOutput declares node id an output called name.
func (g *Graph) MarkOutput(id int, name string) {
	g.Outputs = append(g.Outputs, id)
	g.OutputNames = append(g.OutputNames, name)
}

// Output returns the node ID of the output called name.
func (g *Graph) Output(name string) (int, bool) {
	for i, n := range g.OutputNames {
		if n == name {
			return g.Outputs[i], true
		}
	}
	return 0, false
}
