package kernels

//go:generate sh -c "cd _asm && go run . -which gemm -out ../gemm_amd64.s -stubs ../gemm_amd64.go -pkg kernels"
//go:generate sh -c "cd _asm && go run . -which peak -out ../peak_amd64.s -stubs ../peak_amd64.go -pkg kernels"

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
		h := min(mr, mc-q*mr)
		if a.Trans {
			// A[i][p] = Data[p*Stride+i]: each k step is a contiguous run.
			for p := 0; p < kc; p++ {
				o := (p0+p)*a.Stride + i0 + q*mr
				d := panel[p*mr : p*mr+mr]
				copy(d, a.Data[o:o+h])
				clear(d[h:])
			}
			continue
		}
		if h == 4 || h == 8 || h == 12 {
			// Four rows at a time, k step outer: short contiguous stores.
			for r := 0; r < h; r += 4 {
				o := (i0+q*mr+r)*a.Stride + p0
				s0 := a.Data[o : o+kc]
				s1 := a.Data[o+a.Stride : o+a.Stride+kc][:len(s0)]
				s2 := a.Data[o+2*a.Stride : o+2*a.Stride+kc][:len(s0)]
				s3 := a.Data[o+3*a.Stride : o+3*a.Stride+kc][:len(s0)]
				for p := range s0 {
					d := panel[p*mr+r : p*mr+r+4]
					d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
				}
			}
		} else {
			for r := 0; r < h; r++ {
				o := (i0+q*mr+r)*a.Stride + p0
				src := a.Data[o : o+kc]
				for p, v := range src {
					panel[p*mr+r] = v
				}
			}
		}
		for r := h; r < mr; r++ {
			for p := 0; p < kc; p++ {
				panel[p*mr+r] = 0
			}
		}
	}
}

// PackB implements PanelB.
func (b Matrix) PackB(dst []float32, nr, p0, kc, j0, nc int) {
	for q := 0; q*nr < nc; q++ {
		panel := dst[q*nr*kc : (q+1)*nr*kc]
		w := min(nr, nc-q*nr)
		if !b.Trans {
			// B[p][j] = Data[p*Stride+j]: each k step is a contiguous run.
			for p := 0; p < kc; p++ {
				o := (p0+p)*b.Stride + j0 + q*nr
				d := panel[p*nr : p*nr+nr]
				copy(d, b.Data[o:o+w])
				clear(d[w:])
			}
			continue
		}
		for c := 0; c < w; c++ {
			o := (j0+q*nr+c)*b.Stride + p0
			src := b.Data[o : o+kc]
			for p, v := range src {
				panel[p*nr+c] = v
			}
		}
		for c := w; c < nr; c++ {
			for p := 0; p < kc; p++ {
				panel[p*nr+c] = 0
			}
		}
	}
}

// Sgemm is Default().Sgemm.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Default().Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or its transpose. op(A) is m×k, op(B) is k×n, C is m×n.
func (e *Exec) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
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
	ops := gemmOperands{
		aMat: Matrix{Data: a, Stride: lda, Trans: transA}, aIsMat: true,
		bMat: Matrix{Data: b, Stride: ldb, Trans: transB}, bIsMat: true,
		bScale: alpha, // B is packed once per call, A possibly many times
	}
	e.gemm(m, n, k, &ops, c, ldc, beta != 0, nil)
}

// GemmEx computes C = A·B (accumulate false) or C += A·B (accumulate true) for
// an m×k operand A and a k×n operand B given by packers, then applies ep (which
// may be nil) to every element of C. C is row-major with row stride ldc.
//
// It is cache-blocked and runs on up to e.Threads() threads. A Matrix operand
// is recognised and packed (or read in place) without going through the
// interface; note that converting a Matrix value to PanelA/PanelB at the call
// site costs a small allocation, which Sgemm avoids.
func (e *Exec) GemmEx(m, n, k int, a PanelA, b PanelB, c []float32, ldc int, accumulate bool, ep *Epilogue) {
	ops := gemmOperands{a: a, b: b, bScale: 1}
	switch v := a.(type) {
	case Matrix:
		ops.aMat, ops.aIsMat = v, true
	case *Matrix:
		ops.aMat, ops.aIsMat = *v, true
	}
	switch v := b.(type) {
	case Matrix:
		ops.bMat, ops.bIsMat = v, true
	case *Matrix:
		ops.bMat, ops.bIsMat = *v, true
	case *PackedWeights:
		ops.bMat, ops.bIsMat, ops.pre = v.src, true, v
	}
	e.gemm(m, n, k, &ops, c, ldc, accumulate, ep)
}

// GemmEx is Default().GemmEx.
func GemmEx(m, n, k int, a PanelA, b PanelB, c []float32, ldc int, accumulate bool, ep *Epilogue) {
	Default().GemmEx(m, n, k, a, b, c, ldc, accumulate, ep)
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
