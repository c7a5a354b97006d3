package nn

import (
	"fmt"

	"github.com/spinenet-go/spinenet/tensor"
)

// Deconv2x2 adds a 2×2 stride-2 'valid' transposed convolution of x with
// out filters and a bias — Mask R-CNN's mask-head upsampling (spec §7.2:
// TF1 conv5-mask, TF2 mask-upsampling), which doubles the spatial size
// (level − 1). It is built from two nodes: a 1×1 convolution (OpConv, no
// bias) to 4·out channels with parameter name/kernel, shape
// [1, 1, Cin, 4·out], and an OpDepthToSpace node (block 2) carrying the
// bias, parameter name/bias, shape [out]:
//
//	y[n, 2i+a, 2j+b, o] = Σ_c x[n, i, j, c]·kernel[0, 0, c, (2a+b)·out + o] + bias[o]
//
// which is exactly the transposed convolution, whose 2×2 windows at stride
// 2 never overlap. It has 4·Cin·out + out parameters and 4·Cin·out
// multiply-adds per input pixel, as a real transposed convolution
// (spec §11: 2·2·256·256 + 256).
//
// Weights from elsewhere: a TensorFlow conv2d_transpose / Keras
// Conv2DTranspose kernel W [2, 2, out, in] maps to ours by
//
//	kernel[0, 0, c, (2a+b)·out + o] = W[a, b, o, c]
//
// (Deconv2x2KernelFromTF); a PyTorch ConvTranspose2d weight [in, out, 2, 2]
// by kernel[0, 0, c, (2a+b)·out + o] = W[c, o, a, b]. The bias is the same
// vector in all three.
//
// init fills the kernel with fanIn = Cin, the inputs feeding each output
// value (nil: VarianceScaling{1}); Keras computes the fans of its
// [2, 2, out, in] kernel as fan_in = 4·out and fan_out = 4·in, so an
// initializer that follows Keras's fan convention must be built with those
// numbers. biasInit fills the bias (nil: zeros).
func (s *Scope) Deconv2x2(x int, name string, out int, init, biasInit Init) int {
	if out < 1 {
		panic(fmt.Sprintf("nn: %s: Deconv2x2 with %d filters", s.join(name), out))
	}
	in := s.N(x)
	c := s.Conv(x, name, ConvSpec{K: 1, Out: 4 * out, Stride: 1, Init: init})
	n := s.node([]int{c}, OpDepthToSpace, name, out, in.Level-1)
	n.Conv.Bias = s.param(n.Name+"/bias", biasInit, Constant(0), in.Channels, out)
	return s.add(n)
}

// Deconv2x2KernelFromTF converts a TensorFlow conv2d_transpose kernel
// [2, 2, out, in] (Keras Conv2DTranspose, kernel_size 2, strides 2,
// 'valid') to the [1, 1, in, 4·out] kernel of Scope.Deconv2x2:
// kernel[0, 0, c, (2a+b)·out + o] = w[a, b, o, c].
func Deconv2x2KernelFromTF(w *tensor.Tensor) (*tensor.Tensor, error) {
	s := w.Shape()
	if len(s) != 4 || s[0] != 2 || s[1] != 2 || w.Len() == 0 {
		return nil, &tensor.ShapeError{Op: "Deconv2x2KernelFromTF", Msg: fmt.Sprintf("kernel %v, want [2,2,out,in]", s)}
	}
	out, in := s[2], s[3]
	k := tensor.New(1, 1, in, 4*out)
	src, dst := w.Data(), k.Data()
	for a := range 2 {
		for b := range 2 {
			for o := range out {
				for c := range in {
					dst[c*4*out+(2*a+b)*out+o] = src[((a*2+b)*out+o)*in+c]
				}
			}
		}
	}
	return k, nil
}
