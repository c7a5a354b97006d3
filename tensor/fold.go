package tensor

import (
	"fmt"
	"math"
)

// FoldBatchNorm folds an inference-mode batch norm that follows a
// convolution (or dense layer) into the layer's weights and a bias, so that
// conv(x, wOut) + biasOut = BN(conv(x, w)):
//
//	s[c]       = gamma[c] / sqrt(variance[c] + eps)
//	wOut[…, c] = w[…, c] · s[c]
//	biasOut[c] = beta[c] − mean[c] · s[c]
//
// c runs over the last axis of w (OC for [KH,KW,C,OC] and dense [in,out]
// kernels, C for depthwise [KH,KW,C]). gamma or beta may be nil (1 or 0).
// wOut may be w. The folded bias goes into the convolution's Epilogue.
func FoldBatchNorm(wOut, biasOut, w, gamma, beta, mean, variance *Tensor, eps float32) {
	c := w.Dim(-1)
	MustSameShape("FoldBatchNorm", w, wOut)
	for _, v := range []*Tensor{biasOut, mean, variance, gamma, beta} {
		if v != nil && v.Len() != c {
			panic(&ShapeError{Op: "FoldBatchNorm", Msg: fmt.Sprintf("per-channel vector of %d for weights %v", v.Len(), w.shape)})
		}
	}
	for j := range c {
		g := float32(1)
		if gamma != nil {
			g = gamma.data[j]
		}
		s := g / float32(math.Sqrt(float64(variance.data[j]+eps)))
		b := float32(0)
		if beta != nil {
			b = beta.data[j]
		}
		biasOut.data[j] = b - mean.data[j]*s
		for i := j; i < len(w.data); i += c {
			wOut.data[i] = w.data[i] * s
		}
	}
}
