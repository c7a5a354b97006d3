package maskrcnn

import (
	"fmt"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/tensor"
)

// GroundTruth is one image's instances in network pixels: boxes, classes
// 0..K−2 (the model's class index is class + 1; 0 is background) and,
// when known, each instance's MaskPatchSize² mask patch (data.Mask.Patch;
// nil: the instance trains no mask). Crowd regions must be removed.
type GroundTruth struct {
	Boxes   []box.Box
	Classes []int
	Patches [][]float32
}

// LossConfig gathers the training-time settings (spec maskrcnn.md §3–§9).
type LossConfig struct {
	RPN       RPNTargetConfig
	Proposals ProposalConfig
	Sampler   RoISamplerConfig
	RoIAlign  tensor.RoIAlignOptions
}

// DefaultLoss is the official training configuration.
func DefaultLoss() LossConfig {
	return LossConfig{RPN: DefaultRPNTargets(), Proposals: TrainProposals, Sampler: DefaultRoISampler()}
}

// Losses are the parts of the training loss, each a [1] Var, and Total
// their sum (all weights 1, spec §8).
type Losses struct {
	Total, RPNClass, RPNBox, Class, Box, Mask *autograd.Var
	// Matched counts the RPN's matched anchors, Foreground the box head's
	// foreground RoIs and Masks the mask head's RoIs, over the batch.
	Matched, Foreground, Masks int
}

// Huber deltas of the two box losses (spec §8).
const (
	rpnHuberDelta = 1.0 / 9
	boxHuberDelta = 1.0
)

// anchorsFor returns the RPN anchors of an h×w input, cached per size.
func (m *Model) anchorsFor(h, w int) (*detection.Anchors, error) {
	if a, ok := m.anchors[[2]int{h, w}]; ok {
		return a, nil
	}
	a, err := detection.NewAnchors(Anchors(m.Levels[0], m.Levels[len(m.Levels)-1], m.Config.AnchorSize), h, w)
	if err != nil {
		return nil, err
	}
	if m.anchors == nil || len(m.anchors) >= 8 { // a few sizes at most: bounded
		m.anchors = map[[2]int]*detection.Anchors{}
	}
	m.anchors[[2]int{h, w}] = a
	return a, nil
}

