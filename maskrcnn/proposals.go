package maskrcnn

import (
	"cmp"
	"math"
	"slices"

	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/tensor"
)

// ProposalConfig is the RPN's proposal generation (spec maskrcnn.md §4).
type ProposalConfig struct {
	// PreNMSTopK boxes per level by objectness enter NMS.
	PreNMSTopK int
	// NMSIoU is the per-level NMS threshold.
	NMSIoU float32
	// PostNMSTopK boxes are kept per level after NMS, and overall.
	PostNMSTopK int
}

// TrainProposals and TestProposalConfig are the official settings: 2000
// (training) or 1000 (test) boxes per level into NMS at 0.7, 1000 kept.
var (
	TrainProposals     = ProposalConfig{PreNMSTopK: 2000, NMSIoU: 0.7, PostNMSTopK: 1000}
	TestProposalConfig = ProposalConfig{PreNMSTopK: 1000, NMSIoU: 0.7, PostNMSTopK: TestProposals}
)

// rpnCoder decodes RPN deltas: Faster R-CNN coding without scale factors
// (weights 1, spec §4), in continuous coordinates (TF2 box_ops; the TPU
// code's +1 pixel convention is not followed, as nowhere in this module).
var rpnCoder = detection.DefaultBoxCoder()

// Proposals turns image i's RPN outputs into at most c.PostNMSTopK boxes
// with their objectness probabilities (Class 0), best first (spec §4):
// per level, the PreNMSTopK highest logits, their deltas decoded against
// the level's anchors, clipped to the h×w network input (the padded canvas,
// as the TPU code clips), boxes of zero area dropped, NMS at c.NMSIoU and
// at most PostNMSTopK kept; then the best PostNMSTopK of all levels. cls
// and deltas are per level, [N,H,W,A] and [N,H,W,4A], in anchors' level
// order.
func Proposals(cls, deltas []*tensor.Tensor, i int, anchors *detection.Anchors, h, w int, c ProposalConfig) []box.Scored {
	type cand struct {
		logit float32
		index int // within the level, (y·W + x)·A + a
	}
	var all []box.Scored
	var cands []cand
	for li := range cls {
		per := cls[li].Len() / cls[li].Dim(0)
		logits := cls[li].Data()[i*per : (i+1)*per]
		cands = cands[:0]
		for j, v := range logits {
			cands = append(cands, cand{v, j})
		}
		k := min(c.PreNMSTopK, len(cands))
		// Sorted by logit, ties by index, so the order does not depend on
		// the sort's stability.
		slices.SortFunc(cands, func(a, b cand) int {
			if r := cmp.Compare(b.logit, a.logit); r != 0 {
				return r
			}
			return cmp.Compare(a.index, b.index)
		})
		dper := deltas[li].Len() / deltas[li].Dim(0)
		d := deltas[li].Data()[i*dper : (i+1)*dper]
		level := make([]box.Scored, 0, k)
		for _, cd := range cands[:k] {
			b := rpnCoder.Decode(d[4*cd.index:4*cd.index+4], anchors.Boxes[anchors.Offsets[li]+cd.index]).Clip(float32(w), float32(h))
			if !(b.W() > 0 && b.H() > 0) {
				continue
			}
			level = append(level, box.Scored{Box: b, Score: sigmoid(cd.logit)})
		}
		all = append(all, box.NMS(level, c.NMSIoU, c.PostNMSTopK)...)
	}
	slices.SortStableFunc(all, func(a, b box.Scored) int { return cmp.Compare(b.Score, a.Score) })
	if len(all) > c.PostNMSTopK {
		all = all[:c.PostNMSTopK]
	}
	return all
}

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }
