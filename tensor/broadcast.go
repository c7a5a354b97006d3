package tensor

import "fmt"

// ScaleChannels sets y[n,…,c] = x[n,…,c]·g[n,c] for x [N,…,C] and a
// per-example, per-channel gate g [N,C] (squeeze-and-excitation).
func ScaleChannels(y, x, g *Tensor) {
	MustSameShape("ScaleChannels", y, x)
	n, c, inner := gateDims("ScaleChannels", x, g)
	for i := range n {
		gs := g.data[i*c : (i+1)*c]
		for off := i * inner; off < (i+1)*inner; off += c {
			xr, yr := x.data[off:off+c], y.data[off:off+c]
			for j := range yr {
				yr[j] = xr[j] * gs[j]
			}
		}
	}
}

// ScaleChannelsBackward computes the gradients of ScaleChannels: dx (= or +=)
// dy·g broadcast, and dg (= or +=) Σ over positions of dy·x. Either
// destination may be nil.
func ScaleChannelsBackward(dx, dg, x, g, dy *Tensor, accX, accG bool) {
	n, c, inner := gateDims("ScaleChannelsBackward", x, g)
	MustSameShape("ScaleChannelsBackward", x, dy)
	if dg != nil {
		MustSameShape("ScaleChannelsBackward", g, dg)
		if !accG {
			dg.Zero()
		}
	}
	for i := range n {
		gs := g.data[i*c : (i+1)*c]
		for off := i * inner; off < (i+1)*inner; off += c {
			dyr, xr := dy.data[off:off+c], x.data[off:off+c]
			if dx != nil {
				dxr := dx.data[off : off+c]
				for j := range dxr {
					if accX {
						dxr[j] += dyr[j] * gs[j]
					} else {
						dxr[j] = dyr[j] * gs[j]
					}
				}
			}
			if dg != nil {
				dgs := dg.data[i*c : (i+1)*c]
				for j := range dgs {
					dgs[j] += dyr[j] * xr[j]
				}
			}
		}
	}
}

// gateDims checks x [N,…,C] against g [N,C] and returns N, C and the
// elements per example of x.
func gateDims(op string, x, g *Tensor) (n, c, inner int) {
	if x.Rank() < 2 || g.Rank() != 2 || g.shape[0] != x.shape[0] || g.shape[1] != x.Dim(-1) {
		panic(&ShapeError{Op: op, Msg: fmt.Sprintf("gate %v does not fit input %v (want [N,C])", g.shape, x.shape)})
	}
	n, c = g.shape[0], g.shape[1]
	return n, c, x.Len() / max(n, 1)
}
