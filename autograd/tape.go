// Package autograd is the reverse-mode differentiation used to train every
// model in this module.
//
// A Tape records operations as they run and replays them backwards:
//
//	tape := autograd.NewTape(seed)               // seed: stochastic depth, dropout
//	w := autograd.NewParam("conv/kernel", kernel) // [KH,KW,Cin,Cout]
//	y := tape.ReLU(tape.Conv2D(tape.Constant(x), w, 1, tensor.PadSame))
//	loss := tape.Mean(y)
//	err := tape.Backward(loss)                    // fills w.Grad
//	tape.Reset()                                  // recycle every intermediate buffer
//
// (Example in example_test.go runs exactly this.)
//
// Trainable weights are Params (NewParam): leaves that outlive tapes and keep
// their gradient buffer. Everything else a tape creates — intermediate
// values, their gradients, saved activations — comes from the tape's
// tensor.Pool and is recycled by Reset, so a steady-state training step
// allocates no tensor memory. Vars returned by a tape are invalid after Reset.
//
// Each operation is a method of Tape computing its forward value through the
// tensor package, on the tape's device (SetDevice), and recording a node with a static backward function; the
// node's slices keep their capacity across Reset, so recording allocates
// nothing in steady state either. Operations on inputs that need no gradient
// (or on a tape made with NewInferenceTape) record nothing.
package autograd

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/tensor"
)

// Var is a value in a computation and, after Backward, its gradient.
type Var struct {
	// Value is the forward value.
	Value *tensor.Tensor
	// Grad is ∂loss/∂Value after Backward, valid while HasGrad reports true.
	Grad *tensor.Tensor
	// Name identifies a Param (checkpoint key, optimizer rules); empty otherwise.
	Name string

	requiresGrad bool
	param        bool
	gradFresh    bool // Grad holds this pass's gradient (else it must be overwritten)
}

// NewParam returns a trainable leaf holding value. Its gradient buffer is
// allocated once and reused; call ZeroGrad (or an optimizer step) between
// updates.
func NewParam(name string, value *tensor.Tensor) *Var {
	return &Var{Value: value, Name: name, requiresGrad: true, param: true}
}

// NewConstant wraps a tensor as a leaf that needs no gradient, outside any tape.
func NewConstant(value *tensor.Tensor) *Var { return &Var{Value: value} }

// RequiresGrad reports whether gradients flow to v.
func (v *Var) RequiresGrad() bool { return v.requiresGrad }

// SetRequiresGrad freezes (false) or unfreezes (true) a Param.
func (v *Var) SetRequiresGrad(b bool) { v.requiresGrad = b }

// IsParam reports whether v was made by NewParam.
func (v *Var) IsParam() bool { return v.param }

// HasGrad reports whether Grad holds a gradient computed since the last ZeroGrad.
func (v *Var) HasGrad() bool { return v.gradFresh }

// ZeroGrad marks the gradient as empty; the next Backward overwrites it rather
// than accumulating.
func (v *Var) ZeroGrad() { v.gradFresh = false }

// Shape is shorthand for v.Value.Shape().
func (v *Var) Shape() []int { return v.Value.Shape() }

// backwardFn propagates n.out.Grad to the gradients of n.in.
type backwardFn func(t *Tape, n *node)

// node is one recorded operation. Its slices keep their capacity across
// Tape.Reset, so recording reuses them.
type node struct {
	back   backwardFn
	out    *Var
	in     []*Var
	saved  []*tensor.Tensor // tensors the backward pass needs
	ints   []int            // integer attributes (sizes, strides, axes)
	floats []float64        // real attributes (epsilon, scales)
	idx    []int32          // index data (max-pool argmax)
	rois   []tensor.RoI     // RoIAlign's regions
	conv   tensor.ConvParams
}

const varChunk = 256

// Tape records operations for reverse-mode differentiation and owns the
// buffers of everything it computes. A Tape is not safe for concurrent use.
type Tape struct {
	// Training selects training behaviour in BatchNorm (batch statistics,
	// running-average updates) and StochasticDepth/Dropout (random drops).
	Training bool

	dev    tensor.CPU
	pool   *tensor.Pool
	nodes  []node
	slab   [][]Var
	nvar   int
	record bool
	rng    *rand.Rand
	src    *rand.PCG
}

// NewTape returns a tape that records for training, with Training set and a
// random generator seeded with seed (used by stochastic ops).
func NewTape(seed uint64) *Tape {
	src := rand.NewPCG(seed, 0x5eed)
	return &Tape{Training: true, record: true, pool: tensor.NewPool(), rng: rand.New(src), src: src}
}

// NewInferenceTape returns a tape that records nothing and runs BatchNorm with
// its running statistics: forward only, with buffer reuse across Reset.
func NewInferenceTape() *Tape {
	src := rand.NewPCG(0, 0)
	return &Tape{pool: tensor.NewPool(), rng: rand.New(src), src: src}
}

// SetDevice makes the tape run its operations, forward and backward, on d
// (by default tensor.DefaultCPU()). A training run with its own thread
// budget gives its tape a tensor.NewCPU device; the results do not depend
// on the device's thread count.
func (t *Tape) SetDevice(d tensor.CPU) { t.dev = d }

// Device returns the device the tape runs its operations on.
func (t *Tape) Device() tensor.CPU { return t.dev }

// Pool returns the tape's buffer pool, for callers that build their own
// intermediate tensors with the same lifetime.
func (t *Tape) Pool() *tensor.Pool { return t.pool }

// Rand returns the tape's random generator (stochastic ops draw from it).
func (t *Tape) Rand() *rand.Rand { return t.rng }

