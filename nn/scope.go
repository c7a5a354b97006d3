package nn

import (
	"fmt"
	"math/bits"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/tensor"
)

// BNConfig holds the batch-norm hyper-parameters a builder applies.
type BNConfig struct {
	Momentum float32 // Keras convention: moving = m·moving + (1−m)·batch
	Epsilon  float32
}

// DefaultBN is the TF2 SpineNet setting: momentum 0.99, epsilon 1e-3
// (spec §3.4).
var DefaultBN = BNConfig{Momentum: 0.99, Epsilon: 1e-3}

// Scope adds nodes to a Graph under a path prefix. Scopes share the graph
// and its random generator; Sub and WithGroup derive narrower scopes.
type Scope struct {
	g     *Graph
	path  string
	group string
	rng   *rand.Rand
	// BN is used by BatchNorm in this scope and the scopes derived from it.
	BN BNConfig
	// SkipInit leaves new parameters zero (and batch-norm γ one) instead of
	// drawing them: before loading weights.
	SkipInit bool
	// ShapeOnly gives new parameters a shape but no storage
	// (tensor.NewShapeOnly): the graph can be accounted (Graph.Account) but
	// not run, saved or loaded. An architecture search prices candidates
	// this way without allocating their weights.
	ShapeOnly bool
}

// NewScope returns the root scope of g; seed drives every initializer.
func NewScope(g *Graph, seed uint64) *Scope {
	return &Scope{g: g, rng: rand.New(rand.NewPCG(seed, 0x5b1e)), BN: DefaultBN}
}

// Graph returns the graph the scope builds.
func (s *Scope) Graph() *Graph { return s.g }

// Sub returns a scope whose names are prefixed with name.
func (s *Scope) Sub(name string) *Scope {
	c := *s
	c.path = s.join(name)
	return &c
}

// WithGroup returns a scope whose nodes carry the accounting group label.
func (s *Scope) WithGroup(group string) *Scope {
	c := *s
	c.group = group
	return &c
}

// Path returns the scope's name prefix.
func (s *Scope) Path() string { return s.path }

func (s *Scope) join(name string) string {
	if s.path == "" {
		return name
	}
	return s.path + "/" + name
}

func (s *Scope) node(x []int, op Op, name string, channels, level int) *Node {
	return &Node{Op: op, Inputs: x, Name: s.join(name), Group: s.group, Channels: channels, Level: level}
}

func (s *Scope) add(n *Node) int { return s.g.AddNode(n) }

// N returns the node with the given ID.
func (s *Scope) N(id int) *Node { return s.g.Nodes[id] }

// Input adds a graph input with the given channel count at level 0.
func (s *Scope) Input(name string, channels int) int {
	return s.add(s.node(nil, OpInput, name, channels, 0))
}

// InputSized adds a graph input of a fixed h×w size, independent of the
// image size: e.g. the [R,7,7,C] RoI features a detector's box head runs
// on, one per RoI in the batch axis. Its output has no pyramid level.
func (s *Scope) InputSized(name string, channels, h, w int) int {
	n := s.node(nil, OpInput, name, channels, -1)
	n.InputSize = [2]int{h, w}
	return s.add(n)
}

// ConvSpec configures a convolution node.
type ConvSpec struct {
	K, Out, Stride int
	Pad            tensor.Padding
	Depthwise      bool // Out is ignored: depthwise keeps the channel count
	Bias           bool
	Init           Init // kernel initializer; nil means VarianceScaling{1}
	BiasInit       Init // nil means Constant(0)
}

