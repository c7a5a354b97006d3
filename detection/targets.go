package detection

import (
	"github.com/spinenet-go/spinenet/detection/box"
)

// Match results for an anchor that is not matched to a ground-truth box.
const (
	MatchNegative = -1 // background: IoU below the negative threshold
	MatchIgnore   = -2 // between the thresholds: no loss
)

// Matcher assigns anchors to ground-truth boxes by IoU (spec §7): an
// anchor whose best IoU is at least PosIoU is matched to that box, below
// NegIoU it is background, in between it is ignored; with ForceMatch every
// box also claims the anchor that overlaps it most (TF2's
// force_match_for_each_row), so small boxes are never left without one.
type Matcher struct {
	// PosIoU and NegIoU are the IoU thresholds in [0, 1], NegIoU ≤ PosIoU;
	// equal thresholds (SpineNet's 0.5/0.5) leave no anchor ignored.
	PosIoU, NegIoU float32
	// ForceMatch gives every ground-truth box its best-overlapping anchor
	// (IoU > 0) even below PosIoU, taking it over from another box.
	ForceMatch bool
}

// DefaultMatcher is SpineNet's RetinaNet matcher: 0.5/0.5 with forced
// matches.
func DefaultMatcher() Matcher { return Matcher{PosIoU: 0.5, NegIoU: 0.5, ForceMatch: true} }

// Match fills match[i] with the index of anchor i's ground-truth box, or
// MatchNegative/MatchIgnore. iou is scratch space (reused when large
// enough) and is returned for the next call.
func (m Matcher) Match(match []int32, anchors, gts []box.Box, iou []float32) []float32 {
	for i := range match {
		match[i] = MatchNegative
	}
	if len(gts) == 0 {
		return iou
	}
	// iou[g*len(anchors)+a]: boxes are few, anchors many; the row per box is
	// contiguous for the forced-match argmax.
	iou = box.IoUMatrix(iou, gts, anchors)
	na := len(anchors)
	for a := range anchors {
		best, bi := float32(-1), -1
		for g := range gts {
			if v := iou[g*na+a]; v > best {
				best, bi = v, g
			}
		}
		switch {
		case best >= m.PosIoU:
			match[a] = int32(bi)
		case best >= m.NegIoU:
			match[a] = MatchIgnore
		}
	}
	if m.ForceMatch {
		for g := range gts {
			row := iou[g*na : (g+1)*na]
			best, ba := float32(0), -1
			for a, v := range row {
				if v > best {
					best, ba = v, a
				}
			}
			if ba >= 0 {
				match[ba] = int32(g)
			}
		}
	}
	return iou
}

// GroundTruth is one image's boxes (network-input pixels) and contiguous
// class indices 0..K−1. Crowd boxes must be removed before training (spec
// §7: they are skipped).
type GroundTruth struct {
	// Boxes are the objects' [x1 y1 x2 y2] boxes in network-input pixels
	// (after data.Transform's resize, flip and crop), the anchors'
	// coordinates.
	Boxes []box.Box
	// Classes[i] is Boxes[i]'s class index in 0..K−1 (K =
	// HeadConfig.NumClasses); an index outside that range still makes the
	// box's anchors positive for box regression, with no class target.
	Classes []int
}

// Targets are the per-anchor training targets of a batch, laid out like the
// flattened head outputs: Class [N, anchors, K] one-hot, ClassWeight
// [N, anchors] (0 for ignored anchors), Box [N, anchors, 4] encoded deltas,
// BoxWeight [N, anchors] (1 for positives).
type Targets struct {
	// Class, ClassWeight, Box and BoxWeight are the four target arrays in
	// the shapes above, row-major (row = image·anchors + anchor). Matching
	// writes every ClassWeight but only the positives' Class, Box and
	// BoxWeight entries, so those three must start zeroed.
	Class, ClassWeight, Box, BoxWeight []float32
	// Positives is the number of matched anchors in the batch.
	Positives int
}