// RandState returns the state of the tape's random generator, so that a
// resumed training run draws the same stochastic-depth and dropout masks.
func (t *Tape) RandState() ([]byte, error) { return t.src.MarshalBinary() }

// SetRandState restores a state returned by RandState.
func (t *Tape) SetRandState(b []byte) error { return t.src.UnmarshalBinary(b) }

// Reset forgets the recorded operations and recycles every buffer the tape
// handed out. Vars it created become invalid; Params keep their values and
// gradients.
func (t *Tape) Reset() {
	for i := range t.nodes {
		n := &t.nodes[i]
		n.back, n.out = nil, nil
		clear(n.in)
		clear(n.saved)
		n.in, n.saved = n.in[:0], n.saved[:0]
		n.ints, n.floats, n.idx, n.rois = n.ints[:0], n.floats[:0], n.idx[:0], n.rois[:0]
	}
	t.nodes = t.nodes[:0]
	for c := range t.slab {
		clear(t.slab[c])
	}
	t.nvar = 0
	t.pool.Release()
}

// Constant wraps a tensor as a leaf that needs no gradient, valid until Reset.
func (t *Tape) Constant(value *tensor.Tensor) *Var { return t.newVar(value, false) }

// Input wraps a tensor as a leaf whose gradient Backward computes (for
// gradients with respect to inputs), valid until Reset.
func (t *Tape) Input(value *tensor.Tensor) *Var { return t.newVar(value, true) }

func (t *Tape) newVar(value *tensor.Tensor, requiresGrad bool) *Var {
	c, i := t.nvar/varChunk, t.nvar%varChunk
	if c == len(t.slab) {
		t.slab = append(t.slab, make([]Var, varChunk))
	}
	t.nvar++
	v := &t.slab[c][i]
	*v = Var{Value: value, requiresGrad: requiresGrad}
	return v
}

// alloc returns a pooled tensor with undefined contents.
func (t *Tape) alloc(shape ...int) *tensor.Tensor { return t.pool.Get(shape...) }

// needsGrad reports whether an op on these inputs must be recorded.
func (t *Tape) needsGrad(in ...*Var) bool {
	if !t.record {
		return false
	}
	for _, v := range in {
		if v != nil && v.requiresGrad {
			return true
		}
	}
	return false
}

// output wraps value as the result of an op on in, and records a node with
// back if any input needs a gradient. It returns the new Var and the node
// (nil when nothing was recorded) so the op can attach saved state.
func (t *Tape) output(value *tensor.Tensor, back backwardFn, in ...*Var) (*Var, *node) {
	if !t.needsGrad(in...) {
		return t.newVar(value, false), nil
	}
	out := t.newVar(value, true)
	if len(t.nodes) < cap(t.nodes) {
		t.nodes = t.nodes[:len(t.nodes)+1]
	} else {
		t.nodes = append(t.nodes, node{})
	}
	n := &t.nodes[len(t.nodes)-1]
	n.back, n.out = back, out
	n.in = append(n.in[:0], in...)
	return out, n
}

// grad returns the buffer that v's gradient accumulates into and whether it
// already holds data (accumulate) or must be overwritten. It returns nil if v
// needs no gradient.
func (t *Tape) grad(v *Var) (g *tensor.Tensor, accumulate bool) {
	if !v.requiresGrad {
		return nil, false
	}
	if v.gradFresh {
		return v.Grad, true
	}
	if v.param {
		if v.Grad == nil || !tensor.SameShape(v.Grad, v.Value) {
			v.Grad = tensor.New(v.Value.Shape()...)
		}
	} else {
		v.Grad = t.alloc(v.Value.Shape()...)
	}
	v.gradFresh = true
	return v.Grad, false
}

// gradZeroed is grad for backward passes that scatter-add: the buffer it
// returns is zeroed on first use, so the caller always accumulates.
func (t *Tape) gradZeroed(v *Var) *tensor.Tensor {
	g, acc := t.grad(v)
	if g != nil && !acc {
		g.Zero()
	}
	return g
}

// ErrNotScalar is returned by Backward for a loss with more than one element.
var ErrNotScalar = errors.New("autograd: Backward needs a scalar loss")

// Backward computes the gradient of the scalar loss with respect to every Var
// on the tape that requires one, accumulating into Params' Grad.
func (t *Tape) Backward(loss *Var) error {
	if loss.Value.Len() != 1 {
		return fmt.Errorf("%w, got shape %v", ErrNotScalar, loss.Shape())
	}
	if !loss.requiresGrad {
		return errors.New("autograd: loss does not depend on anything that requires a gradient")
	}
	g, acc := t.grad(loss)
	if acc {
		g.Data()[0]++
	} else {
		g.Data()[0] = 1
	}
	return t.backwardFrom()
}

// BackwardWith seeds the gradient of out (any shape) with seed and runs the
// backward pass; seed must have out's shape.
func (t *Tape) BackwardWith(out *Var, seed *tensor.Tensor) error {
	if !tensor.SameShape(out.Value, seed) {
		return &tensor.ShapeError{Op: "BackwardWith", Want: out.Shape(), Got: seed.Shape()}
	}
	if !out.requiresGrad {
		return errors.New("autograd: output does not depend on anything that requires a gradient")
	}
	g, acc := t.grad(out)
	if acc {
		tensor.AddInto(g, seed)
	} else {
		g.CopyFrom(seed)
	}
	return t.backwardFrom()
}

func (t *Tape) backwardFrom() error {
	for i := len(t.nodes) - 1; i >= 0; i-- {
		n := &t.nodes[i]
		if !n.out.gradFresh {
			continue // no gradient reached this node
		}
		n.back(t, n)
	}
	return nil
}