// Conv adds a convolution of x named name (parameters name/kernel and
// name/bias).
func (s *Scope) Conv(x int, name string, c ConvSpec) int {
	in := s.N(x)
	if c.Stride < 1 || (c.Stride&(c.Stride-1)) != 0 {
		panic(fmt.Sprintf("nn: %s: stride %d, want a power of two", s.join(name), c.Stride))
	}
	out := c.Out
	shape := []int{c.K, c.K, in.Channels, c.Out}
	fanIn := c.K * c.K * in.Channels
	if c.Depthwise {
		out = in.Channels
		shape = []int{c.K, c.K, in.Channels}
		fanIn = c.K * c.K
	}
	n := s.node([]int{x}, OpConv, name, out, in.Level+bits.TrailingZeros(uint(c.Stride)))
	n.Conv = ConvAttrs{Stride: c.Stride, Pad: c.Pad, Depthwise: c.Depthwise}
	n.Conv.Kernel = s.param(n.Name+"/kernel", c.Init, VarianceScaling{1}, fanIn, shape...)
	if c.Bias {
		n.Conv.Bias = s.param(n.Name+"/bias", c.BiasInit, Constant(0), fanIn, out)
	}
	return s.add(n)
}

func (s *Scope) param(name string, init, def Init, fanIn int, shape ...int) *autograd.Var {
	if init == nil {
		init = def
	}
	if s.ShapeOnly {
		s.g.shapeOnly = true
		return s.g.AddParam(name, tensor.NewShapeOnly(shape...))
	}
	t := tensor.New(shape...)
	if _, isConst := init.(Constant); !s.SkipInit || isConst {
		init.Fill(t, fanIn, s.rng)
	}
	return s.g.AddParam(name, t)
}

// BatchNorm adds a batch norm of x named name (parameters name/gamma,
// name/beta; statistics name/moving_mean, name/moving_variance) with the
// scope's BN configuration, γ=1 and β=0 (spec §3.4).
func (s *Scope) BatchNorm(x int, name string) int {
	in := s.N(x)
	n := s.node([]int{x}, OpBatchNorm, name, in.Channels, in.Level)
	n.BN.Gamma = s.param(n.Name+"/gamma", Constant(1), nil, 0, in.Channels)
	n.BN.Beta = s.param(n.Name+"/beta", Constant(0), nil, 0, in.Channels)
	var st *autograd.BatchNormStats
	if s.ShapeOnly {
		st = &autograd.BatchNormStats{Mean: tensor.NewShapeOnly(in.Channels), Var: tensor.NewShapeOnly(in.Channels)}
	} else {
		st = autograd.NewBatchNormStats(in.Channels)
	}
	st.Momentum, st.Epsilon = s.BN.Momentum, s.BN.Epsilon
	n.BN.Stats = st
	s.g.stats = append(s.g.stats, NamedStats{Name: n.Name, Stats: st})
	return s.add(n)
}

// Act adds an activation of x (none is a no-op that returns x).
func (s *Scope) Act(x int, act tensor.Activation) int {
	if act == tensor.ActNone {
		return x
	}
	in := s.N(x)
	n := s.node([]int{x}, OpAct, "act", in.Channels, in.Level)
	n.Act = act
	return s.add(n)
}

// ConvBN adds conv → batch norm → activation with the conventional names
// name/conv and name/bn (name may be empty to use the scope's path).
func (s *Scope) ConvBN(x int, name string, c ConvSpec, act tensor.Activation) int {
	sc := s
	if name != "" {
		sc = s.Sub(name)
	}
	return sc.Act(sc.BatchNorm(sc.Conv(x, "conv", c), "bn"), act)
}

// Add adds the sum of xs, which must agree in channels and level.
func (s *Scope) Add(name string, xs ...int) int {
	first := s.N(xs[0])
	for _, x := range xs[1:] {
		if n := s.N(x); n.Channels != first.Channels || n.Level != first.Level {
			panic(fmt.Sprintf("nn: %s: adding %s (%d ch, L%d) to %s (%d ch, L%d)", s.join(name), n.Name, n.Channels, n.Level, first.Name, first.Channels, first.Level))
		}
	}
	return s.add(s.node(append([]int(nil), xs...), OpAdd, name, first.Channels, first.Level))
}

