package kernels

// Activation selects the elementwise function applied in a GEMM or convolution
// epilogue.
type Activation uint8

const (
	ActNone      Activation = iota // identity
	ActReLU                        // max(x, 0)
	ActSwish                       // x·sigmoid(x)
	ActHardSwish                   // x·relu6(x+3)/6
	ActSigmoid                     // 1/(1+exp(-x))
)

// Epilogue describes work fused into a GEMM after the full K reduction of a
// tile, while the tile is still in cache:
//
//	C[i,j] = Act(acc[i,j] + Bias[j] + Residual[i*LdResidual+j])
//
// where acc is A·B (plus the old C when accumulating). A nil Bias or Residual
// is skipped. This is how inference fuses folded batch norm (scale folded into
// the weights, shift into Bias), the activation and a residual add.
type Epilogue struct {
	Bias       []float32 // length n, or nil
	Residual   []float32 // m×n with row stride LdResidual, or nil
	LdResidual int
	Act        Activation
}

// PanelA supplies the left GEMM operand A (m×k) in packed form.
//
// PackA writes rows [i0, i0+mc) and columns [p0, p0+kc) of A into dst as
// ceil(mc/mr) panels of mr rows. Panel q holds, for p = 0..kc-1, the mr values
// A[i0+q·mr+r, p0+p] for r = 0..mr-1 (zeros for rows at or past i0+mc):
//
//	dst[q*mr*kc + p*mr + r] = A[i0+q*mr+r][p0+p]
//
// Implementations other than a stored matrix let a convolution gather its
// im2col patches on the fly (implicit GEMM) instead of materialising them.
// PackA may be called concurrently for disjoint blocks.
type PanelA interface {
	PackA(dst []float32, mr, i0, mc, p0, kc int)
}

// PanelB supplies the right GEMM operand B (k×n) in packed form.
//
// PackB writes rows [p0, p0+kc) and columns [j0, j0+nc) of B into dst as
// ceil(nc/nr) panels of nr columns:
//
//	dst[q*nr*kc + p*nr + c] = B[p0+p][j0+q*nr+c]   (zero past column j0+nc)
//
// PackB may be called concurrently for disjoint blocks.
type PanelB interface {
	PackB(dst []float32, nr, p0, kc, j0, nc int)
}

// Matrix is a row-major matrix stored in Data with row stride Stride. With
// Trans set it stands for its transpose: element (i, j) is Data[j*Stride+i].
// It implements PanelA and PanelB.
type Matrix struct {
	Data   []float32
	Stride int
	Trans  bool
}

// at returns element (i, j) of the (possibly transposed) matrix.
func (a Matrix) at(i, j int) float32 {
	if a.Trans {
		return a.Data[j*a.Stride+i]
	}
	return a.Data[i*a.Stride+j]
}

// PackA implements PanelA.
func (a Matrix) PackA(dst []float32, mr, i0, mc, p0, kc int) {
	for q := 0; q*mr < mc; q++ {
		panel := dst[q*mr*kc : (q+1)*mr*kc]
		for p := 0; p < kc; p++ {
			for r := 0; r < mr; r++ {
				i := q*mr + r
				if i < mc {
					panel[p*mr+r] = a.at(i0+i, p0+p)
				} else {
					panel[p*mr+r] = 0
				}
			}
		}
	}
}

// PackB implements PanelB.
func (b Matrix) PackB(dst []float32, nr, p0, kc, j0, nc int) {
	for q := 0; q*nr < nc; q++ {
		panel := dst[q*nr*kc : (q+1)*nr*kc]
		for p := 0; p < kc; p++ {
			for c := 0; c < nr; c++ {
				j := q*nr + c
				if j < nc {
					panel[p*nr+c] = b.at(p0+p, j0+j)
				} else {
					panel[p*nr+c] = 0
				}
			}
		}
	}
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or its transpose. op(A) is m×k, op(B) is k×n, C is m×n.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if beta != 0 && beta != 1 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if alpha == 0 || k == 0 {
		if beta == 0 {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	var pa PanelA = Matrix{Data: a, Stride: lda, Trans: transA}
	if alpha != 1 {
		pa = scaledPanel{pa, alpha}
	}
	GemmEx(m, n, k, pa, Matrix{Data: b, Stride: ldb, Trans: transB}, c, ldc, beta != 0, nil)
}

// scaledPanel multiplies another PanelA by a constant while packing.
type scaledPanel struct {
	PanelA
	s float32
}

func (a scaledPanel) PackA(dst []float32, mr, i0, mc, p0, kc int) {
	a.PanelA.PackA(dst, mr, i0, mc, p0, kc)
	n := (mc + mr - 1) / mr * mr * kc
	for i := range dst[:n] {
		dst[i] *= a.s
	}
}

// GemmEx computes C = A·B (accumulate false) or C += A·B (accumulate true) for
// an m×k operand A and a k×n operand B given by packers, then applies ep (which
// may be nil) to every element of C. C is row-major with row stride ldc.
func GemmEx(m, n, k int, a PanelA, b PanelB, c []float32, ldc int, accumulate bool, ep *Epilogue) {
	gemmReference(m, n, k, a, b, c, ldc, accumulate, ep)
}

// gemmReference is the slow, obviously correct GemmEx: it packs A and B whole
// with mr = nr = 1 and runs a triple loop.
func gemmReference(m, n, k int, a PanelA, b PanelB, c []float32, ldc int, accumulate bool, ep *Epilogue) {
	ap := make([]float32, m*k)
	bp := make([]float32, k*n)
	if k > 0 {
		a.PackA(ap, 1, 0, m, 0, k) // ap[i*k+p] = A[i][p]
		b.PackB(bp, 1, 0, k, 0, n) // bp[j*k+p] = B[p][j]
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s += ap[i*k+p] * bp[j*k+p]
			}
			if accumulate {
				s += c[i*ldc+j]
			}
			c[i*ldc+j] = s
		}
	}
	applyEpilogue(m, n, c, ldc, ep)
}

// applyEpilogue applies ep to the m×n matrix c.
func applyEpilogue(m, n int, c []float32, ldc int, ep *Epilogue) {
	if ep == nil {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if ep.Bias != nil {
			for j := range row {
				row[j] += ep.Bias[j]
			}
		}
		if ep.Residual != nil {
			res := ep.Residual[i*ep.LdResidual : i*ep.LdResidual+n]
			for j := range row {
				row[j] += res[j]
			}
		}
		ApplyActivation(ep.Act, row)
	}
}
