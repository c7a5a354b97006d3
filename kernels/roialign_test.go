package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/detection/box"
)

// roiContrib is one bilinear neighbour of a reference sample: the pixel
// (y, x) of the region's level and image, and its weight in the bin.
type roiContrib struct {
	y, x int
	w    float64
}

// roiRefTF is the TF/TPU selective_crop_and_resize for one bin, written as
// the TPU code writes it: y0 = max(0, ⌊y⌋) gives the weights, the indices
// are min(y0, B) and min(y0 + 1, B) with B = size − 1.
func roiRefTF(b box.Box, stride float64, h, w, sh, sw, i, j int) []roiContrib {
	bh, bw := (float64(b.Y2)-float64(b.Y1))/stride, (float64(b.X2)-float64(b.X1))/stride
	y := float64(b.Y1)/stride + (float64(i)+0.5)*bh/float64(sh)
	x := float64(b.X1)/stride + (float64(j)+0.5)*bw/float64(sw)
	y0, x0 := math.Max(0, math.Floor(y)), math.Max(0, math.Floor(x))
	ly, lx := y-y0, x-x0
	by, bx := float64(h-1), float64(w-1)
	iy := [2]int{int(math.Min(y0, by)), int(math.Min(y0+1, by))}
	ix := [2]int{int(math.Min(x0, bx)), int(math.Min(x0+1, bx))}
	ky := [2]float64{1 - ly, ly}
	kx := [2]float64{1 - lx, lx}
	var out []roiContrib
	for a := range 2 {
		for c := range 2 {
			out = append(out, roiContrib{iy[a], ix[c], ky[a] * kx[c]})
		}
	}
	return out
}

// roiRefTorchvision is torchvision's roi_align_forward_kernel_impl and
// bilinear_interpolate (roi_align_common.h) for one bin, aligned=False.
func roiRefTorchvision(b box.Box, stride float64, height, width, s, ratio, ph, pw int) []roiContrib {
	scale := 1 / stride
	startW, startH := float64(b.X1)*scale, float64(b.Y1)*scale
	endW, endH := float64(b.X2)*scale, float64(b.Y2)*scale
	roiW, roiH := math.Max(endW-startW, 1), math.Max(endH-startH, 1)
	binH, binW := roiH/float64(s), roiW/float64(s)
	count := float64(ratio * ratio)
	var out []roiContrib
	for iy := range ratio {
		y := startH + float64(ph)*binH + (float64(iy)+0.5)*binH/float64(ratio)
		for ix := range ratio {
			x := startW + float64(pw)*binW + (float64(ix)+0.5)*binW/float64(ratio)
			if y < -1 || y > float64(height) || x < -1 || x > float64(width) {
				continue
			}
			yy, xx := y, x
			if yy <= 0 {
				yy = 0
			}
			if xx <= 0 {
				xx = 0
			}
			yLow, xLow := int(yy), int(xx)
			var yHigh, xHigh int
			if yLow >= height-1 {
				yHigh, yLow = height-1, height-1
				yy = float64(yLow)
			} else {
				yHigh = yLow + 1
			}
			if xLow >= width-1 {
				xHigh, xLow = width-1, width-1
				xx = float64(xLow)
			} else {
				xHigh = xLow + 1
			}
			ly, lx := yy-float64(yLow), xx-float64(xLow)
			hy, hx := 1-ly, 1-lx
			out = append(out,
				roiContrib{yLow, xLow, hy * hx / count}, roiContrib{yLow, xHigh, hy * lx / count},
				roiContrib{yHigh, xLow, ly * hx / count}, roiContrib{yHigh, xHigh, ly * lx / count})
		}
	}
	return out
}

// roiCase is a RoIAlign problem: two ragged levels (13×9 at stride 8,
// 7×5 at stride 16), a batch of two, and regions inside, partly outside,
// tiny, degenerate and past the map.
func roiCase(r *rand.Rand, c int) ([]RoILevel, []RoI) {
	levels := []RoILevel{{H: 13, W: 9, Stride: 8}, {H: 7, W: 5, Stride: 16}}
	for i := range levels {
		levels[i].Data = cvRandSlice(r, 2*levels[i].H*levels[i].W*c)
	}
	rois := []RoI{
		{0, 0, box.Box{X1: 3, Y1: 5, X2: 60, Y2: 90}},      // inside
		{1, 1, box.Box{X1: -30, Y1: -20, X2: 50, Y2: 70}},  // partly outside, top-left
		{1, 0, box.Box{X1: 40, Y1: 80, X2: 95, Y2: 130}},   // partly outside, bottom-right
		{0, 1, box.Box{X1: 20, Y1: 30, X2: 23, Y2: 31.5}},  // tiny (< 1 level pixel)
		{0, 0, box.Box{X1: 10, Y1: 10, X2: 10, Y2: 10}},    // zero area
		{1, 1, box.Box{X1: 90, Y1: 120, X2: 130, Y2: 150}}, // past the map
		{0, 1, box.Box{X1: 0, Y1: 0, X2: 80, Y2: 112}},     // the whole map
		// With one sample per bin, bin 0's sample lands exactly on y = H, x = W.
		{1, 0, box.Box{X1: 64, Y1: 96, X2: 176, Y2: 208}},
	}
	for range 6 { // random regions, some reaching outside
		x1, y1 := r.Float32()*90-10, r.Float32()*120-10
		rois = append(rois, RoI{Batch: r.IntN(2), Level: r.IntN(2),
			Box: box.Box{X1: x1, Y1: y1, X2: x1 + r.Float32()*60, Y2: y1 + r.Float32()*60}})
	}
	return levels, rois
}

func TestRoIAlignMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name string
		p    RoIAlignParams
	}{
		{"tf7", RoIAlignParams{OH: 7, OW: 7, Mode: RoIAlignTF}},
		{"tf14", RoIAlignParams{OH: 14, OW: 14, Mode: RoIAlignTF}},
		{"tf3x5", RoIAlignParams{OH: 3, OW: 5, Mode: RoIAlignTF}},
		{"torchvision7", RoIAlignParams{OH: 7, OW: 7, Mode: RoIAlignTorchvision}},
		{"torchvision14-ratio3", RoIAlignParams{OH: 14, OW: 14, Mode: RoIAlignTorchvision, SamplingRatio: 3}},
		{"torchvision7-ratio1", RoIAlignParams{OH: 7, OW: 7, Mode: RoIAlignTorchvision, SamplingRatio: 1}},
	} {
		for _, c := range []int{3, 37} {
			p := tc.p
			p.N, p.C = 2, c
			levels, rois := roiCase(r, c)
			contribs := func(roi RoI, i, j int) []roiContrib {
				lv := levels[roi.Level]
				if p.Mode == RoIAlignTF {
					return roiRefTF(roi.Box, lv.Stride, lv.H, lv.W, p.OH, p.OW, i, j)
				}
				ratio := p.SamplingRatio
				if ratio == 0 {
					ratio = 2
				}
				return roiRefTorchvision(roi.Box, lv.Stride, lv.H, lv.W, p.OH, ratio, i, j)
			}
			if p.Mode == RoIAlignTorchvision && p.OH != p.OW {
				t.Fatal("torchvision reference takes square outputs")
			}
			want := make([]float64, len(rois)*p.OH*p.OW*c)
			mag := make([]float64, len(want))
			grads := make([][]float64, len(levels))
			gmag := make([][]float64, len(levels))
			for l := range levels {
				grads[l] = make([]float64, len(levels[l].Data))
				gmag[l] = make([]float64, len(levels[l].Data))
			}
			dy := cvRandSlice(r, len(want))
			for ri, roi := range rois {
				lv := levels[roi.Level]
				for i := range p.OH {
					for j := range p.OW {
						for _, ct := range contribs(roi, i, j) {
							px := ((roi.Batch*lv.H+ct.y)*lv.W + ct.x) * c
							for k := range c {
								o := ((ri*p.OH+i)*p.OW+j)*c + k
								want[o] += ct.w * float64(lv.Data[px+k])
								mag[o] += math.Abs(ct.w * float64(lv.Data[px+k]))
								grads[roi.Level][px+k] += ct.w * float64(dy[o])
								gmag[roi.Level][px+k] += math.Abs(ct.w * float64(dy[o]))
							}
						}
					}
				}
			}
			y, check := cvGuarded(t, len(want), cvNaNFill)
			RoIAlign(p, levels, rois, y)
			check()
			cvCompare(t, tc.name+" forward", y, want, mag)

			// Backward adds to the levels' gradients.
			dl := make([]RoILevel, len(levels))
			init := make([][]float32, len(levels))
			checks := make([]func(), len(levels))
			for l, lv := range levels {
				init[l] = cvRandSlice(r, len(lv.Data))
				g, chk := cvGuarded(t, len(lv.Data), func(i int) float32 { return init[l][i] })
				dl[l] = RoILevel{H: lv.H, W: lv.W, Stride: lv.Stride, Data: g}
				checks[l] = chk
			}
			RoIAlignBackward(p, dl, rois, dy)
			for l := range levels {
				checks[l]()
				wantG := make([]float64, len(grads[l]))
				for i := range wantG {
					wantG[i] = float64(init[l][i]) + grads[l][i]
					gmag[l][i] += math.Abs(float64(init[l][i]))
				}
				cvCompare(t, tc.name+" backward", dl[l].Data, wantG, gmag[l])
			}

			// A level without a gradient is skipped; the other still gets its share.
			g1 := make([]float32, len(levels[1].Data))
			RoIAlignBackward(p, []RoILevel{{H: 13, W: 9, Stride: 8}, {H: 7, W: 5, Stride: 16, Data: g1}}, rois, dy)
			for i, v := range g1 {
				if d := float64(v) - grads[1][i]; math.Abs(d) > 1e-4*(1+gmag[1][i]) {
					t.Fatalf("%s: backward with level 0 skipped: level 1 element %d is %v, want %v", tc.name, i, v, grads[1][i])
				}
			}
		}
	}
}

