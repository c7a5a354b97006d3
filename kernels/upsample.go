package kernels

// UpsampleNearest resizes x [N, H, W, C] to y [N, OH, OW, C] by nearest
// neighbour with TensorFlow 1's legacy rule (align_corners=false,
// half_pixel_centers=false):
//
//	y[n, oy, ox, c] = x[n, ⌊oy·H/OH⌋, ⌊ox·W/OW⌋, c]
//
// For an integer factor f = OH/H = OW/W this is pixel replication, src = dst/f.
// Downsampling (OH < H) follows the same rule.
func (e *Exec) UpsampleNearest(n, h, w, c, oh, ow int, x, y []float32) {
	upsampleCheck(n, h, w, c, oh, ow, len(x), len(y))
	rows := n * oh
	t := upsampleTasks.Get()
	*t = upsampleTask{h: h, w: w, c: c, oh: oh, ow: ow, x: x, y: y}
	e.Parallel(rows, rows*ow*c, t)
	upsampleTasks.Put(t)
}

// upsampleTask holds the arguments of UpsampleNearest's parallel loop.
type upsampleTask struct {
	h, w, c, oh, ow int
	x, y            []float32
}

var upsampleTasks ArgPool[upsampleTask]

func (t *upsampleTask) RunRange(lo, hi int) {
	h, w, c, oh, ow, x, y := t.h, t.w, t.c, t.oh, t.ow, t.x, t.y
	for r := lo; r < hi; r++ {
		b, oy := r/oh, r%oh
		iy := oy * h / oh
		src := x[(b*h+iy)*w*c : (b*h+iy+1)*w*c]
		dst := y[r*ow*c : (r+1)*ow*c]
		for ox := 0; ox < ow; ox++ {
			ix := ox * w / ow
			copy(dst[ox*c:ox*c+c], src[ix*c:ix*c+c])
		}
	}
}

func upsampleCheck(n, h, w, c, oh, ow, xLen, yLen int) {
	if n < 0 || h < 1 || w < 1 || c < 0 || oh < 1 || ow < 1 {
		panic("kernels: UpsampleNearest bad sizes")
	}
	if xLen < n*h*w*c || yLen < n*oh*ow*c {
		panic("kernels: UpsampleNearest slice too short")
	}
}

// UpsampleNearestBackward is the gradient of UpsampleNearest: every source
// pixel receives the sum of the gradients of the outputs copied from it,
//
//	dx = accumulate ? dx : 0
//	for n, oy, ox, c: dx[n, ⌊oy·H/OH⌋, ⌊ox·W/OW⌋, c] += dy[n, oy, ox, c]
//
// dy is [N, OH, OW, C], dx is [N, H, W, C]. It runs in gather form (source
// pixel iy receives the outputs oy in [⌈iy·OH/H⌉, ⌈(iy+1)·OH/H⌉)), so rows of
// dx are computed in parallel.
func (e *Exec) UpsampleNearestBackward(n, h, w, c, oh, ow int, dy, dx []float32, accumulate bool) {
	upsampleCheck(n, h, w, c, oh, ow, len(dx), len(dy))
	rows := n * h
	t := upsampleBackwardTasks.Get()
	*t = upsampleBackwardTask{h: h, w: w, c: c, oh: oh, ow: ow, dy: dy, dx: dx, accumulate: accumulate}
	e.Parallel(rows, n*oh*ow*c+rows*w*c, t)
	upsampleBackwardTasks.Put(t)
}

// upsampleBackwardTask holds the arguments of UpsampleNearestBackward's parallel loop.
type upsampleBackwardTask struct {
	h, w, c, oh, ow int
	dy, dx          []float32
	accumulate      bool
}

var upsampleBackwardTasks ArgPool[upsampleBackwardTask]

func (t *upsampleBackwardTask) RunRange(lo, hi int) {
	h, w, c, oh, ow, dy, dx, accumulate := t.h, t.w, t.c, t.oh, t.ow, t.dy, t.dx, t.accumulate
	for r := lo; r < hi; r++ {
		b, iy := r/h, r%h
		oy0, oy1 := cvCeilDiv(iy*oh, h), cvCeilDiv((iy+1)*oh, h)
		drow := dx[r*w*c : (r+1)*w*c]
		if !accumulate {
			clear(drow)
		}
		for oy := oy0; oy < oy1; oy++ {
			grow := dy[(b*oh+oy)*ow*c : (b*oh+oy+1)*ow*c]
			for ix := 0; ix < w; ix++ {
				d := drow[ix*c : ix*c+c]
				for ox := cvCeilDiv(ix*ow, w); ox < cvCeilDiv((ix+1)*ow, w); ox++ {
					g := grow[ox*c : ox*c+c]
					g = g[:len(d)]
					for i := range d {
						d[i] += g[i]
					}
				}
			}
		}
	}
}

// UpsampleNearest is Default().UpsampleNearest.
func UpsampleNearest(n, h, w, c, oh, ow int, x, y []float32) {
	Default().UpsampleNearest(n, h, w, c, oh, ow, x, y)
}

// UpsampleNearestBackward is Default().UpsampleNearestBackward.
func UpsampleNearestBackward(n, h, w, c, oh, ow int, dy, dx []float32, accumulate bool) {
	Default().UpsampleNearestBackward(n, h, w, c, oh, ow, dy, dx, accumulate)
}
