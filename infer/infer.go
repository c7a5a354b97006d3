// Package infer compiles an nn.Graph into a fast inference program.
//
// Compile folds every batch norm into the convolution before it
// (tensor.FoldBatchNorm: weights scaled per output channel, the shift
// becoming a bias), fuses the activation and the residual or fusion sum
// that follow into the convolution's GEMM epilogue, drops what is the
// identity at inference (stochastic depth, dropout, resizes to the same
// size), and pre-transforms 3×3 stride-1 weights for Winograd where that is
// faster and packs the others for the GEMM driver.
//
// The result is split in two:
//
//   - a Program: the folded, transformed and packed weights and the steps.
//     It is immutable after Compile and safe for concurrent use; buffer
//     plans (which value lives in which slot of an arena, per input shape)
//     are computed once per shape and shared.
//   - an Arena (Program.NewArena): the activation buffers of one caller.
//     Each goroutine running the program uses its own Arena; an Arena
//     holds no weights, so N concurrent callers cost N activation arenas
//     and one copy of the weights. Repeated runs on one Arena allocate
//     nothing.
//
// The program holds copies of the weights: retraining the graph does not
// change it; compile again. Compilation rules are keyed by nn.Op, and an op
// without one is an error, not a silent skip.
package infer

import (
	"fmt"
	"sync"

	"github.com/spinenet-go/spinenet/kernels"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// step is one operation of the compiled program. Values are node IDs of the
// source graph; in[0] is the main input.
type step struct {
	kind stepKind
	out  int
	in   []int
	// residual is the value added in the epilogue (−1 for none).
	residual int
	act      tensor.Activation
	// conv
	weights   []float32 // folded kernel, [KH,KW,C,OC] / [KH,KW,C] / [in,out]
	bias      []float32 // folded bias [OC], or nil
	kh, kw    int
	stride    int
	pad       tensor.Padding
	depthwise bool
	wino      *kernels.WinogradWeights // pre-transformed weights for Winograd F(4×4,3×3)
	packed    *kernels.PackedWeights   // weights packed for the direct (GEMM) convolution
	// affine
	scale, shift []float32
	// pool / resize
	pool  nn.PoolAttrs
	level int
	// scale
	factor float32
	name   string
}

// Options tune compilation.
type Options struct {
	// Winograd lets 3×3 stride-1 convolutions use Winograd F(4×4,3×3) when
	// kernels.WinogradFaster says it wins (default true via DefaultOptions).
	Winograd bool
	// Device is where compilation runs its parallel work (the Winograd
	// weight transforms) and the device a new Arena starts on (see
	// Arena.SetDevice); the zero value is tensor.DefaultCPU().
	Device tensor.CPU
}

// DefaultOptions enables every optimisation.
func DefaultOptions() Options { return Options{Winograd: true} }

// Program is a compiled graph: immutable, safe for concurrent use by any
// number of goroutines, each running it on its own Arena.
type Program struct {
	g       *nn.Graph // for input channels and output shapes (its structure must not change)
	opt     Options
	steps   []step
	outputs []int

	mu    sync.Mutex
	plans map[[3]int]*plan // per input [N,H,W]; read-only once built
}

// compiler is the state of one Compile.
type compiler struct {
	p         *Program
	g         *nn.Graph
	alias     []int // value ID → the ID whose buffer holds it
	uses      []int
	consumers [][]int
	absorbed  []bool
}

// single returns the one consumer of id, or −1.
func (c *compiler) single(id int) int {
	if c.uses[id] != 1 || len(c.consumers[id]) != 1 {
		return -1
	}
	return c.consumers[id][0]
}

// fuseAct absorbs an activation that is the only consumer of value id into
// the last emitted step.
func (c *compiler) fuseAct(id int) {
	if n := c.single(id); n >= 0 && c.g.Nodes[n].Op == nn.OpAct {
		c.p.steps[len(c.p.steps)-1].act = c.g.Nodes[n].Act
		c.absorbed[n] = true
		c.alias[n] = id
	}
}

func (c *compiler) emit(st step) { c.p.steps = append(c.p.steps, st) }

// compileRule turns node n (inputs in, already aliased) into steps.
type compileRule func(c *compiler, n *nn.Node, in []int) error

// compileRules is keyed by nn.Op: an op of the graph without an entry is
// reported by Compile.
var compileRules = map[nn.Op]compileRule{
	nn.OpInput: func(*compiler, *nn.Node, []int) error { return nil },
	nn.OpStochasticDepth: func(c *compiler, n *nn.Node, in []int) error {
		c.alias[n.ID] = in[0] // identity at inference
		return nil
	},
	nn.OpDropout: func(c *compiler, n *nn.Node, in []int) error {
		c.alias[n.ID] = in[0]
		return nil
	},
	nn.OpConv: func(c *compiler, n *nn.Node, in []int) error {
		st, end := c.conv(n, in)
		c.p.steps = append(c.p.steps, st...)
		c.alias[end] = st[len(st)-1].out
		return nil
	},
	nn.OpDense: func(c *compiler, n *nn.Node, in []int) error {
		var bias []float32
		if n.Conv.Bias != nil {
			bias = clone(n.Conv.Bias.Value.Data())
		}
		c.emit(step{kind: stepDense, out: n.ID, in: in, residual: -1, weights: clone(n.Conv.Kernel.Value.Data()), bias: bias, name: n.Name})
		c.fuseAct(n.ID)
		return nil
	},
	nn.OpBatchNorm: func(c *compiler, n *nn.Node, in []int) error {
		// A batch norm with no convolution before it: fold it into a
		// per-channel affine map (weights of one).
		ones := tensor.New(n.Channels)
		ones.Fill(1)
		scale, shift := tensor.New(n.Channels), tensor.New(n.Channels)
		foldBN(scale, shift, ones, n, nil)
		c.emit(step{kind: stepAffine, out: n.ID, in: in, residual: -1, scale: scale.Data(), shift: shift.Data(), name: n.Name})
		return nil
	},
	nn.OpAct: func(c *compiler, n *nn.Node, in []int) error {
		c.emit(step{kind: stepAct, out: n.ID, in: in, residual: -1, act: n.Act, name: n.Name})
		return nil
	},
	nn.OpAdd: func(c *compiler, n *nn.Node, in []int) error {
		c.emit(step{kind: stepAdd, out: n.ID, in: in, residual: -1, name: n.Name})
		c.fuseAct(n.ID)
		return nil
	},
	nn.OpMaxPool: func(c *compiler, n *nn.Node, in []int) error {
		c.emit(step{kind: stepMaxPool, out: n.ID, in: in, residual: -1, pool: n.Pool, name: n.Name})
		return nil
	},
	nn.OpResize: func(c *compiler, n *nn.Node, in []int) error {
		c.emit(step{kind: stepResize, out: n.ID, in: in, residual: -1, level: n.Level, name: n.Name})
		return nil
	},
	nn.OpGlobalAvgPool: func(c *compiler, n *nn.Node, in []int) error {
		c.emit(step{kind: stepGlobalAvgPool, out: n.ID, in: in, residual: -1, name: n.Name})
		return nil
	},
	nn.OpScaleChannels: func(c *compiler, n *nn.Node, in []int) error {
		c.emit(step{kind: stepScaleChannels, out: n.ID, in: in, residual: -1, name: n.Name})
		return nil
	},
	nn.OpScale: func(c *compiler, n *nn.Node, in []int) error {
		c.emit(step{kind: stepScale, out: n.ID, in: in, residual: -1, factor: n.Factor, name: n.Name})
		return nil
	},
	nn.OpDepthToSpace: func(c *compiler, n *nn.Node, in []int) error {
		// The rearrangement, then the bias — or a batch norm that follows,
		// folded with it into a per-channel scale and shift — and an
		// activation, in one pass over the output.
		st := step{kind: stepDepthToSpace, out: n.ID, in: in, residual: -1, name: n.Name}
		if n.Conv.Bias != nil {
			st.bias = clone(n.Conv.Bias.Value.Data())
		}
		if b := c.single(n.ID); b >= 0 && c.g.Nodes[b].Op == nn.OpBatchNorm {
			ones := tensor.New(n.Channels)
			ones.Fill(1)
			scale, shift := tensor.New(n.Channels), tensor.New(n.Channels)
			foldBN(scale, shift, ones, c.g.Nodes[b], st.bias)
			st.scale, st.shift, st.bias = scale.Data(), shift.Data(), nil
			c.absorbed[b] = true
			st.out = b
		}
		c.emit(st)
		c.fuseAct(st.out)
		return nil
	},
}

// Compile turns g into an inference program, folding and fusing as the
// package documentation describes. g itself is not modified. A node whose
// op has no compilation rule is an *nn.OpError (stage "compile").
func Compile(g *nn.Graph, opt Options) (*Program, error) {
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("infer: graphs with %d inputs are not supported (want 1)", len(g.Inputs))
	}
	c := &compiler{p: &Program{g: g, opt: opt, plans: map[[3]int]*plan{}}, g: g, alias: make([]int, len(g.Nodes)),
		uses: make([]int, len(g.Nodes)), consumers: make([][]int, len(g.Nodes)), absorbed: make([]bool, len(g.Nodes))}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			c.uses[in]++
			c.consumers[in] = append(c.consumers[in], n.ID)
		}
	}
	for _, o := range g.Outputs {
		c.uses[o]++
	}
	for i := range c.alias {
		c.alias[i] = i
	}
	for _, n := range g.Nodes {
		if c.absorbed[n.ID] {
			continue
		}
		rule, ok := compileRules[n.Op]
		if !ok {
			return nil, &nn.OpError{Node: n.Name, Op: n.Op, Stage: "compile"}
		}
		in := make([]int, len(n.Inputs))
		for i, x := range n.Inputs {
			in[i] = c.alias[x]
		}
		if err := rule(c, n, in); err != nil {
			return nil, fmt.Errorf("infer: node %s: %w", n.Name, err)
		}
	}
	for _, o := range g.Outputs {
		c.p.outputs = append(c.p.outputs, c.alias[o])
	}
	return c.p, nil
}

