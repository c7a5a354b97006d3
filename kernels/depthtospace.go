package kernels

// DepthToSpace moves blocks of channels into space (TensorFlow's
// depth_to_space, DCR order): x [N, H, W, b²·F] becomes y [N, b·H, b·W, F]
// with
//
//	y[n, b·i + a, b·j + c, f] = x[n, i, j, (a·b + c)·F + f]
//
// for block size b. With b = 2 it turns a 1×1 convolution to 4·F channels
// into a 2×2 stride-2 transposed convolution. Input rows are rearranged in
// parallel.
func (e *Exec) DepthToSpace(n, h, w, f, block int, x, y []float32) {
	d2sCheck(n, h, w, f, block, len(x), len(y))
	t := d2sTasks.Get()
	*t = d2sTask{h: h, w: w, f: f, b: block, x: x, y: y}
	e.Parallel(n*h, n*h*w*block*block*f, t)
	d2sTasks.Put(t)
}

// DepthToSpaceBackward sets dx [N, H, W, b²·F] (= or += when accumulate)
// to the gradient of DepthToSpace, the inverse rearrangement of
// dy [N, b·H, b·W, F] (space to depth).
func (e *Exec) DepthToSpaceBackward(n, h, w, f, block int, dy, dx []float32, accumulate bool) {
	d2sCheck(n, h, w, f, block, len(dx), len(dy))
	t := d2sTasks.Get()
	*t = d2sTask{h: h, w: w, f: f, b: block, x: dx, y: dy, backward: true, accumulate: accumulate}
	e.Parallel(n*h, n*h*w*block*block*f, t)
	d2sTasks.Put(t)
}

func d2sCheck(n, h, w, f, block, xLen, yLen int) {
	if n < 0 || h < 0 || w < 0 || f < 0 || block < 1 {
		panic("kernels: DepthToSpace bad sizes")
	}
	if m := n * h * w * block * block * f; xLen < m || yLen < m {
		panic("kernels: DepthToSpace slice too short")
	}
}

// d2sTask holds the arguments of DepthToSpace's parallel loop over input
// rows (n, i); backward runs it in reverse.
type d2sTask struct {
	h, w, f, b           int
	x, y                 []float32
	backward, accumulate bool
}

var d2sTasks ArgPool[d2sTask]

func (t *d2sTask) RunRange(lo, hi int) {
	w, f, b := t.w, t.f, t.b
	depth := b * b * f
	ow := b * w
	for r := lo; r < hi; r++ {
		xrow := t.x[r*w*depth : (r+1)*w*depth]
		// Output rows b·r … b·r + b − 1 (image n's rows b·i + a).
		for a := range b {
			yrow := t.y[(r*b+a)*ow*f : (r*b+a+1)*ow*f]
			for j := range w {
				for c := range b {
					xs := xrow[j*depth+(a*b+c)*f : j*depth+(a*b+c+1)*f]
					ys := yrow[(j*b+c)*f : (j*b+c+1)*f]
					switch {
					case !t.backward:
						copy(ys, xs)
					case t.accumulate:
						ys = ys[:len(xs)]
						for k := range xs {
							xs[k] += ys[k]
						}
					default:
						copy(xs, ys)
					}
				}
			}
		}
	}
}

// DepthToSpace is Default().DepthToSpace.
func DepthToSpace(n, h, w, f, block int, x, y []float32) {
	Default().DepthToSpace(n, h, w, f, block, x, y)
}

// DepthToSpaceBackward is Default().DepthToSpaceBackward.
func DepthToSpaceBackward(n, h, w, f, block int, dy, dx []float32, accumulate bool) {
	Default().DepthToSpaceBackward(n, h, w, f, block, dy, dx, accumulate)
}
