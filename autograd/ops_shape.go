package autograd

import (
	"fmt"
	"slices"

	"github.com/spinenet-go/spinenet/tensor"
)

// maxRank bounds the shapes built on the stack by the shape ops.
const maxRank = 8

// Concat joins one or more values along axis (negative counts from the end;
// -1 is the channel axis of NHWC maps). All inputs agree on every other
// dimension:
//
//	xs[i] [..., C_i, ...] → [..., ΣC_i, ...]
//
// The gradient of each input is its slice of the output gradient.
func (t *Tape) Concat(axis int, xs ...*Var) *Var {
	if len(xs) == 0 {
		panic("autograd: Concat of nothing")
	}
	rank := xs[0].Value.Rank()
	if rank > maxRank {
		panic(&tensor.ShapeError{Op: "Concat", Msg: fmt.Sprintf("rank %d above %d", rank, maxRank)})
	}
	axis = tensor.NormAxis("Concat", axis, rank)
	var buf [maxRank]int
	shape := append(buf[:0], xs[0].Shape()...)
	for _, x := range xs[1:] {
		if x.Value.Rank() != rank {
			panic(&tensor.ShapeError{Op: "Concat", Msg: fmt.Sprintf("ranks differ: %v and %v", xs[0].Shape(), x.Shape())})
		}
		shape[axis] += x.Value.Dim(axis)
	}
	y := t.alloc(shape...)
	off := 0
	for _, x := range xs {
		tensor.InsertAxis(y, x.Value, axis, off, false)
		off += x.Value.Dim(axis)
	}
	out, nd := t.output(y, backConcat, xs...)
	if nd != nil {
		nd.ints = append(nd.ints, axis)
	}
	return out
}

// ConcatChannels joins NHWC (or any) values along the last axis:
// xs[i] [N,H,W,C_i] → [N,H,W,ΣC_i].
func (t *Tape) ConcatChannels(xs ...*Var) *Var { return t.Concat(-1, xs...) }

func backConcat(t *Tape, n *node) {
	axis := n.ints[0]
	off := 0
	for _, x := range n.in {
		if g, acc := t.grad(x); g != nil {
			tensor.SliceAxis(g, n.out.Grad, axis, off, acc)
		}
		off += x.Value.Dim(axis)
	}
}

// Slice returns x[..., start:end, ...] along axis (negative counts from the
// end), as a copy:
//
//	x [..., C, ...] → [..., end−start, ...],   0 ≤ start ≤ end ≤ C
//
// The gradient of x is the output gradient placed at [start, end) and zero
// elsewhere.
func (t *Tape) Slice(x *Var, axis, start, end int) *Var {
	rank := x.Value.Rank()
	if rank > maxRank {
		panic(&tensor.ShapeError{Op: "Slice", Msg: fmt.Sprintf("rank %d above %d", rank, maxRank)})
	}
	axis = tensor.NormAxis("Slice", axis, rank)
	if start < 0 || end < start || end > x.Value.Dim(axis) {
		panic(&tensor.ShapeError{Op: "Slice", Msg: fmt.Sprintf("range [%d, %d) along axis %d of %v", start, end, axis, x.Shape())})
	}
	var buf [maxRank]int
	shape := append(buf[:0], x.Shape()...)
	shape[axis] = end - start
	y := t.alloc(shape...)
	tensor.SliceAxis(y, x.Value, axis, start, false)
	out, nd := t.output(y, backSlice, x)
	if nd != nil {
		nd.ints = append(nd.ints, axis, start)
	}
	return out
}

// SliceChannels returns channels [start, end) of x:
// x [N,H,W,C] → [N,H,W,end−start].
func (t *Tape) SliceChannels(x *Var, start, end int) *Var { return t.Slice(x, -1, start, end) }

func backSlice(t *Tape, n *node) {
	if g := t.gradZeroed(n.in[0]); g != nil {
		tensor.InsertAxis(g, n.out.Grad, n.ints[0], n.ints[1], true)
	}
}

// Reshape returns x with a new shape holding the same number of elements; one
// dimension may be -1 and is inferred:
//
//	x [d0, d1, ...] → shape   (Π shape = Π d)
//
// The result is a view sharing x's storage (no copy); the gradient of x is
// the output gradient reshaped back.
func (t *Tape) Reshape(x *Var, shape ...int) *Var {
	if len(shape) > maxRank {
		panic(&tensor.ShapeError{Op: "Reshape", Msg: fmt.Sprintf("rank %d above %d", len(shape), maxRank)})
	}
	var buf [maxRank]int
	s := append(buf[:0], shape...)
	infer, prod := -1, 1
	for i, d := range s {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panic(&tensor.ShapeError{Op: "Reshape", Msg: fmt.Sprintf("bad target shape %v for %v", slices.Clone(shape), x.Shape())})
		default:
			prod *= d
		}
	}
	if n := x.Value.Len(); infer >= 0 {
		if prod == 0 || n%prod != 0 {
			panic(&tensor.ShapeError{Op: "Reshape", Msg: fmt.Sprintf("cannot reshape %v to %v", x.Shape(), slices.Clone(shape))})
		}
		s[infer] = n / prod
	}
	y := t.pool.View(x.Value, s...)
	out, _ := t.output(y, backReshape, x)
	return out
}

func backReshape(t *Tape, n *node) {
	x := n.in[0]
	if g, acc := t.grad(x); g != nil {
		tensor.CopyAcc(g, t.pool.View(n.out.Grad, x.Shape()...), acc)
	}
}