// MaxPool adds a k×k max-pool with the given stride.
func (s *Scope) MaxPool(x int, name string, k, stride int, pad tensor.Padding) int {
	in := s.N(x)
	n := s.node([]int{x}, OpMaxPool, name, in.Channels, in.Level+bits.TrailingZeros(uint(stride)))
	n.Pool = PoolAttrs{K: k, Stride: stride, Pad: pad}
	return s.add(n)
}

// Resize adds a nearest-neighbour resize of x to the size of level.
func (s *Scope) Resize(x int, name string, level int) int {
	in := s.N(x)
	return s.add(s.node([]int{x}, OpResize, name, in.Channels, level))
}

// StochasticDepth adds a per-example drop of x at rate (identity when the
// rate is not in (0,1) or at inference).
func (s *Scope) StochasticDepth(x int, rate float64) int {
	if !(rate > 0 && rate < 1) {
		return x
	}
	in := s.N(x)
	n := s.node([]int{x}, OpStochasticDepth, "stochastic_depth", in.Channels, in.Level)
	n.Rate = rate
	return s.add(n)
}

// Dropout adds per-element dropout at rate (identity outside (0,1)).
func (s *Scope) Dropout(x int, rate float64) int {
	if !(rate > 0 && rate < 1) {
		return x
	}
	in := s.N(x)
	n := s.node([]int{x}, OpDropout, "dropout", in.Channels, in.Level)
	n.Rate = rate
	return s.add(n)
}

// GlobalAvgPool adds a spatial mean [N,H,W,C] → [N,C].
func (s *Scope) GlobalAvgPool(x int, name string) int {
	return s.add(s.node([]int{x}, OpGlobalAvgPool, name, s.N(x).Channels, -1))
}

// Dense adds a fully connected layer with out units over the last axis
// (parameters name/kernel [in,out] and, with bias, name/bias).
func (s *Scope) Dense(x int, name string, out int, bias bool, init, biasInit Init) int {
	in := s.N(x)
	n := s.node([]int{x}, OpDense, name, out, in.Level)
	n.Conv.Kernel = s.param(n.Name+"/kernel", init, VarianceScaling{1}, in.Channels, in.Channels, out)
	if bias {
		n.Conv.Bias = s.param(n.Name+"/bias", biasInit, Constant(0), in.Channels, out)
	}
	return s.add(n)
}

// ScaleChannels multiplies x [N,H,W,C] by a gate [N,C].
func (s *Scope) ScaleChannels(x, gate int, name string) int {
	in := s.N(x)
	return s.add(s.node([]int{x, gate}, OpScaleChannels, name, in.Channels, in.Level))
}

// Scale multiplies x by a constant factor.
func (s *Scope) Scale(x int, name string, factor float32) int {
	in := s.N(x)
	n := s.node([]int{x}, OpScale, name, in.Channels, in.Level)
	n.Factor = factor
	return s.add(n)
}

// SharedConv adds a convolution (or dense) node of x that uses the
// parameters and attributes of the existing node like, which must take the
// same number of input channels. Heads use it to share weights across
// pyramid levels.
func (s *Scope) SharedConv(x int, like *Node) int {
	in := s.N(x)
	if like.Op != OpConv && like.Op != OpDense {
		panic(fmt.Sprintf("nn: %s: SharedConv of a %v node", like.Name, like.Op))
	}
	if s.N(like.Inputs[0]).Channels != in.Channels {
		panic(fmt.Sprintf("nn: %s: sharing %s across %d and %d input channels", s.path, like.Name, s.N(like.Inputs[0]).Channels, in.Channels))
	}
	n := &Node{Op: like.Op, Inputs: []int{x}, Name: like.Name, Group: s.group, Channels: like.Channels,
		Level: in.Level + (like.Level - s.N(like.Inputs[0]).Level), Conv: like.Conv}
	return s.add(n)
}
