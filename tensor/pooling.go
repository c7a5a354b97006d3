package tensor

import "fmt"

// PoolParams returns the parameters of a k×k max-pool with the given stride
// and padding over an input [N,H,W,C], or a *ShapeError.
func PoolParams(x []int, k, stride int, pad Padding) (ConvParams, error) {
	if len(x) != 4 || k < 1 || stride < 1 {
		return ConvParams{}, &ShapeError{Op: "MaxPool2D", Msg: fmt.Sprintf("input %v (want [N,H,W,C]), window %d, stride %d", x, k, stride)}
	}
	p := ConvParams{N: x[0], H: x[1], W: x[2], C: x[3], KH: k, KW: k, OC: x[3], StrideH: stride, StrideW: stride}
	p.PadTop, p.PadBottom, p.PadLeft, p.PadRight = pad.Resolve(p.H, p.W, k, k, stride, stride)
	if p.OutH() < 1 || p.OutW() < 1 {
		return ConvParams{}, &ShapeError{Op: "MaxPool2D", Msg: fmt.Sprintf("input %v is smaller than the %d×%d window", x, k, k)}
	}
	return p, nil
}

// MaxPool2D sets y [N,OH,OW,C] to the window maxima of x [N,H,W,C]; padding
// never wins. argmax (len y.Len(), or nil at inference) receives the flat
// index into x of each maximum, for MaxPool2DBackward.
func (d CPU) MaxPool2D(y, x *Tensor, p ConvParams, argmax []int32) {
	checkPool("MaxPool2D", p, x, y)
	if argmax != nil && len(argmax) != y.Len() {
		panic(&ShapeError{Op: "MaxPool2D", Msg: fmt.Sprintf("argmax holds %d, want %d", len(argmax), y.Len())})
	}
	d.Exec().MaxPool2D(p, x.data, y.data, argmax)
}

// MaxPool2D is DefaultCPU().MaxPool2D.
func MaxPool2D(y, x *Tensor, p ConvParams, argmax []int32) {
	DefaultCPU().MaxPool2D(y, x, p, argmax)
}

// MaxPool2DBackward sets dx (= or +=) the gradient of MaxPool2D: each dy
// element goes to the input element that won its window.
func (d CPU) MaxPool2DBackward(dx, dy *Tensor, p ConvParams, argmax []int32, accumulate bool) {
	checkPool("MaxPool2DBackward", p, dx, dy)
	d.Exec().MaxPool2DBackward(p, dy.data, argmax, dx.data, accumulate)
}

// MaxPool2DBackward is DefaultCPU().MaxPool2DBackward.
func MaxPool2DBackward(dx, dy *Tensor, p ConvParams, argmax []int32, accumulate bool) {
	DefaultCPU().MaxPool2DBackward(dx, dy, p, argmax, accumulate)
}

func checkPool(op string, p ConvParams, x, y *Tensor) {
	mustShape(op, x, p.N, p.H, p.W, p.C)
	mustShape(op, y, p.N, p.OutH(), p.OutW(), p.C)
}

// GlobalAvgPool sets y [N,C] to the spatial mean of x [N,H,W,C].
func (d CPU) GlobalAvgPool(y, x *Tensor) {
	n, h, w, c := nhwc("GlobalAvgPool", x)
	mustShape("GlobalAvgPool", y, n, c)
	d.Exec().AvgPoolGlobal(n, h, w, c, x.data, y.data)
}

// GlobalAvgPool is DefaultCPU().GlobalAvgPool.
func GlobalAvgPool(y, x *Tensor) {
	DefaultCPU().GlobalAvgPool(y, x)
}

// GlobalAvgPoolBackward sets dx [N,H,W,C] (= or +=) dy[n,c]/(H·W).
func (d CPU) GlobalAvgPoolBackward(dx, dy *Tensor, accumulate bool) {
	n, h, w, c := nhwc("GlobalAvgPoolBackward", dx)
	mustShape("GlobalAvgPoolBackward", dy, n, c)
	d.Exec().AvgPoolGlobalBackward(n, h, w, c, dy.data, dx.data, accumulate)
}

// GlobalAvgPoolBackward is DefaultCPU().GlobalAvgPoolBackward.
func GlobalAvgPoolBackward(dx, dy *Tensor, accumulate bool) {
	DefaultCPU().GlobalAvgPoolBackward(dx, dy, accumulate)
}

