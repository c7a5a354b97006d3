// Package infer compiles an nn.Graph into a fast inference plan.
//
// Compile folds every batch norm into the convolution before it (weights
// scaled per output channel, the shift becoming a bias), fuses the
// activation and the residual or fusion sum that follow into the
// convolution's GEMM epilogue, drops what is the identity at inference
// (stochastic depth, dropout, resizes to the same size), and pre-transforms
// 3×3 stride-1 weights for Winograd where that is faster. Run then plans
// buffers once per input shape — every intermediate value gets a slot of a
// shared arena, reused as soon as its last reader has run — so repeated
// calls allocate nothing.
//
// The compiled model holds copies of the weights: retraining the graph does
// not change it; compile again.
package infer

import (
	"fmt"
	"math"

	"github.com/spinenet-go/spinenet/kernels"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// opKind is the kind of a compiled step.
type opKind uint8

const (
	stepConv          opKind = iota // (depthwise) conv with folded BN and fused epilogue
	stepDense                       // dense with bias/act epilogue
	stepAffine                      // standalone batch norm: y = x·scale + shift per channel
	stepAct                         // standalone activation
	stepAdd                         // sum of inputs
	stepMaxPool                     // max-pool
	stepResize                      // nearest resize to a level's size
	stepGlobalAvgPool               // spatial mean
	stepScaleChannels               // SE gate
	stepScale                       // constant factor
)

// stepNames names the step kinds for profiles.
var stepNames = [...]string{"conv", "dense", "affine", "act", "add", "maxpool", "resize", "global_avg_pool", "scale_channels", "scale"}

// step is one operation of the compiled program. Values are node IDs of the
// source graph; in[0] is the main input.
type step struct {
	kind opKind
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
}

// DefaultOptions enables every optimisation.
func DefaultOptions() Options { return Options{Winograd: true} }

// Model is a compiled graph ready for repeated inference.
type Model struct {
	g       *nn.Graph
	opt     Options
	steps   []step
	alias   []int // value ID → the ID whose buffer holds it
	outputs []int
	plans   map[[3]int]*plan
}

// Compile turns g into an inference program, folding and fusing as the
// package documentation describes. g itself is not modified.
func Compile(g *nn.Graph, opt Options) (*Model, error) {
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("infer: graphs with %d inputs are not supported (want 1)", len(g.Inputs))
	}
	m := &Model{g: g, opt: opt, alias: make([]int, len(g.Nodes)), plans: map[[3]int]*plan{}}
	uses := make([]int, len(g.Nodes))
	consumers := make([][]int, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			uses[in]++
			consumers[in] = append(consumers[in], n.ID)
		}
	}
	for _, o := range g.Outputs {
		uses[o]++
	}
	for i := range m.alias {
		m.alias[i] = i
	}
	// single returns the one consumer of id, or −1.
	single := func(id int) int {
		if uses[id] != 1 || len(consumers[id]) != 1 {
			return -1
		}
		return consumers[id][0]
	}
	absorbed := make([]bool, len(g.Nodes))
	for _, n := range g.Nodes {
		if absorbed[n.ID] {
			continue
		}
		in := make([]int, len(n.Inputs))
		for i, x := range n.Inputs {
			in[i] = m.alias[x]
		}
		switch n.Op {
		case nn.OpInput:
		case nn.OpStochasticDepth, nn.OpDropout:
			m.alias[n.ID] = in[0]
		case nn.OpConv:
			st, end := m.compileConv(n, in, single, absorbed)
			m.steps = append(m.steps, st...)
			m.alias[end] = st[len(st)-1].out
		case nn.OpDense:
			var bias []float32
			if n.Conv.Bias != nil {
				bias = clone(n.Conv.Bias.Value.Data())
			}
			m.steps = append(m.steps, step{kind: stepDense, out: n.ID, in: in, residual: -1, weights: clone(n.Conv.Kernel.Value.Data()),
				bias: bias, name: n.Name})
			if c := single(n.ID); c >= 0 && g.Nodes[c].Op == nn.OpAct {
				m.steps[len(m.steps)-1].act = g.Nodes[c].Act
				absorbed[c] = true
				m.alias[c] = n.ID
			}
		case nn.OpBatchNorm:
			scale, shift := foldBN(n, nil)
			m.steps = append(m.steps, step{kind: stepAffine, out: n.ID, in: in, residual: -1, scale: scale, shift: shift, name: n.Name})
		case nn.OpAct:
			m.steps = append(m.steps, step{kind: stepAct, out: n.ID, in: in, residual: -1, act: n.Act, name: n.Name})
		case nn.OpAdd:
			st := step{kind: stepAdd, out: n.ID, in: in, residual: -1, name: n.Name}
			if c := single(n.ID); c >= 0 && g.Nodes[c].Op == nn.OpAct {
				st.act = g.Nodes[c].Act
				absorbed[c] = true
				m.alias[c] = n.ID
			}
			m.steps = append(m.steps, st)
		case nn.OpMaxPool:
			m.steps = append(m.steps, step{kind: stepMaxPool, out: n.ID, in: in, residual: -1, pool: n.Pool, name: n.Name})
		case nn.OpResize:
			m.steps = append(m.steps, step{kind: stepResize, out: n.ID, in: in, residual: -1, level: n.Level, name: n.Name})
		case nn.OpGlobalAvgPool:
			m.steps = append(m.steps, step{kind: stepGlobalAvgPool, out: n.ID, in: in, residual: -1, name: n.Name})
		case nn.OpScaleChannels:
			m.steps = append(m.steps, step{kind: stepScaleChannels, out: n.ID, in: in, residual: -1, name: n.Name})
		case nn.OpScale:
			m.steps = append(m.steps, step{kind: stepScale, out: n.ID, in: in, residual: -1, factor: n.Factor, name: n.Name})
		default:
			return nil, fmt.Errorf("infer: node %s: op %v is not supported", n.Name, n.Op)
		}
	}
	for _, o := range g.Outputs {
		m.outputs = append(m.outputs, m.alias[o])
	}
	return m, nil
}

