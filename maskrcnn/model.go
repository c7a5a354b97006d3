package maskrcnn

import (
	"fmt"
	"math"

	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// Model is a SpineNet backbone with the Mask R-CNN heads in one graph.
type Model struct {
	// Backbone is the SpineNet backbone; its Graph also holds the heads.
	Backbone *spinenet.Backbone
	// Config is the head configuration the model was built with.
	Config Config
	// Levels are the pyramid levels of the RPN and of the RoI features
	// (MinLevel…MaxLevel of the Arch).
	Levels []int
	// Image, BoxRoIs and MaskRoIs are the graph's input nodes.
	Image, BoxRoIs, MaskRoIs int
	// RPNClass and RPNBox map a level to the RPN's objectness logits
	// [N,H,W,A] and box deltas [N,H,W,4A].
	RPNClass, RPNBox map[int]int
	// BoxClass [R,1,1,K] and BoxDeltas [R,1,1,4K] are the box head's
	// outputs; MaskLogits [R,28,28,K] the mask head's.
	BoxClass, BoxDeltas, MaskLogits int

	anchors map[[2]int]*detection.Anchors // RPN anchors per input size
}

// Graph returns the model's graph.
func (m *Model) Graph() *nn.Graph { return m.Backbone.Graph }

// New builds the backbone for arch with opt and the Mask R-CNN heads of c
// on its endpoints.
func New(arch *spinenet.Arch, opt spinenet.Options, c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	bb, err := spinenet.Build(arch, opt)
	if err != nil {
		return nil, err
	}
	m := &Model{Backbone: bb, Config: c, Image: bb.Graph.Inputs[0], RPNClass: map[int]int{}, RPNBox: map[int]int{}}
	for l := arch.MinLevel; l <= arch.MaxLevel; l++ {
		m.Levels = append(m.Levels, l)
	}
	root := nn.NewScope(bb.Graph, opt.Seed+3)
	root.BN = opt.BN
	root.SkipInit, root.ShapeOnly = opt.SkipInit, opt.ShapeOnly
	m.buildRPN(root.Sub("rpn").WithGroup(GroupRPN), bb.Endpoints, arch.EndpointsNumFilters)
	m.buildBoxHead(root.Sub("box_head").WithGroup(GroupBoxHead), arch.EndpointsNumFilters)
	m.buildMaskHead(root.Sub("mask_head").WithGroup(GroupMaskHead), arch.EndpointsNumFilters)
	return m, nil
}

// buildRPN adds the RPN (spec §2): RPNConvs 3×3 convolutions with bias
// whose weights all levels share, each with its own batch norm per level
// and the activation, then 1×1 objectness and box predictors shared by the
// levels. Outputs "rpn_class/P<l>" and "rpn_box/P<l>".
func (m *Model) buildRPN(s *nn.Scope, features map[int]int, channels int) {
	c := m.Config
	var tower []*nn.Node
	var cls, box *nn.Node
	for li, l := range m.Levels {
		x := features[l]
		for i := range c.RPNConvs {
			cs := s.Sub(fmt.Sprintf("conv%d", i))
			if li == 0 {
				x = cs.Conv(x, "conv", nn.ConvSpec{K: 3, Out: c.RPNFilters, Stride: 1, Pad: tensor.PadSame, Bias: true, Init: nn.Normal{Std: 0.01}})
				tower = append(tower, s.N(x))
			} else {
				x = cs.SharedConv(x, tower[i])
			}
			x = cs.Act(cs.BatchNorm(x, fmt.Sprintf("bn_P%d", l)), c.Activation)
		}
		var o, b int
		if li == 0 {
			o = s.Conv(x, "class", nn.ConvSpec{K: 1, Out: c.NumAnchors, Stride: 1, Bias: true, Init: nn.Normal{Std: 0.01}})
			b = s.Conv(x, "box", nn.ConvSpec{K: 1, Out: 4 * c.NumAnchors, Stride: 1, Bias: true, Init: nn.Normal{Std: 0.01}})
			cls, box = s.N(o), s.N(b)
		} else {
			o, b = s.SharedConv(x, cls), s.SharedConv(x, box)
		}
		m.RPNClass[l], m.RPNBox[l] = o, b
		s.Graph().MarkOutput(o, fmt.Sprintf("rpn_class/P%d", l))
		s.Graph().MarkOutput(b, fmt.Sprintf("rpn_box/P%d", l))
	}
}

// buildBoxHead adds the box head (spec §7.1) on the input "box_rois"
// [R,7,7,channels]: BoxConvs 3×3 convolutions with bias, batch norm and the
// activation; fc6 (a 7×7 'valid' convolution, i.e. flatten + dense) and
// further FCs, each with batch norm and the activation; then the class
// logits (K) and the class-specific box deltas (4K). Outputs "box_class"
// and "box_deltas", [R,1,1,·].
func (m *Model) buildBoxHead(s *nn.Scope, channels int) {
	c := m.Config
	m.BoxRoIs = s.InputSized("box_rois", channels, BoxRoISize, BoxRoISize)
	x := m.BoxRoIs
	x = convTower(s, x, c.BoxConvs, c.BoxFilters, c.Activation)
	in := s.N(x).Channels
	for i := range c.BoxFCs {
		fs := s.Sub(fmt.Sprintf("fc%d", 6+i))
		spec := nn.ConvSpec{K: 1, Out: c.BoxFCDim, Stride: 1, Bias: true,
			Init: glorotUniform{limitFor(in, c.BoxFCDim)}}
		if i == 0 {
			spec.K = BoxRoISize // flatten + dense as one 7×7 'valid' convolution
			spec.Init = glorotUniform{limitFor(BoxRoISize*BoxRoISize*in, c.BoxFCDim)}
		}
		x = fs.Act(fs.BatchNorm(fs.Conv(x, "dense", spec), "bn"), c.Activation)
		in = c.BoxFCDim
	}
	m.BoxClass = s.Conv(x, "class", nn.ConvSpec{K: 1, Out: c.NumClasses, Stride: 1, Bias: true, Init: nn.Normal{Std: 0.01}})
	m.BoxDeltas = s.Conv(x, "box", nn.ConvSpec{K: 1, Out: 4 * c.NumClasses, Stride: 1, Bias: true, Init: nn.Normal{Std: 0.001}})
	s.Graph().MarkOutput(m.BoxClass, "box_class")
	s.Graph().MarkOutput(m.BoxDeltas, "box_deltas")
}

// convTower adds n 3×3 convolutions of the given width with bias (under
// conv<i>, VarianceScaling(2, fan_out) normal init), each followed by batch
// norm and act: the box and mask heads' towers.
func convTower(s *nn.Scope, x, n, filters int, act tensor.Activation) int {
	for i := range n {
		cs := s.Sub(fmt.Sprintf("conv%d", i))
		x = cs.Conv(x, "conv", nn.ConvSpec{K: 3, Out: filters, Stride: 1, Pad: tensor.PadSame, Bias: true,
			Init: nn.Normal{Std: fanOutNormal(2, 3, filters)}})
		x = cs.Act(cs.BatchNorm(x, "bn"), act)
	}
	return x
}

// limitFor is glorot-uniform's limit for a layer of fanIn inputs and
// fanOut outputs.
func limitFor(fanIn, fanOut int) float64 { return math.Sqrt(6 / float64(fanIn+fanOut)) }

// buildMaskHead adds the mask head (spec §7.2) on the input "mask_rois"
// [R,14,14,channels]: MaskConvs 3×3 convolutions with bias, batch norm and
// the activation; the 2×2 stride-2 transposed convolution with bias, batch
// norm and the activation to 28×28; a 1×1 convolution to one mask logit
// map per class. Output "mask_logits" [R,28,28,K].
func (m *Model) buildMaskHead(s *nn.Scope, channels int) {
	c := m.Config
	m.MaskRoIs = s.InputSized("mask_rois", channels, MaskRoISize, MaskRoISize)
	x := m.MaskRoIs
	x = convTower(s, x, c.MaskConvs, c.MaskFilters, c.Activation)
	ds := s.Sub("deconv")
	x = ds.Deconv2x2(x, "deconv", c.MaskFilters, nn.Normal{Std: fanOutNormal(2, 2, c.MaskFilters)}, nn.Constant(0))
	x = ds.Act(ds.BatchNorm(x, "bn"), c.Activation)
	m.MaskLogits = s.Conv(x, "logits", nn.ConvSpec{K: 1, Out: c.NumClasses, Stride: 1, Bias: true,
		Init: nn.Normal{Std: fanOutNormal(2, 1, c.NumClasses)}})
	s.Graph().MarkOutput(m.MaskLogits, "mask_logits")
}
