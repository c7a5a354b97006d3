package maskrcnn

import (
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/detection/box"
)

// RPNTargetConfig is the RPN's anchor labelling (spec maskrcnn.md §3).
type RPNTargetConfig struct {
	// Matcher labels anchors: positive at IoU ≥ 0.7, negative below 0.3,
	// ignored between, every box forced onto its best anchor.
	Matcher detection.Matcher
	// Samples anchors per image get an objectness target, PositiveFraction
	// of them positive at most; the rest negatives.
	Samples          int
	PositiveFraction float64
}

// DefaultRPNTargets are the official settings: 0.7/0.3 with forced
// matches, 256 anchors per image, half positive.
func DefaultRPNTargets() RPNTargetConfig {
	return RPNTargetConfig{Matcher: detection.Matcher{PosIoU: 0.7, NegIoU: 0.3, ForceMatch: true}, Samples: 256, PositiveFraction: 0.5}
}

// RPNTargets are one image's RPN training targets over every anchor, in
// the anchors' order (level, row, column, anchor).
type RPNTargets struct {
	// Objectness is 1 for a sampled positive and 0 otherwise; ObjWeight 1
	// for the sampled anchors (positives and negatives), 0 elsewhere.
	Objectness, ObjWeight []float32
	// Box holds the encoded deltas (4 per anchor) of every matched anchor,
	// sampled or not (spec §3: the TPU code regresses all matched anchors),
	// and BoxWeight 1 for them.
	Box, BoxWeight []float32
	// Matched is the number of matched anchors.
	Matched int
}

// LabelAnchors computes one image's RPN targets for the ground-truth boxes
// gts (network pixels, crowd regions already removed), sampling with rng.
// match and iou are scratch space, returned for reuse.
func (c RPNTargetConfig) LabelAnchors(anchors *detection.Anchors, gts []box.Box, rng *rand.Rand, match []int32, iou []float32) (*RPNTargets, []int32, []float32) {
	n := anchors.Len()
	if cap(match) < n {
		match = make([]int32, n)
	}
	match = match[:n]
	iou = c.Matcher.Match(match, anchors.Boxes, gts, iou)
	t := &RPNTargets{Objectness: make([]float32, n), ObjWeight: make([]float32, n), Box: make([]float32, 4*n), BoxWeight: make([]float32, n)}
	var pos, neg []int
	for a, m := range match {
		switch {
		case m >= 0:
			pos = append(pos, a)
			rpnCoder.Encode(t.Box[4*a:4*a+4], gts[m], anchors.Boxes[a])
			t.BoxWeight[a] = 1
			t.Matched++
		case m == detection.MatchNegative:
			neg = append(neg, a)
		}
	}
	nPos := min(len(pos), int(float64(c.Samples)*c.PositiveFraction))
	for _, a := range sample(rng, pos, nPos) {
		t.Objectness[a], t.ObjWeight[a] = 1, 1
	}
	for _, a := range sample(rng, neg, min(len(neg), c.Samples-nPos)) {
		t.ObjWeight[a] = 1
	}
	return t, match, iou
}

// sample returns k of xs drawn without replacement (a partial
// Fisher–Yates shuffle of xs, in place).
func sample(rng *rand.Rand, xs []int, k int) []int {
	for i := range k {
		j := i + rng.IntN(len(xs)-i)
		xs[i], xs[j] = xs[j], xs[i]
	}
	return xs[:k]
}

// RoISamplerConfig is the box head's RoI sampling (spec maskrcnn.md §5).
type RoISamplerConfig struct {
	// RoIs per image, at most ForegroundFraction of them foreground.
	RoIs               int
	ForegroundFraction float64
	// ForegroundIoU: a candidate whose best IoU with a ground-truth box is
	// at least this is foreground (TF2's ≥; the TPU code's is >); below
	// it, background.
	ForegroundIoU float32
	// MaskRoIs is the most foreground RoIs per image that train the mask
	// head.
	MaskRoIs int
}