// The result does not depend on the thread count, forward or backward.
func TestRoIAlignThreadIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	c := 70
	levels, rois := roiCase(r, c)
	for range 200 {
		x1, y1 := r.Float32()*80, r.Float32()*100
		rois = append(rois, RoI{Batch: r.IntN(2), Level: r.IntN(2), Box: box.Box{X1: x1, Y1: y1, X2: x1 + 30, Y2: y1 + 40}})
	}
	for _, mode := range []RoIAlignMode{RoIAlignTF, RoIAlignTorchvision} {
		p := RoIAlignParams{N: 2, C: c, OH: 7, OW: 7, Mode: mode}
		var ys [2][]float32
		var gs [2][]RoILevel
		for k, threads := range []int{1, 4} {
			e := NewExec(threads)
			ys[k] = make([]float32, len(rois)*49*c)
			e.RoIAlign(p, levels, rois, ys[k])
			gs[k] = []RoILevel{{H: 13, W: 9, Stride: 8, Data: make([]float32, len(levels[0].Data))},
				{H: 7, W: 5, Stride: 16, Data: make([]float32, len(levels[1].Data))}}
			e.RoIAlignBackward(p, gs[k], rois, ys[0])
			e.Close()
		}
		for i := range ys[0] {
			if math.Float32bits(ys[0][i]) != math.Float32bits(ys[1][i]) {
				t.Fatalf("mode %d: forward element %d differs between 1 and 4 threads", mode, i)
			}
		}
		for l := range gs[0] {
			for i := range gs[0][l].Data {
				if math.Float32bits(gs[0][l].Data[i]) != math.Float32bits(gs[1][l].Data[i]) {
					t.Fatalf("mode %d: level %d gradient element %d differs between 1 and 4 threads", mode, l, i)
				}
			}
		}
	}
}

func TestRoIAlignPanics(t *testing.T) {
	levels := []RoILevel{{H: 4, W: 4, Stride: 8, Data: make([]float32, 4*4*2)}}
	ok := RoIAlignParams{N: 1, C: 2, OH: 2, OW: 2}
	for name, f := range map[string]func(){
		"level":     func() { RoIAlign(ok, levels, []RoI{{Level: 1}}, make([]float32, 8)) },
		"batch":     func() { RoIAlign(ok, levels, []RoI{{Batch: 1}}, make([]float32, 8)) },
		"short out": func() { RoIAlign(ok, levels, []RoI{{}}, make([]float32, 7)) },
		"short map": func() { RoIAlign(RoIAlignParams{N: 2, C: 2, OH: 2, OW: 2}, levels, nil, nil) },
		"ratio": func() {
			RoIAlign(RoIAlignParams{N: 1, C: 2, OH: 2, OW: 2, Mode: RoIAlignTorchvision, SamplingRatio: 9}, levels, nil, nil)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestDepthToSpace(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, s := range [][5]int{{2, 3, 4, 5, 2}, {1, 1, 1, 1, 2}, {3, 5, 2, 7, 3}, {1, 4, 4, 3, 1}} {
		n, h, w, f, b := s[0], s[1], s[2], s[3], s[4]
		x := cvRandSlice(r, n*h*w*b*b*f)
		y, check := cvGuarded(t, len(x), cvNaNFill)
		DepthToSpace(n, h, w, f, b, x, y)
		check()
		for in := range n {
			for i := range h {
				for j := range w {
					for a := range b {
						for c := range b {
							for k := range f {
								got := y[((in*b*h+b*i+a)*b*w+b*j+c)*f+k]
								want := x[((in*h+i)*w+j)*b*b*f+(a*b+c)*f+k]
								if got != want {
									t.Fatalf("%v: y[%d,%d,%d,%d] = %v, want %v", s, in, b*i+a, b*j+c, k, got, want)
								}
							}
						}
					}
				}
			}
		}
		// Backward is the inverse permutation: = gives x back, += adds it.
		dx, check := cvGuarded(t, len(x), cvNaNFill)
		DepthToSpaceBackward(n, h, w, f, b, y, dx, false)
		check()
		for i := range x {
			if dx[i] != x[i] {
				t.Fatalf("%v: backward element %d = %v, want %v", s, i, dx[i], x[i])
			}
		}
		DepthToSpaceBackward(n, h, w, f, b, y, dx, true)
		for i := range x {
			if dx[i] != 2*x[i] {
				t.Fatalf("%v: accumulated backward element %d = %v, want %v", s, i, dx[i], 2*x[i])
			}
		}
	}
}
