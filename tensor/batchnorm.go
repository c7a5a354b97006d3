package tensor

import (
	"fmt"
	"math"
	"sync"

	"github.com/spinenet-go/spinenet/kernels"
)

// Batch-normalization primitives. Every function here treats its input x as
// [M, C]: statistics are per channel (the last, contiguous axis) over every
// leading position, so an NHWC feature map [N,H,W,C] and a 2-D activation
// [N,C] are handled alike. Reductions accumulate in float64.
//
// The passes over x run on the device's threads (kernels.Exec.Parallel), by
// blocks of rows.
// A reduction writes one float64 partial sum per channel and row block and
// adds the blocks in order; the blocks depend only on the shape, so results
// do not depend on the thread count or on which thread ran which block.

// channels checks that x is non-empty with last axis c and that every
// per-channel vector (nil ones are skipped) has c elements; it returns c and
// the number of positions M.
func channels(op string, x *Tensor, vecs ...*Tensor) (c, m int) {
	if x.Rank() == 0 || x.Dim(-1) == 0 || len(x.data) == 0 {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("need a non-empty input with a channel axis, got %v", x.shape)})
	}
	c = x.Dim(-1)
	for _, v := range vecs {
		if v != nil && len(v.data) != c {
			panic(&ShapeError{Op: op, Msg: fmt.Sprintf("per-channel vector %v does not match %d channels of %v", v.shape, c, x.shape)})
		}
	}
	return c, len(x.data) / c
}

// bnBlockElems is about how many elements one row block of a parallel
// batch-norm pass covers.
const bnBlockElems = 1 << 14

// bnRowBlock returns the rows per block and the number of blocks for m rows
// of c channels.
func bnRowBlock(m, c int) (rows, blocks int) {
	rows = max(1, bnBlockElems/c)
	return rows, (m + rows - 1) / rows
}

// bnKind selects the pass a bnTask runs.
type bnKind uint8

const (
	bnSum       bnKind = iota // part += x
	bnSqDev                   // part += (x − mean)²
	bnGradSums                // part += dy, part2 += dy·(x − mean)
	bnAffine                  // y = x·k + q
	bnInputGrad               // dx (+)= k·dy + p·(x − mean) + q
)

// bnTask holds the arguments of one parallel batch-norm pass over row
// blocks (see bnRowBlock).
type bnTask struct {
	kind        bnKind
	c, m        int
	rows        int // rows per block, set by run
	x, dy, y    []float32
	mean        []float32 // per channel: float32 means
	mean64      []float64 // per channel: float64 means (bnSqDev)
	k, p, q     []float32 // per channel coefficients
	part, part2 []float64 // blocks×c partial sums
	accumulate  bool
}

var bnTasks kernels.ArgPool[bnTask]

// RunRange implements kernels.Ranger over row blocks.
func (t *bnTask) RunRange(lo, hi int) {
	c := t.c
	for b := lo; b < hi; b++ {
		r0, r1 := b*t.rows, min((b+1)*t.rows, t.m)
		x := t.x[r0*c : r1*c]
		switch t.kind {
		case bnSum:
			a := t.part[b*c : (b+1)*c]
			clear(a)
			for i := 0; i < len(x); i += c {
				for j, v := range x[i : i+c] {
					a[j] += float64(v)
				}
			}
		case bnSqDev:
			a := t.part[b*c : (b+1)*c]
			clear(a)
			u := t.mean64[:c]
			for i := 0; i < len(x); i += c {
				for j, v := range x[i : i+c] {
					d := float64(v) - u[j]
					a[j] += d * d
				}
			}
		case bnGradSums:
			a, a2 := t.part[b*c:(b+1)*c], t.part2[b*c:(b+1)*c]
			clear(a)
			clear(a2)
			u := t.mean[:c]
			dy := t.dy[r0*c : r1*c]
			for i := 0; i < len(x); i += c {
				g := dy[i : i+c]
				for j, v := range x[i : i+c] {
					gj := float64(g[j])
					a[j] += gj
					a2[j] += gj * float64(v-u[j])
				}
			}
		case bnAffine:
			k, q := t.k[:c], t.q[:c]
			y := t.y[r0*c : r1*c]
			for i := 0; i < len(x); i += c {
				dst := y[i : i+c]
				for j, v := range x[i : i+c] {
					dst[j] = v*k[j] + q[j]
				}
			}
		case bnInputGrad:
			k, p, q, u := t.k[:c], t.p[:c], t.q[:c], t.mean[:c]
			d, dy := t.y[r0*c:r1*c], t.dy[r0*c:r1*c]
			for i := 0; i < len(x); i += c {
				dd, g, xs := d[i:i+c], dy[i:i+c], x[i:i+c]
				if t.accumulate {
					for j := range dd {
						dd[j] += k[j]*g[j] + p[j]*(xs[j]-u[j]) + q[j]
					}
				} else {
					for j := range dd {
						dd[j] = k[j]*g[j] + p[j]*(xs[j]-u[j]) + q[j]
					}
				}
			}
		}
	}
}