// UpsampleNearest resizes x [N,H,W,C] to y [N,OH,OW,C] with TensorFlow 1's
// nearest-neighbour rule y[oy,ox] = x[⌊oy·H/OH⌋, ⌊ox·W/OW⌋]; for an integer
// factor this is pixel replication.
func (d CPU) UpsampleNearest(y, x *Tensor) {
	n, h, w, c := nhwc("UpsampleNearest", x)
	oh, ow := checkResize("UpsampleNearest", n, c, y)
	d.Exec().UpsampleNearest(n, h, w, c, oh, ow, x.data, y.data)
}

// UpsampleNearest is DefaultCPU().UpsampleNearest.
func UpsampleNearest(y, x *Tensor) {
	DefaultCPU().UpsampleNearest(y, x)
}

// UpsampleNearestBackward sets dx (= or +=) the gradient of UpsampleNearest:
// each source pixel receives the sum of the gradients of its copies.
func (d CPU) UpsampleNearestBackward(dx, dy *Tensor, accumulate bool) {
	n, h, w, c := nhwc("UpsampleNearestBackward", dx)
	oh, ow := checkResize("UpsampleNearestBackward", n, c, dy)
	d.Exec().UpsampleNearestBackward(n, h, w, c, oh, ow, dy.data, dx.data, accumulate)
}

// UpsampleNearestBackward is DefaultCPU().UpsampleNearestBackward.
func UpsampleNearestBackward(dx, dy *Tensor, accumulate bool) {
	DefaultCPU().UpsampleNearestBackward(dx, dy, accumulate)
}

func nhwc(op string, x *Tensor) (n, h, w, c int) {
	if x.Rank() != 4 {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("input %v, want [N,H,W,C]", x.shape)})
	}
	return x.shape[0], x.shape[1], x.shape[2], x.shape[3]
}

func checkResize(op string, n, c int, y *Tensor) (oh, ow int) {
	if y.Rank() != 4 || y.shape[0] != n || y.shape[3] != c {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("output %v, want [%d,OH,OW,%d]", y.shape, n, c)})
	}
	return y.shape[1], y.shape[2]
}

// DepthToSpace moves blocks of channels into space (TensorFlow's
// depth_to_space): x [N,H,W,b²·F] becomes y [N,b·H,b·W,F] with
// y[n, b·i+a, b·j+c, f] = x[n, i, j, (a·b+c)·F + f] for block size b.
func (d CPU) DepthToSpace(y, x *Tensor, block int) {
	n, h, w, f := checkDepthToSpace("DepthToSpace", x, y, block)
	d.Exec().DepthToSpace(n, h, w, f, block, x.data, y.data)
}

// DepthToSpace is DefaultCPU().DepthToSpace.
func DepthToSpace(y, x *Tensor, block int) { DefaultCPU().DepthToSpace(y, x, block) }

// DepthToSpaceBackward sets dx [N,H,W,b²·F] (= or += when accumulate) to
// the gradient of DepthToSpace for dy [N,b·H,b·W,F]: the inverse
// rearrangement.
func (d CPU) DepthToSpaceBackward(dx, dy *Tensor, block int, accumulate bool) {
	n, h, w, f := checkDepthToSpace("DepthToSpaceBackward", dx, dy, block)
	d.Exec().DepthToSpaceBackward(n, h, w, f, block, dy.data, dx.data, accumulate)
}

// DepthToSpaceBackward is DefaultCPU().DepthToSpaceBackward.
func DepthToSpaceBackward(dx, dy *Tensor, block int, accumulate bool) {
	DefaultCPU().DepthToSpaceBackward(dx, dy, block, accumulate)
}

// checkDepthToSpace checks x [N,H,W,b²·F] against y [N,b·H,b·W,F] and
// returns N, H, W, F.
func checkDepthToSpace(op string, x, y *Tensor, block int) (n, h, w, f int) {
	n, h, w, c := nhwc(op, x)
	if block < 1 || c%(block*block) != 0 {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("input %v: channels are not a multiple of %d² (block %d)", x.shape, block, block)})
	}
	f = c / (block * block)
	mustShape(op, y, n, block*h, block*w, f)
	return n, h, w, f
}