// DefaultRoISampler is the official setting: 512 RoIs per image, 25 %
// foreground at IoU ≥ 0.5, up to 128 mask RoIs.
func DefaultRoISampler() RoISamplerConfig {
	return RoISamplerConfig{RoIs: 512, ForegroundFraction: 0.25, ForegroundIoU: 0.5, MaskRoIs: 128}
}

// boxCoder encodes the box head's targets with weights (10, 10, 5, 5) for
// (y, x, h, w) (spec §5).
var boxCoder = detection.BoxCoder{Weights: [4]float32{10, 10, 5, 5}, MaxLogScale: rpnCoder.MaxLogScale}

// SampledRoIs are one image's sampled RoIs with their targets; exactly
// RoISamplerConfig.RoIs of them, so batches have a fixed size (padding
// RoIs, when there are too few candidates, have Weight 0).
type SampledRoIs struct {
	// Boxes are the RoIs in network pixels.
	Boxes []box.Box
	// Class is each RoI's target class: the matched box's class + 1 for
	// foreground (0 is background), 0 for background.
	Class []int32
	// Weight is 1 for a real RoI, 0 for padding.
	Weight []float32
	// Deltas are the encoded (10, 10, 5, 5) targets of the foreground RoIs
	// (zero for the others), 4 per RoI.
	Deltas []float32
	// GT is each RoI's matched ground-truth index (−1 for background and
	// padding); Foreground lists the foreground RoIs, the first up to
	// MaskRoIs of them are the mask head's.
	GT         []int
	Foreground []int
}

// Sample draws one image's RoIs from the proposals and the ground-truth
// boxes (appended to the candidates, spec §5) with classes 0..K−2 (without
// background). rng draws the samples.
func (c RoISamplerConfig) Sample(proposals []box.Scored, gts []box.Box, classes []int, rng *rand.Rand) *SampledRoIs {
	cands := make([]box.Box, 0, len(proposals)+len(gts))
	for _, p := range proposals {
		cands = append(cands, p.Box)
	}
	cands = append(cands, gts...)
	best := make([]int, len(cands))
	var fg, bg []int
	var iou []float32
	if len(gts) > 0 {
		iou = box.IoUMatrix(nil, cands, gts)
	}
	for i := range cands {
		bi, bv := -1, float32(-1)
		for g := range gts {
			if v := iou[i*len(gts)+g]; v > bv {
				bi, bv = g, v
			}
		}
		best[i] = bi
		if bi >= 0 && bv >= c.ForegroundIoU {
			fg = append(fg, i)
		} else {
			bg = append(bg, i)
		}
	}
	nFg := min(len(fg), int(float64(c.RoIs)*c.ForegroundFraction))
	fg = sample(rng, fg, nFg)
	bg = sample(rng, bg, min(len(bg), c.RoIs-nFg))
	s := &SampledRoIs{Boxes: make([]box.Box, c.RoIs), Class: make([]int32, c.RoIs), Weight: make([]float32, c.RoIs),
		Deltas: make([]float32, 4*c.RoIs), GT: make([]int, c.RoIs)}
	r := 0
	for _, i := range fg {
		g := best[i]
		s.Boxes[r], s.Class[r], s.Weight[r], s.GT[r] = cands[i], int32(classes[g]+1), 1, g
		boxCoder.Encode(s.Deltas[4*r:4*r+4], gts[g], cands[i])
		s.Foreground = append(s.Foreground, r)
		r++
	}
	for _, i := range bg {
		s.Boxes[r], s.Weight[r], s.GT[r] = cands[i], 1, -1
		r++
	}
	for ; r < c.RoIs; r++ { // padding: a copy of some candidate, no loss
		s.GT[r] = -1
		if len(cands) > 0 {
			s.Boxes[r] = cands[r%len(cands)]
		}
	}
	return s
}