// run runs the pass on d's threads; cost is the element operations per
// element of x.
func (t *bnTask) run(d CPU, cost int) {
	var blocks int
	t.rows, blocks = bnRowBlock(t.m, t.c)
	d.Exec().Parallel(blocks, len(t.x)*cost, t)
}

// reduceBlocks sets dst[c] to the sum of the blocks×c partial sums in part,
// added block by block.
func reduceBlocks(dst, part []float64, c int) {
	clear(dst)
	for b := 0; b+c <= len(part); b += c {
		for j, v := range part[b : b+c] {
			dst[j] += v
		}
	}
}

// scratch is pooled per-call memory of the parallel passes of this package
// (batch norm, the focal loss's partial sums).
type scratch struct {
	f64 []float64
	f32 []float32
}

// scratches recycles scratch. (kernels.ArgPool would zero it on Put and
// drop the buffers.)
var scratches sync.Pool

func getScratch() *scratch {
	if s, ok := scratches.Get().(*scratch); ok {
		return s
	}
	return new(scratch)
}

// grow returns scratch of n64 float64s and n32 float32s (contents undefined).
func (s *scratch) grow(n64, n32 int) ([]float64, []float32) {
	if cap(s.f64) < n64 {
		s.f64 = make([]float64, n64)
	}
	if cap(s.f32) < n32 {
		s.f32 = make([]float32, n32)
	}
	return s.f64[:n64], s.f32[:n32]
}

// BatchMoments sets mean[c] and variance[c] to the mean and the biased
// (divide-by-M) variance of x[..., c] over all M leading positions. It uses
// two passes over x for accuracy.
func (d CPU) BatchMoments(mean, variance, x *Tensor) {
	c, m := channels("BatchMoments", x, mean, variance)
	_, blocks := bnRowBlock(m, c)
	sc := getScratch()
	f64, _ := sc.grow(blocks*c+2*c, 0)
	part, sum, mu := f64[:blocks*c], f64[blocks*c:blocks*c+c], f64[blocks*c+c:]
	t := bnTasks.Get()
	*t = bnTask{kind: bnSum, c: c, m: m, x: x.data[:m*c], part: part}
	t.run(d, 1)
	inv := 1 / float64(m)
	reduceBlocks(sum, part, c)
	for j := range mu {
		mu[j] = sum[j] * inv
		mean.data[j] = float32(mu[j])
	}
	t.kind, t.mean64 = bnSqDev, mu
	t.run(d, 2)
	reduceBlocks(sum, part, c)
	for j, v := range sum {
		variance.data[j] = float32(v * inv)
	}
	bnTasks.Put(t)
	scratches.Put(sc)
}

// BatchMoments is DefaultCPU().BatchMoments.
func BatchMoments(mean, variance, x *Tensor) {
	DefaultCPU().BatchMoments(mean, variance, x)
}

// InvStd sets dst = 1/sqrt(variance + eps) elementwise.
func InvStd(dst, variance *Tensor, eps float64) {
	MustSameShape("InvStd", dst, variance)
	for i, v := range variance.data {
		dst.data[i] = float32(1 / math.Sqrt(float64(v)+eps))
	}
}

// MovingAverage sets avg = momentum·avg + (1−momentum)·batchScale·batch
// elementwise: the TensorFlow/Keras running-statistics update (PyTorch's
// momentum argument is 1−momentum here). batchScale is 1, or M/(M−1) to feed
// an unbiased variance estimate.
func MovingAverage(avg, batch *Tensor, momentum, batchScale float64) {
	MustSameShape("MovingAverage", avg, batch)
	for i, b := range batch.data {
		avg.data[i] = float32(momentum*float64(avg.data[i]) + (1-momentum)*batchScale*float64(b))
	}
}

// BatchNormForward sets y = (x − mean[c])·invStd[c]·gamma[c] + beta[c] for x
// and y [..., C]. gamma and beta may be nil (scale 1, offset 0); y may be x.
func (d CPU) BatchNormForward(y, x, mean, invStd, gamma, beta *Tensor) {
	MustSameShape("BatchNormForward", y, x)
	c, m := channels("BatchNormForward", x, mean, invStd, gamma, beta)
	sc := getScratch()
	_, f32 := sc.grow(0, 2*c)
	k, q := f32[:c], f32[c:]
	for j := range k {
		kj := float64(invStd.data[j])
		if gamma != nil {
			kj *= float64(gamma.data[j])
		}
		off := -float64(mean.data[j]) * kj
		if beta != nil {
			off += float64(beta.data[j])
		}
		k[j], q[j] = float32(kj), float32(off)
	}
	t := bnTasks.Get()
	*t = bnTask{kind: bnAffine, c: c, m: m, x: x.data[:m*c], y: y.data[:m*c], k: k, q: q}
	t.run(d, 2)
	bnTasks.Put(t)
	scratches.Put(sc)
}

