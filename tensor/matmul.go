package tensor

import "fmt"

// MatMul sets dst = op(a)·op(b), or dst += op(a)·op(b) when accumulate is
// true, where op transposes its 2-D argument if the matching flag is set.
// dst must be m×n for op(a) m×k and op(b) k×n.
func (d CPU) MatMul(dst, a, b *Tensor, transA, transB, accumulate bool) {
	if a.Rank() != 2 || b.Rank() != 2 || dst.Rank() != 2 {
		panic(&ShapeError{Op: "MatMul", Msg: fmt.Sprintf("want 2-D operands, got %v·%v→%v", a.shape, b.shape, dst.shape)})
	}
	m, k := a.shape[0], a.shape[1]
	if transA {
		m, k = k, m
	}
	k2, n := b.shape[0], b.shape[1]
	if transB {
		k2, n = n, k2
	}
	if k != k2 || dst.shape[0] != m || dst.shape[1] != n {
		panic(&ShapeError{Op: "MatMul", Msg: fmt.Sprintf("%v (transposed %v) · %v (transposed %v) does not fit %v", a.shape, transA, b.shape, transB, dst.shape)})
	}
	var beta float32
	if accumulate {
		beta = 1
	}
	d.Exec().Sgemm(transA, transB, m, n, k, 1, a.data, a.shape[1], b.data, b.shape[1], beta, dst.data, n)
}

// MatMul is DefaultCPU().MatMul.
func MatMul(dst, a, b *Tensor, transA, transB, accumulate bool) {
	DefaultCPU().MatMul(dst, a, b, transA, transB, accumulate)
}

// AddRowVector sets dst[i, j] += v[j] for a 2-D (or flattened-to-2-D along the
// last axis) dst whose last dimension equals len(v).
func AddRowVector(dst, v *Tensor) {
	n := v.Len()
	if dst.Rank() == 0 || dst.Dim(-1) != n {
		panic(&ShapeError{Op: "AddRowVector", Msg: fmt.Sprintf("vector of %d does not match last axis of %v", n, dst.shape)})
	}
	vs := v.data
	for i := 0; i < len(dst.data); i += n {
		row := dst.data[i : i+n]
		for j := range row {
			row[j] += vs[j]
		}
	}
}

// SumRows sets dst[j] (= or +=) Σ_i src[i, j] over every leading index, for a
// src whose last dimension equals dst's length (a bias gradient).
func SumRows(dst, src *Tensor, accumulate bool) {
	n := dst.Len()
	if src.Rank() == 0 || src.Dim(-1) != n {
		panic(&ShapeError{Op: "SumRows", Msg: fmt.Sprintf("rows of %v do not match %d", src.shape, n)})
	}
	d := dst.data
	if !accumulate {
		clear(d)
	}
	for i := 0; i < len(src.data); i += n {
		row := src.data[i : i+n]
		for j := range d {
			d[j] += row[j]
		}
	}
}