// conv folds the chain that starts at conv node n — batch norm, then a sum
// (as the epilogue's residual) and/or an activation — into one step, and
// returns the steps to emit (a separate sum first when more than one other
// addend must be pre-added) and the last absorbed node.
func (c *compiler) conv(n *nn.Node, in []int) ([]step, int) {
	g := c.g
	k := n.Conv.Kernel.Value
	st := step{kind: stepConv, out: n.ID, in: in, residual: -1, stride: n.Conv.Stride, pad: n.Conv.Pad,
		depthwise: n.Conv.Depthwise, kh: k.Dim(0), kw: k.Dim(1), name: n.Name}
	w := clone(k.Data())
	var bias []float32
	if n.Conv.Bias != nil {
		bias = clone(n.Conv.Bias.Value.Data())
	}
	end := n.ID
	// Batch norm: fold into weights and bias.
	if b := c.single(end); b >= 0 && g.Nodes[b].Op == nn.OpBatchNorm {
		wOut, biasOut := tensor.New(k.Shape()...), tensor.New(k.Dim(-1))
		foldBN(wOut, biasOut, k, g.Nodes[b], bias)
		w, bias = wOut.Data(), biasOut.Data()
		c.absorbed[b] = true
		end = b
	}
	// Skip inference identities (stochastic depth) between here and the sum.
	for {
		s := c.single(end)
		if s < 0 || (g.Nodes[s].Op != nn.OpStochasticDepth && g.Nodes[s].Op != nn.OpDropout) {
			break
		}
		c.absorbed[s] = true
		end = s
	}
	var pre []step
	// A sum whose other addends are all computed before this conv runs
	// becomes the epilogue's residual.
	if a := c.single(end); a >= 0 && g.Nodes[a].Op == nn.OpAdd {
		add := g.Nodes[a]
		var others []int
		ok := true
		for _, x := range add.Inputs {
			if x == end {
				continue
			}
			if x > n.ID {
				ok = false // not computed yet when this conv runs
			}
			others = append(others, c.alias[x])
		}
		if ok && len(others) > 0 {
			c.absorbed[a] = true
			end = a
			st.residual = others[0]
			if len(others) > 1 {
				// Pre-add the other addends into a temporary value; its ID
				// −(a+1) is shaped like the Add node a.
				tmp := -(a + 1)
				pre = append(pre, step{kind: stepAdd, out: tmp, in: others, residual: -1, name: add.Name + "/pre"})
				st.residual = tmp
			}
		}
	}
	if a := c.single(end); a >= 0 && g.Nodes[a].Op == nn.OpAct {
		st.act = g.Nodes[a].Act
		c.absorbed[a] = true
		end = a
	}
	st.weights, st.bias = w, bias
	if c.p.opt.Winograd && !st.depthwise && st.kh == 3 && st.kw == 3 && st.stride == 1 {
		st.wino = c.p.opt.Device.Exec().TransformWinogradWeights(k.Dim(2), k.Dim(3), w)
	}
	if !st.depthwise {
		// Packed once for the GEMM driver (B needs no packing per call).
		st.packed = kernels.PackConvWeights(kernels.ConvParams{KH: st.kh, KW: st.kw, C: k.Dim(2), OC: k.Dim(3),
			StrideH: st.stride, StrideW: st.stride}, w)
	}
	st.out = end
	return append(pre, st), end
}

