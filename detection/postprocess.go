package detection

import (
	"cmp"
	"math"
	"slices"

	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/tensor"
)

// PostConfig configures inference post-processing (spec §7).
type PostConfig struct {
	// ScoreThreshold keeps only (anchor, class) candidates whose sigmoid
	// score is above it (0.05).
	ScoreThreshold float32
	// PreNMSTopK keeps this many best candidates per image before NMS
	// (5000); 0 keeps all.
	PreNMSTopK int
	// NMSIoU is the per-class suppression threshold: a box whose IoU with
	// a kept box of its class exceeds it is dropped (0.5).
	NMSIoU float32
	// MaxDetections caps the detections per image after NMS (100); 0
	// keeps all.
	MaxDetections int
}

// DefaultPost returns the SpineNet RetinaNet inference settings.
func DefaultPost() PostConfig {
	return PostConfig{ScoreThreshold: 0.05, PreNMSTopK: 5000, NMSIoU: 0.5, MaxDetections: 100}
}

// Detect turns head outputs into detections per image: sigmoid scores above
// the threshold, the PreNMSTopK best (anchor, class) candidates, box deltas
// decoded against their anchors and clipped to the clip[i] = (w, h) region
// of image i (the unpadded image in network pixels), then per-class NMS
// keeping at most MaxDetections. cls and boxes are per level ([N,H,W,A·K]
// and [N,H,W,A·4]); boxes are returned in network-input pixels.
func Detect(cls, boxes []*tensor.Tensor, anchors *Anchors, numClasses int, clip [][2]float32, cfg PostConfig) [][]box.Scored {
	n := cls[0].Dim(0)
	coder := DefaultBoxCoder()
	logitThresh := float32(math.Log(float64(cfg.ScoreThreshold) / (1 - float64(cfg.ScoreThreshold))))
	out := make([][]box.Scored, n)
	type cand struct {
		logit  float32
		anchor int
		class  int
		level  int
	}
	var cands []cand
	for i := range n {
		cands = cands[:0]
		for li, c := range cls {
			per := c.Len() / n
			data := c.Data()[i*per : (i+1)*per]
			for j, v := range data {
				if v > logitThresh {
					cands = append(cands, cand{v, anchors.Offsets[li] + j/numClasses, j % numClasses, li})
				}
			}
		}
		if cfg.PreNMSTopK > 0 && len(cands) > cfg.PreNMSTopK {
			slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(b.logit, a.logit) })
			cands = cands[:cfg.PreNMSTopK]
		}
		dets := make([]box.Scored, 0, len(cands))
		for _, c := range cands {
			li := c.level
			per := boxes[li].Len() / n
			local := c.anchor - anchors.Offsets[li]
			d := boxes[li].Data()[i*per+local*4 : i*per+local*4+4]
			b := coder.Decode(d, anchors.Boxes[c.anchor])
			if clip != nil {
				b = b.Clip(clip[i][0], clip[i][1])
			}
			if b.W() <= 0 || b.H() <= 0 {
				continue
			}
			dets = append(dets, box.Scored{Box: b, Score: sigmoid(c.logit), Class: c.class})
		}
		out[i] = box.NMS(dets, cfg.NMSIoU, cfg.MaxDetections)
	}
	return out
}

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }
