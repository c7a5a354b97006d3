// Package maskrcnn is Mask R-CNN on a SpineNet backbone (paper Table 6;
// ../shared/spec/maskrcnn.md): a region proposal network on the endpoints
// P3…P7 (no FPN), RoIAlign, a box head and a mask head.
//
// The model is one nn.Graph with three inputs, run in phases (nn.Graph.Eval):
// the image feeds the backbone and the RPN; the proposals computed from the
// RPN's outputs select RoI features (RoIAlign, outside the graph) that feed
// the box head through the input "box_rois" [R,7,7,C]; the detections (or,
// in training, the sampled foreground RoIs) feed the mask head through
// "mask_rois" [R,14,14,C]. One graph means one state dict, one set of
// batch-norm statistics and one checkpoint, as for RetinaNet.
//
// Where the TPU code (tensorflow/tpu detection, which published the SpineNet
// Mask R-CNN numbers) and the TF2 Model Garden differ, the defaults are the
// TPU code's: 3 anchors per location (1 scale × ratios 1, 2, 0.5), RPN and
// predictor initialisation N(0, 0.01), glorot-uniform fc6. The flattening
// fully connected layer fc6 is a 7×7 'valid' convolution over the 7×7 RoI
// features — the same weights in the same (h, w, c) order, the same
// multiply-adds — so the head needs no flatten op.
package maskrcnn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/detection"

	"github.com/spinenet-go/spinenet/tensor"
)

// Config sizes the heads (spec maskrcnn.md §1.1, §2, §7).
type Config struct {
	// NumClasses counts the classes with background at index 0 (COCO: 91,
	// category ids used as indices).
	NumClasses int
	// NumAnchors is the anchors per location of every level (3: one scale
	// × three aspect ratios).
	NumAnchors int
	// RPNConvs and RPNFilters size the RPN tower: 3×3 convolutions with
	// bias shared by the levels, each followed by a batch norm per level.
	RPNConvs, RPNFilters int
	// BoxConvs × BoxFilters are the box head's 3×3 convolutions; BoxFCs ×
	// BoxFCDim its fully connected layers (the first over the flattened
	// 7×7 RoI), each followed by batch norm and the activation.
	BoxConvs, BoxFilters, BoxFCs, BoxFCDim int
	// MaskConvs × MaskFilters are the mask head's 3×3 convolutions before
	// the 2×2 stride-2 transposed convolution to 28×28.
	MaskConvs, MaskFilters int
	// Activation follows every batch norm of the heads (the backbone's:
	// ReLU in the official 49S…143 configs, swish for 190).
	Activation tensor.Activation `json:"-"`
	// AnchorSize multiplies the level stride to give the RPN anchors' side
	// (3; 5 for 190).
	AnchorSize float64
}

// Fixed sizes of the RoI features and masks (spec §6, §7).
const (
	BoxRoISize  = 7  // RoIAlign output of the box head
	MaskRoISize = 14 // RoIAlign output of the mask head
	MaskSize    = 28 // predicted mask side: 14 × the 2× upsampling
)

// Validate checks the sizes.
func (c Config) Validate() error {
	if c.NumClasses < 2 || c.NumAnchors != len(AspectRatios) || !(c.AnchorSize > 0) || c.RPNConvs < 0 || c.RPNFilters < 1 || c.BoxConvs < 0 || c.BoxFilters < 1 ||
		c.BoxFCs < 1 || c.BoxFCDim < 1 || c.MaskConvs < 0 || c.MaskFilters < 1 {
		return fmt.Errorf("maskrcnn: bad head config %+v (want ≥ 2 classes with background, %d anchors of a positive size, filters ≥ 1, ≥ 1 FC)", c, len(AspectRatios))
	}
	return nil
}

// glorotUniform is tf.layers.dense's default initialiser for fc6 (TPU),
// U(±sqrt(6/(fanIn+fanOut))); the limit is fixed when the layer is built.
type glorotUniform struct{ limit float64 }

// Fill draws every value uniformly in ±limit.
func (g glorotUniform) Fill(t *tensor.Tensor, _ int, rng *rand.Rand) {
	for i := range t.Data() {
		t.Data()[i] = float32((2*rng.Float64() - 1) * g.limit)
	}
}

// fanOutNormal is VarianceScaling(scale, fan_out, untruncated normal), the
// heads' convolution initialiser: N(0, scale / (k·k·out)).
func fanOutNormal(scale float64, k, out int) float64 { return math.Sqrt(scale / float64(k*k*out)) }

// AspectRatios are the RPN anchors' width/height ratios in the TPU code's
// order (which fixes the RPN outputs' channel layout), one octave scale
// each: 3 anchors per location (spec maskrcnn.md §1.1).
var AspectRatios = []float64{1, 2, 0.5}

// Anchors returns the RPN anchor configuration for the endpoint levels
// minLevel…maxLevel with the given anchor size (side anchorSize·2^L).
func Anchors(minLevel, maxLevel int, anchorSize float64) detection.AnchorConfig {
	return detection.AnchorConfig{MinLevel: minLevel, MaxLevel: maxLevel, NumScales: 1, AspectRatios: append([]float64(nil), AspectRatios...), AnchorSize: anchorSize}
}
