package autograd

import (
	"fmt"

	"github.com/spinenet-go/spinenet/tensor"
)

// RoIAlign crops every region of rois from its feature level and resizes it
// to size×size bins by bilinear sampling (Mask R-CNN spec §6):
//
//	levels [N, H_l, W_l, C] (one per pyramid level; strides[l] = 2^level),
//	rois (image, level index, box in input pixels) → [R, size, size, C]
//
// in the order of rois. opt picks the TF/TPU rule (one sample per bin
// centre, edge clamping) or torchvision's (ratio² samples per bin, zero
// outside). Levels may have ragged sizes; the gradient scatters each
// output's gradient to the pixels it sampled with the same weights. The
// regions get no gradient (proposals are constants). rois is copied.
func (t *Tape) RoIAlign(levels []*Var, strides []float64, rois []tensor.RoI, size int, opt tensor.RoIAlignOptions) *Var {
	if len(levels) == 0 || len(levels) > tensor.MaxRoILevels || size < 1 {
		panic(&tensor.ShapeError{Op: "RoIAlign", Msg: fmt.Sprintf("%d levels, output %d×%d", len(levels), size, size)})
	}
	var buf [tensor.MaxRoILevels]*tensor.Tensor
	for i, l := range levels {
		buf[i] = l.Value
	}
	c := levels[0].Value.Dim(-1)
	y := t.alloc(len(rois), size, size, c)
	t.dev.RoIAlign(y, buf[:len(levels)], strides, rois, opt)
	out, nd := t.output(y, backRoIAlign, levels...)
	if nd != nil {
		nd.floats = append(nd.floats, strides...)
		nd.ints = append(nd.ints, int(opt.Mode), opt.SamplingRatio)
		nd.rois = append(nd.rois, rois...)
	}
	return out
}

func backRoIAlign(t *Tape, n *node) {
	var buf [tensor.MaxRoILevels]*tensor.Tensor
	for i, l := range n.in {
		buf[i] = t.gradZeroed(l) // nil for a level that needs no gradient
	}
	opt := tensor.RoIAlignOptions{Mode: tensor.RoIAlignMode(n.ints[0]), SamplingRatio: n.ints[1]}
	t.dev.RoIAlignBackward(buf[:len(n.in)], n.out.Grad, n.floats, n.rois, opt)
}

// DepthToSpace moves blocks of channels into space (TensorFlow's
// depth_to_space):
//
//	x [N, H, W, b²·F] → [N, b·H, b·W, F],   y[n, b·i+a, b·j+c, f] = x[n, i, j, (a·b+c)·F + f]
//
// After a 1×1 convolution to 4·F channels, DepthToSpace(·, 2) is a 2×2
// stride-2 'valid' transposed convolution (Mask R-CNN's mask-head
// upsampling; nn.Scope.Deconv2x2).
func (t *Tape) DepthToSpace(x *Var, block int) *Var {
	s := x.Shape()
	if len(s) != 4 || block < 1 || s[3]%(block*block) != 0 {
		panic(&tensor.ShapeError{Op: "DepthToSpace", Msg: fmt.Sprintf("input %v with block %d, want [N,H,W,%d²·F]", s, block, block)})
	}
	y := t.alloc(s[0], block*s[1], block*s[2], s[3]/(block*block))
	t.dev.DepthToSpace(y, x.Value, block)
	out, nd := t.output(y, backDepthToSpace, x)
	if nd != nil {
		nd.ints = append(nd.ints, block)
	}
	return out
}

func backDepthToSpace(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		t.dev.DepthToSpaceBackward(g, n.out.Grad, n.ints[0], acc)
	}
}

// GatherClass picks, for every region r, the slice of its class classes[r]
// along the class axis of x:
//
//	x [R, …, K, …] (K at axis ≥ 1), classes (one in [0, K) per region)
//	→ x's shape without axis,   y[r, i, j] = x[r, i, classes[r], j]
//
// Mask R-CNN uses it for the box deltas of each RoI's class (the box
// layer's [R, 4·K] reshaped to [R, K, 4], axis 1 → [R, 4]) and for the mask
// logits of its class ([R, 28, 28, K], axis 3 → [R, 28, 28]). classes is
// copied; the gradient is scattered back to the picked entries.
func (t *Tape) GatherClass(x *Var, axis int, classes []int32) *Var {
	s := x.Shape()
	if len(s) < 2 || len(s) > maxRank+1 {
		panic(&tensor.ShapeError{Op: "GatherClass", Msg: fmt.Sprintf("input %v, want [R, …, K, …]", s)})
	}
	axis = tensor.NormAxis("GatherClass", axis, len(s))
	var buf [maxRank]int
	shape := append(append(buf[:0], s[:axis]...), s[axis+1:]...)
	y := t.alloc(shape...)
	tensor.GatherClass(y, x.Value, axis, classes)
	out, nd := t.output(y, backGatherClass, x)
	if nd != nil {
		nd.ints = append(nd.ints, axis)
		nd.idx = append(nd.idx, classes...)
	}
	return out
}

func backGatherClass(t *Tape, n *node) {
	if g, acc := t.grad(n.in[0]); g != nil {
		tensor.GatherClassBackward(g, n.out.Grad, n.ints[0], n.idx, acc)
	}
}
