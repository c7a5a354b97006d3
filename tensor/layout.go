package tensor

// NCHWToNHWC returns a copy of the 4-D tensor x [N,C,H,W] as [N,H,W,C]
// (PyTorch's layout to this module's).
func NCHWToNHWC(x *Tensor) *Tensor {
	n, c, h, w := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	out := New(n, h, w, c)
	for b := range n {
		for ch := range c {
			src := x.data[(b*c+ch)*h*w : (b*c+ch+1)*h*w]
			for i, v := range src {
				out.data[(b*h*w+i)*c+ch] = v
			}
		}
	}
	return out
}

// NHWCToNCHW returns a copy of the 4-D tensor x [N,H,W,C] as [N,C,H,W].
func NHWCToNCHW(x *Tensor) *Tensor {
	n, h, w, c := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	out := New(n, c, h, w)
	for b := range n {
		for ch := range c {
			dst := out.data[(b*c+ch)*h*w : (b*c+ch+1)*h*w]
			for i := range dst {
				dst[i] = x.data[(b*h*w+i)*c+ch]
			}
		}
	}
	return out
}

// NHWCShapeAsNCHW reorders an [N,H,W,C] shape as [N,C,H,W].
func NHWCShapeAsNCHW(s []int) []int { return []int{s[0], s[3], s[1], s[2]} }