// Loss runs the model in training mode on a batch of images [N,H,W,3]
// with one GroundTruth per image and returns the losses (spec §8):
//
//   - RPN objectness: sigmoid cross-entropy over the sampled anchors,
//     divided by N × RPN.Samples; RPN box: Huber (δ 1/9) over every matched
//     anchor, divided per level by 4 × its matched anchors + 0.01 (TF2),
//     summed over levels;
//   - box head class: softmax cross-entropy over the N × Sampler.RoIs RoIs
//     (padding RoIs have an all-zero target, so they add nothing); box
//     head box: Huber (δ 1) over the ground-truth class's 4 deltas of the
//     foreground RoIs, divided by 4 × their number;
//   - mask: sigmoid cross-entropy of the ground-truth class's 28×28 logits
//     against the soft targets (MaskTarget) of up to Sampler.MaskRoIs
//     foreground RoIs per image, divided by their pixels.
//
// Proposals come from the RPN's current outputs as constants. rng draws
// the anchor and RoI samples.
func (m *Model) Loss(t *autograd.Tape, images *autograd.Var, gts []GroundTruth, cfg LossConfig, rng *rand.Rand) (Losses, error) {
	n, h, w := images.Value.Dim(0), images.Value.Dim(1), images.Value.Dim(2)
	if len(gts) != n {
		return Losses{}, fmt.Errorf("maskrcnn: %d ground truths for %d images", len(gts), n)
	}
	anchors, err := m.anchorsFor(h, w)
	if err != nil {
		return Losses{}, err
	}
	g := m.Graph()
	nl := len(m.Levels)
	outs, strides := m.imagePhase(t, images)
	feats := outs[:nl]
	var ls Losses

	// RPN.
	rpn := make([]*RPNTargets, n)
	var match []int32
	var iou []float32
	for i, gt := range gts {
		rpn[i], match, iou = cfg.RPN.LabelAnchors(anchors, gt.Boxes, rng, match, iou)
		ls.Matched += rpn[i].Matched
	}
	var clsParts, boxParts []*autograd.Var
	cls, deltas := make([]*tensor.Tensor, nl), make([]*tensor.Tensor, nl)
	for li := range m.Levels {
		c, d := outs[nl+2*li], outs[nl+2*li+1]
		cls[li], deltas[li] = c.Value, d.Value
		per := c.Value.Len() / n // anchors of the level per image
		objT, objW := tensor.New(c.Shape()...), tensor.New(c.Shape()...)
		boxT, boxW := tensor.New(n*per, 4), tensor.New(n*per)
		matched := 0
		off := anchors.Offsets[li]
		for i, tg := range rpn {
			copy(objT.Data()[i*per:(i+1)*per], tg.Objectness[off:off+per])
			copy(objW.Data()[i*per:(i+1)*per], tg.ObjWeight[off:off+per])
			copy(boxT.Data()[4*i*per:4*(i+1)*per], tg.Box[4*off:4*(off+per)])
			copy(boxW.Data()[i*per:(i+1)*per], tg.BoxWeight[off:off+per])
			for _, v := range tg.BoxWeight[off : off+per] {
				matched += int(v)
			}
		}
		clsParts = append(clsParts, t.SigmoidBCE(c, objT, objW, float64(n*cfg.RPN.Samples)))
		boxParts = append(boxParts, t.HuberLoss(t.Reshape(d, n*per, 4), boxT, boxW, rpnHuberDelta, 4*float64(matched)+0.01))
	}
	ls.RPNClass, ls.RPNBox = t.AddN(clsParts...), t.AddN(boxParts...)

	// Box head on the sampled RoIs.
	k := m.Config.NumClasses
	var rois []tensor.RoI
	var samples []*SampledRoIs
	for i, gt := range gts {
		s := cfg.Sampler.Sample(Proposals(cls, deltas, i, anchors, h, w, cfg.Proposals), gt.Boxes, gt.Classes, rng)
		samples = append(samples, s)
		for _, b := range s.Boxes {
			rois = append(rois, m.roi(i, b))
		}
	}
	r := len(rois)
	boxFeat := t.RoIAlign(feats, strides, rois, BoxRoISize, cfg.RoIAlign)
	head := g.Eval(t, h, w, map[int]*autograd.Var{m.BoxRoIs: boxFeat}, m.BoxClass, m.BoxDeltas)
	classT := tensor.New(r, k)
	fgW, boxT := tensor.New(r), tensor.New(r, 4)
	classes := make([]int32, r)
	for i, s := range samples {
		for j := range s.Boxes {
			row := i*cfg.Sampler.RoIs + j
			classes[row] = s.Class[j]
			if s.Weight[j] > 0 {
				classT.Data()[row*k+int(s.Class[j])] = 1
			}
		}
		for _, j := range s.Foreground {
			row := i*cfg.Sampler.RoIs + j
			fgW.Data()[row] = 1
			copy(boxT.Data()[4*row:4*row+4], s.Deltas[4*j:4*j+4])
			ls.Foreground++
		}
	}
	ls.Class = t.SoftmaxCrossEntropyDense(t.Reshape(head[0], r, k), classT, 0)
	picked := t.GatherClass(t.Reshape(head[1], r, k, 4), 1, classes)
	ls.Box = t.HuberLoss(picked, boxT, fgW, boxHuberDelta, 4*float64(max(ls.Foreground, 1)))

	// Mask head on up to MaskRoIs foreground RoIs per image with a mask.
	var mrois []tensor.RoI
	var mclasses []int32
	var mtargets []float32
	for i, s := range samples {
		taken := 0
		for _, j := range s.Foreground {
			gi := s.GT[j]
			if taken == cfg.Sampler.MaskRoIs || gi >= len(gts[i].Patches) || gts[i].Patches[gi] == nil {
				continue
			}
			taken++
			mrois = append(mrois, m.roi(i, s.Boxes[j]))
			mclasses = append(mclasses, s.Class[j])
			dst := make([]float32, MaskSize*MaskSize)
			MaskTarget(dst, gts[i].Patches[gi], gts[i].Boxes[gi], s.Boxes[j])
			mtargets = append(mtargets, dst...)
		}
	}
	ls.Masks = len(mrois)
	if ls.Masks > 0 {
		maskFeat := t.RoIAlign(feats, strides, mrois, MaskRoISize, cfg.RoIAlign)
		logits := g.Eval(t, h, w, map[int]*autograd.Var{m.MaskRoIs: maskFeat}, m.MaskLogits)[0]
		mine := t.GatherClass(logits, 3, mclasses)
		target, err := tensor.FromSlice(mtargets, ls.Masks, MaskSize, MaskSize)
		if err != nil {
			return Losses{}, err
		}
		ls.Mask = t.SigmoidBCE(mine, target, nil, float64(ls.Masks*MaskSize*MaskSize))
	} else {
		ls.Mask = t.Constant(tensor.New(1)) // no mask RoIs: a zero part
	}
	ls.Total = t.AddN(ls.RPNClass, ls.RPNBox, ls.Class, ls.Box, ls.Mask)
	return ls, nil
}

// imagePhase runs the image part of the graph: it returns the endpoints
// of m.Levels, then each level's RPN objectness and box outputs, and the
// levels' strides (RoIAlign's).
func (m *Model) imagePhase(t *autograd.Tape, images *autograd.Var) ([]*autograd.Var, []float64) {
	nl := len(m.Levels)
	want := make([]int, 0, 3*nl)
	strides := make([]float64, nl)
	for li, l := range m.Levels {
		want = append(want, m.Backbone.Endpoints[l])
		strides[li] = float64(int(1) << l)
	}
	for _, l := range m.Levels {
		want = append(want, m.RPNClass[l], m.RPNBox[l])
	}
	return m.Graph().Eval(t, images.Value.Dim(1), images.Value.Dim(2), map[int]*autograd.Var{m.Image: images}, want...), strides
}

// roi is the RoIAlign region of box b in image i, on its assigned level
// (an index into m.Levels).
func (m *Model) roi(i int, b box.Box) tensor.RoI {
	lo, hi := m.Levels[0], m.Levels[len(m.Levels)-1]
	return tensor.RoI{Batch: i, Level: tensor.AssignRoILevel(b, lo, hi) - lo, Box: b}
}
