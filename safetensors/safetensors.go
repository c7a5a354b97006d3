// Package safetensors reads and writes the safetensors tensor file format
// (https://huggingface.co/docs/safetensors).
//
// A safetensors file is an 8-byte little-endian header length N, then N bytes
// of JSON mapping each tensor name to {"dtype", "shape", "data_offsets"}
// (offsets relative to the byte buffer that follows the header) plus an
// optional "__metadata__" object of string→string, then the byte buffer
// itself. Tensors are stored contiguously, little-endian and row-major, and
// together they must cover the buffer exactly.
//
// Reading validates the whole file; every error names the file (for ReadFile)
// and the tensor or field at fault. Writing sorts tensors by name, pads the
// header with spaces to a multiple of 8 bytes as the reference implementation
// does, and WriteFile replaces its target atomically.
//
// Example:
//
//	f, err := safetensors.ReadFile("weights.safetensors")
//	if err != nil {
//		return err
//	}
//	t, ok := f.Get("conv1.conv.weight")
//	if !ok {
//		return errors.New("missing conv1.conv.weight")
//	}
//	w, err := t.Float32() // F16/BF16/F32/F64 widened to float32
//	if err != nil {
//		return err
//	}
//	_ = w
//
//	out := &safetensors.File{
//		Metadata: map[string]string{"format": "pt"},
//		Tensors:  []safetensors.Tensor{safetensors.FromFloat32("bias", []int{3}, []float32{1, 2, 3})},
//	}
//	return safetensors.WriteFile("out.safetensors", out)
package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// DType is a safetensors element type, spelled as in the format's header.
type DType string

// Element types supported by this package.
const (
	F32  DType = "F32"  // IEEE 754 binary32
	F16  DType = "F16"  // IEEE 754 binary16 (half precision)
	BF16 DType = "BF16" // bfloat16: the upper 16 bits of a binary32
	F64  DType = "F64"  // IEEE 754 binary64
	I64  DType = "I64"  // signed 64-bit integer
	I32  DType = "I32"  // signed 32-bit integer
	U8   DType = "U8"   // unsigned 8-bit integer
	BOOL DType = "BOOL" // one byte per element, 0 or 1
)

// Size returns the size in bytes of one element of type d, or 0 if d is not
// a supported type.
func (d DType) Size() int {
	switch d {
	case U8, BOOL:
		return 1
	case F16, BF16:
		return 2
	case F32, I32:
		return 4
	case F64, I64:
		return 8
	}
	return 0
}

// Tensor is one named tensor: its element type, shape (row-major, outermost
// dimension first; empty for a scalar) and raw little-endian bytes.
type Tensor struct {
	// Name is the tensor's key in the header, unique within a file;
	// "__metadata__" is reserved.
	Name string
	// DType is the element type, one of the constants above.
	DType DType
	// Shape lists the dimensions, outermost first; each ≥ 0.
	Shape []int
	// Data holds the elements, exactly the product of Shape times
	// DType.Size() bytes. Read tensors share one buffer, the file's data.
	Data []byte
}

// byteSize returns the number of bytes a tensor of this dtype and shape
// occupies, or an error naming the problem (unknown dtype, negative
// dimension, overflow).
func byteSize(dtype DType, shape []int) (int, error) {
	size := dtype.Size()
	if size == 0 {
		return 0, fmt.Errorf("unknown dtype %q", string(dtype))
	}
	n := uint64(size)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v: negative dimension %d at index %d", shape, d, i)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, fmt.Errorf("shape %v: byte size overflows", shape)
		}
		n = lo
	}
	return int(n), nil
}

// check reports whether t has a supported dtype, a valid shape and exactly
// the number of data bytes its shape requires.
func (t Tensor) check() error {
	n, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if len(t.Data) != n {
		return fmt.Errorf("tensor %q: data is %d bytes, dtype %s shape %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, n)
	}
	return nil
}

// Float32 returns the tensor's elements converted to float32. F32, F16
// (exact, including subnormals, infinities and NaN), BF16 and F64 (rounded
// to nearest) are supported; other dtypes give an error.
func (t Tensor) Float32() ([]float32, error) {
	switch t.DType {
	case F32, F16, BF16, F64:
	default:
		return nil, fmt.Errorf("safetensors: tensor %q: cannot convert dtype %s to float32", t.Name, t.DType)
	}
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	le := binary.LittleEndian
	b := t.Data
	out := make([]float32, len(b)/t.DType.Size())
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = F16ToFloat32(le.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(le.Uint16(b[2*i:])) << 16)
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	}
	return out, nil
}

// FromFloat32 returns an F32 tensor holding v with the given shape. The shape
// slice is copied; it is not checked against len(v) here (Write does that).
func FromFloat32(name string, shape []int, v []float32) Tensor {
	data := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: data}
}

// F16ToFloat32 converts an IEEE 754 half-precision value, given by its bits,
// to float32. The conversion is exact; NaN payloads are preserved.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0: // ±0
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalize into a float32 normal
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	case exp == 0x1f: // ±Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToF16 converts v to IEEE 754 half precision, rounding to nearest
// with ties to even. Values too large become ±Inf, values too small ±0 or a
// subnormal; NaN stays NaN (quiet, with the top payload bits kept).
func Float32ToF16(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13)
	}
	e := exp - 127 + 15 // biased half exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e >= 1 { // normal half; a rounding carry may bump the exponent, up to Inf
		h := uint32(e)<<10 | mant>>13
		rem := mant & 0x1fff
		if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	if exp == 0 { // float32 subnormals are far below the half range
		return sign
	}
	// Subnormal half: value = m·2^(exp-150) = (m >> (14-e))·2^-24.
	m := mant | 0x800000
	shift := uint(14 - e)
	if shift >= 25 { // below half the smallest subnormal
		return sign
	}
	h := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || rem == half && h&1 == 1 {
		h++ // may carry into the smallest normal, which is correct
	}
	return sign | uint16(h)
}

// File is the contents of a safetensors file.
type File struct {
	// Metadata is the optional "__metadata__" map.
	Metadata map[string]string
	// Tensors in header order when read; any order when written.
	Tensors []Tensor
}

// Get returns the tensor with the given name and whether it exists.
func (f *File) Get(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// Names returns the names of all tensors, sorted.
func (f *File) Names() []string {
	names := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		names[i] = t.Name
	}
	slices.Sort(names)
	return names
}
