// Package tensor holds Tensor, the float32 n-dimensional array every model in
// this module computes on, and the shape-checked operations on it.
//
// A Tensor is row-major (C order); the last dimension is contiguous. Feature
// maps are NHWC: [batch, height, width, channels]. Convolution weights are
// [KH, KW, Cin, Cout].
//
// Operations are functions that write into a destination tensor the caller
// supplies (dst first, like copy), so that training loops can reuse buffers
// through a Pool and allocate nothing in steady state. Shape mistakes return
// or panic with a *ShapeError that names the operation and both shapes.
//
// This package is the device seam: autograd and the models only call the
// operations here, never the CPU kernels directly, so a second backend (the
// planned CUDA one) plugs in below this API without the models knowing.
package tensor

import (
	"fmt"
	"slices"
	"strings"
)

// Tensor is a dense float32 array with a shape. The zero value is an empty
// scalar-less tensor; create tensors with New, FromSlice or a Pool.
type Tensor struct {
	shape []int
	data  []float32
}

// New returns a zero-filled tensor of the given shape.
func New(shape ...int) *Tensor {
	n := checkedSize("New", shape)
	return &Tensor{shape: append([]int(nil), shape...), data: make([]float32, n)}
}

// FromSlice wraps data (without copying) as a tensor of the given shape. It
// returns a *ShapeError if len(data) does not equal the product of shape.
func FromSlice(data []float32, shape ...int) (*Tensor, error) {
	n, ok := size(shape)
	if !ok || n != len(data) {
		return nil, &ShapeError{Op: "FromSlice", Msg: fmt.Sprintf("%d values do not fill shape %v", len(data), shape)}
	}
	return &Tensor{shape: append([]int(nil), shape...), data: data}, nil
}

// Shape returns the tensor's dimensions. The slice must not be modified.
func (t *Tensor) Shape() []int { return t.shape }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// Dim returns the size of dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Len returns the number of stored elements: the product of the shape, or 0
// for a shape-only tensor (see NewShapeOnly and NumElements).
func (t *Tensor) Len() int { return len(t.data) }

// NewShapeOnly returns a tensor that has a shape but no storage. Shape-only
// graphs (nn.Scope.ShapeOnly) hold their parameters this way, so that
// accounting — parameters, multiply-adds, activation sizes — prices a model
// without allocating its weights. Data returns nil; an operation on such a
// tensor fails its shape checks or indexes out of range, so it cannot
// compute silently wrong values.
func NewShapeOnly(shape ...int) *Tensor {
	checkedSize("NewShapeOnly", shape)
	return &Tensor{shape: append([]int(nil), shape...)}
}

// NumElements returns the product of the shape, whether or not the tensor has
// storage.
func (t *Tensor) NumElements() int {
	n, _ := size(t.shape)
	return n
}

// Data returns the backing slice in row-major order. Writes through it change
// the tensor (and every view sharing its storage).
func (t *Tensor) Data() []float32 { return t.data }

// Reshape returns a view with a new shape over the same storage; one dimension
// may be -1 and is inferred. It returns a *ShapeError if the sizes differ.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	s, err := inferShape("Reshape", t.shape, len(t.data), shape)
	if err != nil {
		return nil, err
	}
	return &Tensor{shape: s, data: t.data}, nil
}

// MustReshape is Reshape for shapes known to be right; it panics otherwise.
func (t *Tensor) MustReshape(shape ...int) *Tensor {
	r, err := t.Reshape(shape...)
	if err != nil {
		panic(err)
	}
	return r
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{shape: append([]int(nil), t.shape...), data: append([]float32(nil), t.data...)}
}

// CopyFrom copies src's values into t; the shapes must be equal.
func (t *Tensor) CopyFrom(src *Tensor) {
	MustSameShape("CopyFrom", t, src)
	copy(t.data, src.data)
}

// Fill sets every element to v.
func (t *Tensor) Fill(v float32) {
	if v == 0 {
		clear(t.data)
		return
	}
	for i := range t.data {
		t.data[i] = v
	}
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.data) }

// At returns the element at the given index (one coordinate per dimension).
func (t *Tensor) At(idx ...int) float32 { return t.data[t.offset(idx)] }

// Set stores v at the given index.
func (t *Tensor) Set(v float32, idx ...int) { t.data[t.offset(idx)] = v }

func (t *Tensor) offset(idx []int) int {
	if len(idx) != len(t.shape) {
		panic(&ShapeError{Op: "At", Msg: fmt.Sprintf("index %v for shape %v", idx, t.shape)})
	}
	off := 0
	for i, x := range idx {
		if x < 0 || x >= t.shape[i] {
			panic(&ShapeError{Op: "At", Msg: fmt.Sprintf("index %v out of range for shape %v", idx, t.shape)})
		}
		off = off*t.shape[i] + x
	}
	return off
}

// String formats the shape and up to the first 8 values.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v[", t.shape)
	for i, v := range t.data {
		if i == 8 {
			b.WriteString(" …")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%g", v)
	}
	b.WriteByte(']')
	return b.String()
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b *Tensor) bool { return EqualShapes(a.shape, b.shape) }

// EqualShapes reports whether two shapes are identical.
func EqualShapes(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// MustSameShape panics with a *ShapeError naming op unless a and b have the
// same shape.
func MustSameShape(op string, a, b *Tensor) {
	if !SameShape(a, b) {
		panic(&ShapeError{Op: op, Want: a.shape, Got: b.shape})
	}
}

// size returns the product of shape, or false if a dimension is negative.
func size(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		n *= d
	}
	return n, true
}

func checkedSize(op string, shape []int) int {
	n, ok := size(shape)
	if !ok {
		// Clone so that shape does not escape: callers pass variadic
		// slices that should stay on the stack.
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("negative dimension in %v", slices.Clone(shape))})
	}
	return n
}

// mustShape panics with a *ShapeError naming op unless t has shape dims. It
// clones dims only on failure, so hot-path checks allocate nothing.
func mustShape(op string, t *Tensor, dims ...int) {
	if !EqualShapes(t.shape, dims) {
		panic(&ShapeError{Op: op, Want: slices.Clone(dims), Got: t.shape})
	}
}

func inferShape(op string, old []int, n int, shape []int) ([]int, error) {
	s := append([]int(nil), shape...)
	infer := -1
	prod := 1
	for i, d := range s {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, &ShapeError{Op: op, Msg: fmt.Sprintf("bad target shape %v for %v", shape, old)}
		default:
			prod *= d
		}
	}
	if infer >= 0 {
		if prod == 0 || n%prod != 0 {
			return nil, &ShapeError{Op: op, Msg: fmt.Sprintf("cannot reshape %v to %v", old, shape)}
		}
		s[infer] = n / prod
		prod = n
	}
	if prod != n {
		return nil, &ShapeError{Op: op, Msg: fmt.Sprintf("cannot reshape %v (%d values) to %v", old, n, shape)}
	}
	return s, nil
}

// ShapeError reports operands whose shapes do not fit an operation.
type ShapeError struct {
	Op   string // the operation, e.g. "Conv2D"
	Want []int  // expected shape, if one applies
	Got  []int  // the shape received
	Msg  string // free-form detail when Want/Got do not say it all
}

func (e *ShapeError) Error() string {
	if e.Msg != "" {
		return "tensor: " + e.Op + ": " + e.Msg
	}
	return fmt.Sprintf("tensor: %s: shape %v, want %v", e.Op, e.Got, e.Want)
}
