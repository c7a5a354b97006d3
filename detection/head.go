// Package detection is RetinaNet on a SpineNet backbone (spec §7): the
// shared class and box heads, anchors, matching, box coding, losses,
// post-processing and detector weights files.
package detection

import (
	"fmt"
	"math"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// HeadConfig configures the RetinaNet head.
type HeadConfig struct {
	// NumClasses is K, the sigmoid outputs per anchor. The TF/TPU COCO
	// configs use 91 (index 0 background, sparse COCO ids up to 90); the
	// mmdetection ports use 80.
	NumClasses int
	// NumAnchors is A per location: 3 scales × 3 aspect ratios = 9.
	NumAnchors int
	// Convs and Filters size each tower: 4×128 for 49S, 4×256 for 49/96/143,
	// 7×512 for 190 (spec §7).
	Convs, Filters int
	// Activation follows the backbone's.
	Activation tensor.Activation
	// PriorProb sets the class predictor bias −log((1−p)/p); 0.01.
	PriorProb float64
	// Separable uses depthwise 3×3 + pointwise 1×1 convolutions everywhere
	// (the SpineNet-Mobile head, spec §8).
	Separable bool
}

// HeadFor returns the RetinaNet head SpineNet pairs with arch, derived
// from its scaling fields and family — never from its name — so a built-in
// id, an architecture file and a searched candidate get heads by the same
// rule (spec §7, §8):
//
//   - Filters: the endpoint width (EndpointsNumFilters): 128 for 49S, 256
//     for 49/96/143/143L, 512 for 190, 24/40/48 for Mobile 49XS/49S/49;
//   - Convs: 4 per tower, or 7 when the endpoints are 512 wide or wider
//     (190's 7×512 head);
//   - Separable (depthwise + pointwise) for the Mobile family;
//   - prior probability 0.01 and 9 anchors per location.
//
// The registry (package models) lists these values per built-in variant
// and its tests check that this rule reproduces every row.
func HeadFor(arch *spinenet.Arch, numClasses int, act tensor.Activation) HeadConfig {
	c := HeadConfig{NumClasses: numClasses, NumAnchors: 9, Convs: 4, Filters: arch.EndpointsNumFilters,
		Activation: act, PriorProb: 0.01, Separable: arch.Family == spinenet.FamilyMobile}
	if arch.EndpointsNumFilters >= 512 {
		c.Convs = 7
	}
	return c
}

// Head holds the graph outputs of a built head, per level.
type Head struct {
	// Levels are the pyramid levels the head was built on, in output order
	// (MinLevel…MaxLevel for NewRetinaNet).
	Levels []int
	// Class and Box map a level to its output nodes: class logits
	// [N,H,W,A·K] and box deltas [N,H,W,A·4].
	Class, Box map[int]int
}

// BuildHead adds the RetinaNet head (spec §7) to the graph of s on the
// feature nodes of each level: separate class and box towers of Convs 3×3
// convolutions with bias, whose weights are shared across levels while each
// level has its own batch norm, followed by a 3×3 predictor with bias.
// Outputs are marked "class/P<l>" and "box/P<l>".
func BuildHead(s *nn.Scope, features map[int]int, levels []int, c HeadConfig) (*Head, error) {
	if c.NumClasses < 1 || c.NumAnchors < 1 || c.Convs < 0 || c.Filters < 1 || !(c.PriorProb > 0 && c.PriorProb < 1) {
		return nil, fmt.Errorf("detection: bad head config %+v", c)
	}
	h := &Head{Levels: levels, Class: map[int]int{}, Box: map[int]int{}}
	prior := nn.Constant(float32(-math.Log((1 - c.PriorProb) / c.PriorProb)))
	for _, tower := range []struct {
		name     string
		out      int
		biasInit nn.Init
		dst      map[int]int
	}{
		{"class", c.NumClasses * c.NumAnchors, prior, h.Class},
		{"box", 4 * c.NumAnchors, nn.Constant(0), h.Box},
	} {
		ts := s.Sub(tower.name).WithGroup("head/" + tower.name)
		// Shared convolutions: build the first level's nodes, then reuse
		// their parameters on the other levels.
		var shared []*nn.Node
		var pred *nn.Node
		for li, l := range levels {
			x, ok := features[l]
			if !ok {
				return nil, fmt.Errorf("detection: no feature for level %d", l)
			}
			for i := range c.Convs {
				cs := ts.Sub(fmt.Sprintf("conv%d", i))
				x = conv3x3(cs, x, c.Filters, c.Separable, nn.Normal{Std: 0.01}, nn.Constant(0), sharedAt(shared, i, li))
				if li == 0 {
					shared = append(shared, ts.N(x))
				}
				x = cs.Act(cs.BatchNorm(x, fmt.Sprintf("bn_P%d", l)), c.Activation)
			}
			var reuse *nn.Node
			if li > 0 {
				reuse = pred
			}
			x = conv3x3(ts.Sub("predict"), x, tower.out, c.Separable, nn.Normal{Std: 1e-5}, tower.biasInit, reuse)
			if li == 0 {
				pred = ts.N(x)
			}
			tower.dst[l] = x
			s.Graph().MarkOutput(x, fmt.Sprintf("%s/P%d", tower.name, l))
		}
	}
	return h, nil
}

func sharedAt(shared []*nn.Node, i, level int) *nn.Node {
	if level == 0 {
		return nil
	}
	return shared[i]
}

// conv3x3 adds a 3×3 stride-1 convolution with bias (or, when separable, a
// depthwise 3×3 followed by a pointwise 1×1 with bias). With reuse set, the
// new nodes take reuse's parameters instead of creating their own.
func conv3x3(s *nn.Scope, x, out int, separable bool, init, biasInit nn.Init, reuse *nn.Node) int {
	if !separable {
		spec := nn.ConvSpec{K: 3, Out: out, Stride: 1, Pad: tensor.PadSame, Bias: true, Init: init, BiasInit: biasInit}
		if reuse != nil {
			return s.SharedConv(x, reuse)
		}
		return s.Conv(x, "conv", spec)
	}
	if reuse != nil {
		dw := s.Graph().Nodes[reuse.Inputs[0]]
		return s.SharedConv(s.SharedConv(x, dw), reuse)
	}
	h := s.Conv(x, "depthwise", nn.ConvSpec{K: 3, Stride: 1, Pad: tensor.PadSame, Depthwise: true, Init: init})
	return s.Conv(h, "pointwise", nn.ConvSpec{K: 1, Out: out, Stride: 1, Bias: true, Init: init, BiasInit: biasInit})
}
