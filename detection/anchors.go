package detection

import (
	"fmt"
	"math"

	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/spinenet"
)

// AnchorConfig describes the anchors of every level (spec §7).
type AnchorConfig struct {
	// MinLevel and MaxLevel are the first and last pyramid levels that get
	// anchors, inclusive; level L has stride 2^L input pixels (SpineNet:
	// 3 and 7). NewAnchors needs 1 ≤ MinLevel ≤ MaxLevel.
	MinLevel, MaxLevel int
	// NumScales octave scales per level: 2^(s/NumScales), s = 0..NumScales−1.
	NumScales int
	// AspectRatios are width/height ratios. TF2 uses [0.5, 1, 2]; the TPU code
	// lists [1, 2, 0.5]. The order fixes the output-channel layout.
	AspectRatios []float64
	// AnchorSize multiplies the stride: the base side at level L is
	// AnchorSize·2^L (3 for 49S/49/96, 4 for 143/190).
	AnchorSize float64
}

// AnchorsFor returns the SpineNet RetinaNet anchors for arch, derived
// from its scaling fields, never its name (spec §7): levels
// MinLevel…MaxLevel, 3 octave scales, aspect ratios [0.5, 1, 2] (TF2
// order), and anchor size 4 for models with three or more block repeats
// (143, 143L, 190), 3 otherwise (49S, 49, 96, Mobile).
func AnchorsFor(arch *spinenet.Arch) AnchorConfig {
	size := 3.0
	if arch.BlockRepeats >= 3 {
		size = 4
	}
	return AnchorConfig{MinLevel: arch.MinLevel, MaxLevel: arch.MaxLevel, NumScales: 3, AspectRatios: []float64{0.5, 1, 2}, AnchorSize: size}
}

// PerLocation returns A, the anchors per feature-map position.
func (c AnchorConfig) PerLocation() int { return c.NumScales * len(c.AspectRatios) }

// Anchors are the anchor boxes of every level for one image size, in the
// order the head's outputs are flattened: level by level, then row, column
// and anchor (scale-major, then aspect ratio) — TF2's [H, W, A] order.
type Anchors struct {
	// Config is the configuration the anchors were laid out with.
	Config AnchorConfig
	// Boxes holds every anchor as [x1 y1 x2 y2] in network-input pixels,
	// level by level (see Offsets); anchors at the border may extend past
	// the image.
	Boxes []box.Box
	// Sizes[l−MinLevel] is level l's feature size (rows, cols).
	Sizes [][2]int
	// Offsets[l−MinLevel] is the index in Boxes of level l's first anchor;
	// the level has Sizes[l−MinLevel] rows×cols × PerLocation() anchors.
	Offsets []int
}

// NewAnchors lays anchors over the feature grids of an h×w input: level L
// has ⌈h/2^L⌉×⌈w/2^L⌉ positions with centres at stride/2 + k·stride; an
// anchor of scale s and aspect ratio r has side AnchorSize·2^L·2^(s/S),
// width side·√r and height side/√r (TF2 ops/anchor.py).
func NewAnchors(c AnchorConfig, h, w int) (*Anchors, error) {
	if c.MinLevel < 1 || c.MaxLevel < c.MinLevel || c.NumScales < 1 || len(c.AspectRatios) == 0 || !(c.AnchorSize > 0) {
		return nil, fmt.Errorf("detection: bad anchor config %+v", c)
	}
	a := &Anchors{Config: c}
	for l := c.MinLevel; l <= c.MaxLevel; l++ {
		stride := float64(int(1) << l)
		fh, fw := (h+(1<<l)-1)>>l, (w+(1<<l)-1)>>l
		a.Sizes = append(a.Sizes, [2]int{fh, fw})
		a.Offsets = append(a.Offsets, len(a.Boxes))
		var half [][2]float64 // per anchor: half width, half height
		for s := range c.NumScales {
			side := c.AnchorSize * stride * math.Pow(2, float64(s)/float64(c.NumScales))
			for _, r := range c.AspectRatios {
				half = append(half, [2]float64{side * math.Sqrt(r) / 2, side / math.Sqrt(r) / 2})
			}
		}
		for y := range fh {
			cy := stride/2 + float64(y)*stride
			for x := range fw {
				cx := stride/2 + float64(x)*stride
				for _, hw := range half {
					a.Boxes = append(a.Boxes, box.Box{X1: float32(cx - hw[0]), Y1: float32(cy - hw[1]), X2: float32(cx + hw[0]), Y2: float32(cy + hw[1])})
				}
			}
		}
	}
	return a, nil
}

// Len returns the number of anchors.
func (a *Anchors) Len() int { return len(a.Boxes) }