// foldBN folds the inference-mode batch norm node bn into weights w (last
// axis: channels) with tensor.FoldBatchNorm, writing wOut and biasOut. A
// bias of the layer before the batch norm (or nil) is folded in too:
// BN(x + b) has the statistics of x shifted by b, so the mean becomes
// mean − b.
func foldBN(wOut, biasOut, w *tensor.Tensor, bn *nn.Node, bias []float32) {
	s := bn.BN.Stats
	mean := s.Mean
	if bias != nil {
		mean = tensor.New(mean.Len())
		for j, m := range s.Mean.Data() {
			mean.Data()[j] = m - bias[j]
		}
	}
	var gamma, beta *tensor.Tensor
	if bn.BN.Gamma != nil {
		gamma = bn.BN.Gamma.Value
	}
	if bn.BN.Beta != nil {
		beta = bn.BN.Beta.Value
	}
	tensor.FoldBatchNorm(wOut, biasOut, w, gamma, beta, mean, s.Var, s.Epsilon)
}

func clone(s []float32) []float32 { return append([]float32(nil), s...) }

// Steps returns the number of operations in the compiled program.
func (p *Program) Steps() int { return len(p.steps) }

// WeightBytes returns the memory the program's weights take: folded
// kernels and biases, batch-norm affine maps, Winograd-transformed filters
// and packed panels. Arenas share them.
func (p *Program) WeightBytes() int {
	n := 0
	for i := range p.steps {
		st := &p.steps[i]
		n += len(st.weights) + len(st.bias) + len(st.scale) + len(st.shift)
		if st.wino != nil {
			n += st.wino.Floats()
		}
		if st.packed != nil {
			n += st.packed.Floats()
		}
	}
	return 4 * n
}
