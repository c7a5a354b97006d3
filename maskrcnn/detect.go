package maskrcnn

import (
	"cmp"
	"slices"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/tensor"
)

// PostConfig is the inference post-processing (spec maskrcnn.md §10).
type PostConfig struct {
	// Proposals are the RPN's test-time proposals.
	Proposals ProposalConfig
	// ScoreThreshold drops class scores at or below it (0.05).
	ScoreThreshold float32
	// PerClassTopK boxes per class enter NMS (1000).
	PerClassTopK int
	// NMSIoU is the per-class NMS threshold (0.5).
	NMSIoU float32
	// MaxDetections are kept per image, best first (100).
	MaxDetections int
	// RoIAlign is the sampling rule of both heads.
	RoIAlign tensor.RoIAlignOptions
}

// DefaultPost is the official setting.
func DefaultPost() PostConfig {
	return PostConfig{Proposals: TestProposalConfig, ScoreThreshold: 0.05, PerClassTopK: 1000, NMSIoU: 0.5, MaxDetections: MaxDetections}
}

// Detection is one detected instance: its box in network pixels, score
// and contiguous class 0..K−2 (the model's index − 1), and its MaskSize²
// mask probabilities over the box (PasteMask places them in the image).
type Detection struct {
	box.Scored
	Mask []float32
}

// Detect runs the model on images [N,H,W,3] on t (an inference tape, or a
// training tape for batch statistics) and returns each image's detections
// (spec §10): the test proposals through the box head, softmax over the
// classes, each class's deltas decoded with weights (10, 10, 5, 5) against
// the proposal and clipped to the image's visible w×h (clip[i]; nil: the
// input), scores above the threshold, the best PerClassTopK per class, NMS
// per class, the best MaxDetections overall; then the mask head on the
// kept boxes, the detected class's 28×28 logits through a sigmoid.
func (m *Model) Detect(t *autograd.Tape, images *autograd.Var, clip [][2]float32, c PostConfig) ([][]Detection, error) {
	n, h, w := images.Value.Dim(0), images.Value.Dim(1), images.Value.Dim(2)
	anchors, err := m.anchorsFor(h, w)
	if err != nil {
		return nil, err
	}
	g := m.Graph()
	nl := len(m.Levels)
	outs, strides := m.imagePhase(t, images)
	feats := outs[:nl]
	cls, deltas := make([]*tensor.Tensor, nl), make([]*tensor.Tensor, nl)
	for li := range m.Levels {
		cls[li], deltas[li] = outs[nl+2*li].Value, outs[nl+2*li+1].Value
	}
	k := m.Config.NumClasses
	out := make([][]Detection, n)
	for i := range n {
		cw, ch := float32(w), float32(h)
		if clip != nil {
			cw, ch = clip[i][0], clip[i][1]
		}
		props := Proposals(cls, deltas, i, anchors, h, w, c.Proposals)
		if len(props) == 0 {
			continue
		}
		rois := make([]tensor.RoI, len(props))
		for j, p := range props {
			rois[j] = m.roi(i, p.Box)
		}
		head := g.Eval(t, h, w, map[int]*autograd.Var{m.BoxRoIs: t.RoIAlign(feats, strides, rois, BoxRoISize, c.RoIAlign)}, m.BoxClass, m.BoxDeltas)
		logits, err := head[0].Value.Reshape(len(props), k)
		if err != nil {
			return nil, err
		}
		prob := tensor.New(len(props), k)
		tensor.Softmax(prob, logits)
		d := head[1].Value.Data()
		var dets []box.Scored
		for cl := 1; cl < k; cl++ {
			var perClass []box.Scored
			for j, p := range props {
				s := prob.Data()[j*k+cl]
				if s <= c.ScoreThreshold {
					continue
				}
				b := boxCoder.Decode(d[(j*k+cl)*4:(j*k+cl)*4+4], p.Box).Clip(cw, ch)
				if b.W() > 0 && b.H() > 0 {
					perClass = append(perClass, box.Scored{Box: b, Score: s, Class: cl - 1})
				}
			}
			if len(perClass) > c.PerClassTopK {
				slices.SortStableFunc(perClass, func(a, b box.Scored) int { return cmp.Compare(b.Score, a.Score) })
				perClass = perClass[:c.PerClassTopK]
			}
			dets = append(dets, box.NMS(perClass, c.NMSIoU, 0)...)
		}
		slices.SortStableFunc(dets, func(a, b box.Scored) int { return cmp.Compare(b.Score, a.Score) })
		if len(dets) > c.MaxDetections {
			dets = dets[:c.MaxDetections]
		}
		if len(dets) == 0 {
			continue
		}
		mrois := make([]tensor.RoI, len(dets))
		classes := make([]int32, len(dets))
		for j, dt := range dets {
			mrois[j], classes[j] = m.roi(i, dt.Box), int32(dt.Class+1)
		}
		ml := g.Eval(t, h, w, map[int]*autograd.Var{m.MaskRoIs: t.RoIAlign(feats, strides, mrois, MaskRoISize, c.RoIAlign)}, m.MaskLogits)[0]
		mine := t.GatherClass(ml, 3, classes).Value.Data()
		for j, dt := range dets {
			mask := make([]float32, MaskSize*MaskSize)
			for p := range mask {
				mask[p] = sigmoid(mine[j*MaskSize*MaskSize+p])
			}
			out[i] = append(out[i], Detection{Scored: dt, Mask: mask})
		}
	}
	return out, nil
}