// BatchNormForward is DefaultCPU().BatchNormForward.
func BatchNormForward(y, x, mean, invStd, gamma, beta *Tensor) {
	DefaultCPU().BatchNormForward(y, x, mean, invStd, gamma, beta)
}

// BatchNormGradSums sets, per channel, sumDy[c] = Σ dy and sumDyXhat[c] =
// Σ dy·x̂ with x̂ = (x − mean[c])·invStd[c], over all leading positions. These
// are the gradients of beta and gamma, and the reductions the training-mode
// input gradient needs.
func (d CPU) BatchNormGradSums(sumDy, sumDyXhat, x, dy, mean, invStd *Tensor) {
	MustSameShape("BatchNormGradSums", x, dy)
	c, m := channels("BatchNormGradSums", x, sumDy, sumDyXhat, mean, invStd)
	_, blocks := bnRowBlock(m, c)
	sc := getScratch()
	f64, _ := sc.grow(2*blocks*c+2*c, 0)
	part, part2 := f64[:blocks*c], f64[blocks*c:2*blocks*c]
	s1, s2 := f64[2*blocks*c:2*blocks*c+c], f64[2*blocks*c+c:]
	t := bnTasks.Get()
	*t = bnTask{kind: bnGradSums, c: c, m: m, x: x.data[:m*c], dy: dy.data[:m*c], mean: mean.data[:c], part: part, part2: part2}
	t.run(d, 4)
	reduceBlocks(s1, part, c)
	reduceBlocks(s2, part2, c)
	for j := range s1 {
		sumDy.data[j] = float32(s1[j])
		sumDyXhat.data[j] = float32(s2[j] * float64(invStd.data[j]))
	}
	bnTasks.Put(t)
	scratches.Put(sc)
}

// BatchNormGradSums is DefaultCPU().BatchNormGradSums.
func BatchNormGradSums(sumDy, sumDyXhat, x, dy, mean, invStd *Tensor) {
	DefaultCPU().BatchNormGradSums(sumDy, sumDyXhat, x, dy, mean, invStd)
}

// BatchNormInputGrad sets dx (= or += when accumulate) to the gradient of
// batch normalization with respect to its input, given the output gradient
// dy. With batchStats false the statistics are constants (inference mode):
// dx = dy·gamma·invStd. With batchStats true they are the batch's own mean and
// biased variance, and the gradient flows through them too (the standard
// three-term formula, with M the number of positions per channel):
//
//	dx = gamma·invStd·(dy − sumDy/M − x̂·sumDyXhat/M)
//
// where sumDy and sumDyXhat come from BatchNormGradSums (they are ignored, and
// may be nil, when batchStats is false). gamma may be nil (scale 1).
func (d CPU) BatchNormInputGrad(dx, x, dy, mean, invStd, gamma, sumDy, sumDyXhat *Tensor, batchStats, accumulate bool) {
	MustSameShape("BatchNormInputGrad", dx, x)
	MustSameShape("BatchNormInputGrad", x, dy)
	c, m := channels("BatchNormInputGrad", x, mean, invStd, gamma, sumDy, sumDyXhat)
	if batchStats && (sumDy == nil || sumDyXhat == nil) {
		panic(&ShapeError{Op: "BatchNormInputGrad", Msg: "batch statistics need sumDy and sumDyXhat"})
	}
	// dx = k·dy + p·(x − mean) + q per channel.
	sc := getScratch()
	_, f32 := sc.grow(0, 3*c)
	k, p, q := f32[:c], f32[c:2*c], f32[2*c:]
	invM := 1 / float64(m)
	for j := range k {
		is := float64(invStd.data[j])
		kj := is
		if gamma != nil {
			kj *= float64(gamma.data[j])
		}
		k[j] = float32(kj)
		if batchStats {
			a := float64(sumDy.data[j]) * invM
			b := float64(sumDyXhat.data[j]) * invM
			// −k·x̂·b − k·a with x̂ = (x − mean)·is
			p[j] = float32(-kj * is * b)
			q[j] = float32(-kj * a)
		} else {
			p[j], q[j] = 0, 0
		}
	}
	t := bnTasks.Get()
	*t = bnTask{kind: bnInputGrad, c: c, m: m, x: x.data[:m*c], dy: dy.data[:m*c], y: dx.data[:m*c],
		mean: mean.data[:c], k: k, p: p, q: q, accumulate: accumulate}
	t.run(d, 5)
	bnTasks.Put(t)
	scratches.Put(sc)
}

// BatchNormInputGrad is DefaultCPU().BatchNormInputGrad.
func BatchNormInputGrad(dx, x, dy, mean, invStd, gamma, sumDy, sumDyXhat *Tensor, batchStats, accumulate bool) {
	DefaultCPU().BatchNormInputGrad(dx, x, dy, mean, invStd, gamma, sumDy, sumDyXhat, batchStats, accumulate)
}
