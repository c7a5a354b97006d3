package recipe

import (
	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/infer"
	"github.com/spinenet-go/spinenet/tensor"
)

// Found is one detection in original image pixels: the box, score and class
// post-processing produces, so it can be drawn (internal/annotate) or
// written out without conversion.
type Found = box.Scored

// Predictor runs a trained detector on single images: the evaluation
// transform (long side to the input size, padded), compiled inference,
// post-processing, and boxes mapped back to the original image.
type Predictor struct {
	Detector *detection.Detector
	Post     detection.PostConfig
	model    *infer.Model
	anchors  *detection.Anchors
	tr       data.Transform
	input    *tensor.Tensor
}

// NewPredictor compiles d for inference at its training input size.
func NewPredictor(d *detection.Detector) (*Predictor, error) {
	m, err := infer.Compile(d.Model.Graph(), infer.DefaultOptions())
	if err != nil {
		return nil, err
	}
	a, err := detection.NewAnchors(d.Anchors, d.InputSize, d.InputSize)
	if err != nil {
		return nil, err
	}
	return &Predictor{Detector: d, Post: detection.DefaultPost(), model: m, anchors: a,
		tr: data.DefaultTransform(d.InputSize), input: tensor.New(1, d.InputSize, d.InputSize, 3)}, nil
}

// Predict detects objects in img.
func (p *Predictor) Predict(img *data.RGB) ([]Found, error) {
	_, pl := p.tr.Eval(p.input.Data(), img, nil, nil)
	return p.run(p.input, pl)
}

// run detects in one prepared network input [1,S,S,3] whose image sits at
// placement pl.
func (p *Predictor) run(x *tensor.Tensor, pl data.Placement) ([]Found, error) {
	outs, err := p.model.Run(x)
	if err != nil {
		return nil, err
	}
	cls, boxes := p.Detector.Model.OutputTensors(outs)
	dets := detection.Detect(cls, boxes, p.anchors, p.Detector.Model.Config.NumClasses, [][2]float32{{float32(pl.Width), float32(pl.Height)}}, p.Post)
	var found []Found
	for _, d := range dets[0] {
		b := pl.ToOriginal(d.Box)
		if b.W() > 0 && b.H() > 0 {
			found = append(found, Found{Box: b, Class: d.Class, Score: d.Score})
		}
	}
	return found, nil
}