// compileConv folds the chain that starts at conv node n — batch norm,
// then a sum (as the epilogue's residual) and/or an activation — into one
// step, and returns the steps to emit (a separate sum first when more than
// one other addend must be pre-added) and the last absorbed node.
func (m *Model) compileConv(n *nn.Node, in []int, single func(int) int, absorbed []bool) ([]step, int) {
	g := m.g
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
	if c := single(end); c >= 0 && g.Nodes[c].Op == nn.OpBatchNorm {
		bn := g.Nodes[c]
		scale, shift := foldBN(bn, bias)
		oc := len(scale)
		for i := range w {
			w[i] *= scale[i%oc]
		}
		bias = shift
		absorbed[c] = true
		end = c
	}
	// Skip inference identities (stochastic depth) between here and the sum.
	for {
		c := single(end)
		if c < 0 || (g.Nodes[c].Op != nn.OpStochasticDepth && g.Nodes[c].Op != nn.OpDropout) {
			break
		}
		absorbed[c] = true
		end = c
	}
	var pre []step
	// A sum whose other addends are all computed before this conv runs
	// becomes the epilogue's residual.
	if c := single(end); c >= 0 && g.Nodes[c].Op == nn.OpAdd {
		add := g.Nodes[c]
		var others []int
		ok := true
		for _, x := range add.Inputs {
			if x == end {
				continue
			}
			if x > n.ID {
				ok = false // not computed yet when this conv runs
			}
			others = append(others, m.alias[x])
		}
		if ok && len(others) > 0 {
			absorbed[c] = true
			end = c
			st.residual = others[0]
			if len(others) > 1 {
				// Pre-add the other addends into a temporary value; its ID
				// −(c+1) is shaped like the Add node c.
				tmp := -(c + 1)
				pre = append(pre, step{kind: stepAdd, out: tmp, in: others, residual: -1, name: add.Name + "/pre"})
				st.residual = tmp
			}
		}
	}
	if c := single(end); c >= 0 && g.Nodes[c].Op == nn.OpAct {
		st.act = g.Nodes[c].Act
		absorbed[c] = true
		end = c
	}
	st.weights, st.bias = w, bias
	if m.opt.Winograd && !st.depthwise && st.kh == 3 && st.kw == 3 && st.stride == 1 {
		st.wino = kernels.TransformWinogradWeights(k.Dim(2), k.Dim(3), w)
	}
	if !st.depthwise {
		// Packed once for the GEMM driver (B needs no packing per call).
		st.packed = kernels.PackConvWeights(kernels.ConvParams{KH: st.kh, KW: st.kw, C: k.Dim(2), OC: k.Dim(3),
			StrideH: st.stride, StrideW: st.stride}, w)
	}
	st.out = end
	return append(pre, st), end
}

// foldBN returns the per-channel scale γ/√(var+ε) and shift β − mean·scale
// (+ bias·scale when the preceding layer has a bias) of an inference-mode
// batch norm.
func foldBN(n *nn.Node, bias []float32) (scale, shift []float32) {
	s := n.BN.Stats
	c := s.Mean.Len()
	scale, shift = make([]float32, c), make([]float32, c)
	for j := range c {
		g := float32(1)
		if n.BN.Gamma != nil {
			g = n.BN.Gamma.Value.Data()[j]
		}
		b := float32(0)
		if n.BN.Beta != nil {
			b = n.BN.Beta.Value.Data()[j]
		}
		scale[j] = g / float32(math.Sqrt(float64(s.Var.Data()[j]+s.Epsilon)))
		pre := -s.Mean.Data()[j]
		if bias != nil {
			pre += bias[j]
		}
		shift[j] = b + pre*scale[j]
	}
	return scale, shift
}

func clone(s []float32) []float32 { return append([]float32(nil), s...) }

// Steps returns the number of operations in the compiled program.
func (m *Model) Steps() int { return len(m.steps) }
