package detection

import (
	"math"

	"github.com/spinenet-go/spinenet/detection/box"
)

// BoxCoder encodes boxes relative to anchors as Faster R-CNN deltas, in
// TF2's yx order: (ty, tx, th, tw) = (Δy/h_a, Δx/w_a, log(h/h_a), log(w/w_a))
// with centre offsets Δ, each multiplied by its weight when encoding and
// divided by it when decoding (TF2's scale_factors; TF2 and the TPU code use
// none for SpineNet: weights 1, spec §7).
type BoxCoder struct {
	Weights [4]float32 // for ty, tx, th, tw
	// MaxLogScale clamps th and tw when decoding, so exp cannot overflow:
	// log(1000/16) as in torchvision.
	MaxLogScale float32
}

// DefaultBoxCoder has unit weights.
func DefaultBoxCoder() BoxCoder {
	return BoxCoder{Weights: [4]float32{1, 1, 1, 1}, MaxLogScale: float32(math.Log(1000.0 / 16))}
}

// Encode writes the deltas of b relative to anchor a into d[0:4].
func (c BoxCoder) Encode(d []float32, b, a box.Box) {
	ax, ay := a.Center()
	aw, ah := max(a.W(), 1e-6), max(a.H(), 1e-6)
	bx, by := b.Center()
	bw, bh := max(b.W(), 1e-6), max(b.H(), 1e-6)
	d[0] = (by - ay) / ah * c.Weights[0]
	d[1] = (bx - ax) / aw * c.Weights[1]
	d[2] = float32(math.Log(float64(bh/ah))) * c.Weights[2]
	d[3] = float32(math.Log(float64(bw/aw))) * c.Weights[3]
}

// Decode returns the box that deltas d[0:4] describe relative to anchor a.
func (c BoxCoder) Decode(d []float32, a box.Box) box.Box {
	ax, ay := a.Center()
	aw, ah := a.W(), a.H()
	ty, tx := d[0]/c.Weights[0], d[1]/c.Weights[1]
	th, tw := min(d[2]/c.Weights[2], c.MaxLogScale), min(d[3]/c.Weights[3], c.MaxLogScale)
	cy, cx := ay+ty*ah, ax+tx*aw
	h, w := float32(math.Exp(float64(th)))*ah, float32(math.Exp(float64(tw)))*aw
	return box.Box{X1: cx - w/2, Y1: cy - h/2, X2: cx + w/2, Y2: cy + h/2}
}
