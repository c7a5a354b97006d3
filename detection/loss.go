package detection

import (
	"fmt"
	"slices"

	"github.com/spinenet-go/spinenet/autograd"
)

// LossConfig holds the RetinaNet loss constants (spec §7).
type LossConfig struct {
	FocalAlpha, FocalGamma float64 // 0.25, 1.5 (TF/TPU; the PyTorch ports use γ 2)
	HuberDelta             float64 // 0.1
	BoxWeight              float64 // 50
}

// DefaultLoss returns the TF/TPU SpineNet RetinaNet loss constants.
func DefaultLoss() LossConfig {
	return LossConfig{FocalAlpha: 0.25, FocalGamma: 1.5, HuberDelta: 0.1, BoxWeight: 50}
}

// Losses are the parts of a batch's loss.
type Losses struct {
	// Total is Class + BoxWeight·Box, the scalar to minimize; Class is the
	// focal loss and Box the unweighted Huber loss, each already divided by
	// its normalizer (positives + 1, and 4·(positives + 1)).
	Total, Class, Box *autograd.Var
	// Positives is the number of anchors matched to a ground-truth box in
	// the whole batch (the normalizer minus 1).
	Positives int
}

// Loss computes the RetinaNet loss of a batch on the tape: sigmoid focal
// loss over every non-ignored anchor and class, summed and divided by
// (positives + 1); Huber loss on the positives' box deltas, summed and
// divided by 4·(positives + 1) (Keras's Huber averages the 4 coordinates);
// total = class + BoxWeight·box. cls and box are the head outputs per level
// ([N,H,W,A·K] and [N,H,W,A·4]) in level order; gts has one entry per image.
func (m *Model) Loss(t *autograd.Tape, cls, boxes []*autograd.Var, anchors *Anchors, gts []GroundTruth, cfg LossConfig) (Losses, error) {
	if len(cls) != len(anchors.Sizes) || len(boxes) != len(cls) {
		return Losses{}, fmt.Errorf("detection: %d class and %d box outputs for %d anchor levels", len(cls), len(boxes), len(anchors.Sizes))
	}
	n := cls[0].Value.Dim(0)
	if len(gts) != n {
		return Losses{}, fmt.Errorf("detection: %d ground truths for a batch of %d", len(gts), n)
	}
	k := m.Config.NumClasses
	na := anchors.Len()
	// Flatten each level to [N, H·W·A, K] and join the levels.
	flatC := make([]*autograd.Var, len(cls))
	flatB := make([]*autograd.Var, len(cls))
	for i := range cls {
		flatC[i] = t.Reshape(cls[i], n, -1, k)
		flatB[i] = t.Reshape(boxes[i], n, -1, 4)
	}
	logits, deltas := t.Concat(1, flatC...), t.Concat(1, flatB...)
	if logits.Value.Dim(1) != na {
		return Losses{}, fmt.Errorf("detection: head gives %d anchors per image, anchors %d (input size mismatch?)", logits.Value.Dim(1), na)
	}
	pool := t.Pool()
	ct, cw := pool.GetZeroed(n, na, k), pool.Get(n, na)
	bt, bw := pool.GetZeroed(n, na, 4), pool.GetZeroed(n, na)
	tg := Targets{Class: ct.Data(), ClassWeight: cw.Data(), Box: bt.Data(), BoxWeight: bw.Data()}
	m.assign(&tg, anchors, gts)
	norm := float64(tg.Positives) + 1
	lc := t.SigmoidFocalLoss(logits, ct, cw, cfg.FocalAlpha, cfg.FocalGamma, norm)
	lb := t.HuberLoss(deltas, bt, bw, cfg.HuberDelta, 4*norm)
	return Losses{Total: t.Add(lc, t.Scale(lb, float32(cfg.BoxWeight))), Class: lc, Box: lb, Positives: tg.Positives}, nil
}

// assign fills the targets of every image by matching its ground truth to
// the anchors.
func (m *Model) assign(tg *Targets, anchors *Anchors, gts []GroundTruth) {
	k, na := m.Config.NumClasses, anchors.Len()
	coder := DefaultBoxCoder()
	if m.match == nil || len(m.match) != na {
		m.match = make([]int32, na)
	}
	for i, gt := range gts {
		m.iou = m.Matcher.Match(m.match, anchors.Boxes, gt.Boxes, m.iou)
		for a, g := range m.match {
			row := i*na + a
			tg.ClassWeight[row] = 1
			switch {
			case g >= 0:
				c := gt.Classes[g]
				if c >= 0 && c < k {
					tg.Class[row*k+c] = 1
				}
				coder.Encode(tg.Box[row*4:row*4+4], gt.Boxes[g], anchors.Boxes[a])
				tg.BoxWeight[row] = 1
				tg.Positives++
			case g == MatchIgnore:
				tg.ClassWeight[row] = 0
			}
		}
	}
}

// Outputs splits the graph outputs of a forward pass into the head's class
// and box outputs per level, in level order.
func (m *Model) Outputs(outs []*autograd.Var) (cls, boxes []*autograd.Var) {
	ids := m.Graph().Outputs
	out := func(id int) *autograd.Var { return outs[slices.Index(ids, id)] }
	cls = make([]*autograd.Var, len(m.Head.Levels))
	boxes = make([]*autograd.Var, len(m.Head.Levels))
	for i, l := range m.Head.Levels {
		cls[i], boxes[i] = out(m.Head.Class[l]), out(m.Head.Box[l])
	}
	return cls, boxes
}
