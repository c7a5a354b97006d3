package tensor

import (
	"fmt"
	"math"
)

// Batch-normalization primitives. Every function here treats its input x as
// [M, C]: statistics are per channel (the last, contiguous axis) over every
// leading position, so an NHWC feature map [N,H,W,C] and a 2-D activation
// [N,C] are handled alike. Reductions accumulate in float64.

// chanBlock is the number of channels whose float64 accumulators live on the
// stack at once; wider tensors are processed in channel blocks.
const chanBlock = 256

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

// BatchMoments sets mean[c] and variance[c] to the mean and the biased
// (divide-by-M) variance of x[..., c] over all M leading positions. It uses
// two passes over x for accuracy.
func BatchMoments(mean, variance, x *Tensor) {
	c, m := channels("BatchMoments", x, mean, variance)
	var acc, mu [chanBlock]float64
	inv := 1 / float64(m)
	for c0 := 0; c0 < c; c0 += chanBlock {
		w := min(chanBlock, c-c0)
		a, u := acc[:w], mu[:w]
		clear(a)
		for i := c0; i < len(x.data); i += c {
			for j, v := range x.data[i : i+w] {
				a[j] += float64(v)
			}
		}
		for j := range a {
			u[j] = a[j] * inv
			mean.data[c0+j] = float32(u[j])
		}
		clear(a)
		for i := c0; i < len(x.data); i += c {
			for j, v := range x.data[i : i+w] {
				d := float64(v) - u[j]
				a[j] += d * d
			}
		}
		for j := range a {
			variance.data[c0+j] = float32(a[j] * inv)
		}
	}
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
func BatchNormForward(y, x, mean, invStd, gamma, beta *Tensor) {
	MustSameShape("BatchNormForward", y, x)
	c, _ := channels("BatchNormForward", x, mean, invStd, gamma, beta)
	var scale, shift [chanBlock]float32
	for c0 := 0; c0 < c; c0 += chanBlock {
		w := min(chanBlock, c-c0)
		s, b := scale[:w], shift[:w]
		for j := range s {
			k := float64(invStd.data[c0+j])
			if gamma != nil {
				k *= float64(gamma.data[c0+j])
			}
			off := -float64(mean.data[c0+j]) * k
			if beta != nil {
				off += float64(beta.data[c0+j])
			}
			s[j], b[j] = float32(k), float32(off)
		}
		for i := c0; i < len(x.data); i += c {
			dst := y.data[i : i+w]
			for j, v := range x.data[i : i+w] {
				dst[j] = v*s[j] + b[j]
			}
		}
	}
}

// BatchNormGradSums sets, per channel, sumDy[c] = Σ dy and sumDyXhat[c] =
// Σ dy·x̂ with x̂ = (x − mean[c])·invStd[c], over all leading positions. These
// are the gradients of beta and gamma, and the reductions the training-mode
// input gradient needs.
func BatchNormGradSums(sumDy, sumDyXhat, x, dy, mean, invStd *Tensor) {
	MustSameShape("BatchNormGradSums", x, dy)
	c, _ := channels("BatchNormGradSums", x, sumDy, sumDyXhat, mean, invStd)
	var s1, s2 [chanBlock]float64
	var mu [chanBlock]float32
	for c0 := 0; c0 < c; c0 += chanBlock {
		w := min(chanBlock, c-c0)
		a, b, u := s1[:w], s2[:w], mu[:w]
		clear(a)
		clear(b)
		copy(u, mean.data[c0:c0+w])
		for i := c0; i < len(x.data); i += c {
			g := dy.data[i : i+w]
			for j, v := range x.data[i : i+w] {
				gj := float64(g[j])
				a[j] += gj
				b[j] += gj * float64(v-u[j])
			}
		}
		for j := range a {
			sumDy.data[c0+j] = float32(a[j])
			sumDyXhat.data[c0+j] = float32(b[j] * float64(invStd.data[c0+j]))
		}
	}
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
func BatchNormInputGrad(dx, x, dy, mean, invStd, gamma, sumDy, sumDyXhat *Tensor, batchStats, accumulate bool) {
	MustSameShape("BatchNormInputGrad", dx, x)
	MustSameShape("BatchNormInputGrad", x, dy)
	c, m := channels("BatchNormInputGrad", x, mean, invStd, gamma, sumDy, sumDyXhat)
	if batchStats && (sumDy == nil || sumDyXhat == nil) {
		panic(&ShapeError{Op: "BatchNormInputGrad", Msg: "batch statistics need sumDy and sumDyXhat"})
	}
	// dx = k·dy + p·(x − mean) + q per channel.
	var kk, pp, qq, mu [chanBlock]float32
	invM := 1 / float64(m)
	for c0 := 0; c0 < c; c0 += chanBlock {
		w := min(chanBlock, c-c0)
		k, p, q, u := kk[:w], pp[:w], qq[:w], mu[:w]
		copy(u, mean.data[c0:c0+w])
		for j := range k {
			is := float64(invStd.data[c0+j])
			kj := is
			if gamma != nil {
				kj *= float64(gamma.data[c0+j])
			}
			k[j] = float32(kj)
			if batchStats {
				a := float64(sumDy.data[c0+j]) * invM
				b := float64(sumDyXhat.data[c0+j]) * invM
				// −k·x̂·b − k·a with x̂ = (x − mean)·is
				p[j] = float32(-kj * is * b)
				q[j] = float32(-kj * a)
			} else {
				p[j], q[j] = 0, 0
			}
		}
		for i := c0; i < len(x.data); i += c {
			d, g := dx.data[i:i+w], dy.data[i:i+w]
			xs := x.data[i : i+w]
			if accumulate {
				for j := range d {
					d[j] += k[j]*g[j] + p[j]*(xs[j]-u[j]) + q[j]
				}
			} else {
				for j := range d {
					d[j] = k[j]*g[j] + p[j]*(xs[j]-u[j]) + q[j]
				}
			}
		}
	}
}
