package recipe

import (
	"context"
	"fmt"
	"io"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/cocoeval"
	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/maskrcnn"
	"github.com/spinenet-go/spinenet/models"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
	"github.com/spinenet-go/spinenet/train"
)

// InstanceTask trains and evaluates a SpineNet Mask R-CNN (train.Task):
// task instance_segmentation, on COCO instances with polygons or RLE masks
// or on synthetic shapes (whose masks are exact).
type InstanceTask struct {
	detectionData
	Model *maskrcnn.Model
	// Loss and Post are the training and inference settings.
	LossConfig maskrcnn.LossConfig
	Post       maskrcnn.PostConfig
	// Transfer is what model.init loaded and train.freeze froze.
	Transfer Transfer
	parts    [6]train.LossPart
}

var _ train.Task[*data.Batch] = (*InstanceTask)(nil)

// NewInstanceTask loads the data of c (with masks) and builds the Mask
// R-CNN for its classes (plus background).
func NewInstanceTask(c *Config) (*InstanceTask, error) {
	if c.Task != TaskInstanceSegmentation {
		return nil, &ConfigError{Key: "task", Reason: fmt.Sprintf("%q, want %s", c.Task, TaskInstanceSegmentation)}
	}
	t := &InstanceTask{detectionData: detectionData{cfg: c}, LossConfig: maskrcnn.DefaultLoss(), Post: maskrcnn.DefaultPost()}
	if err := t.loadData(c); err != nil {
		return nil, err
	}
	masks := 0
	for _, s := range t.Train.Samples {
		for _, o := range s.Objects {
			if o.Mask != nil {
				masks++
			}
		}
	}
	if masks == 0 {
		return nil, &ConfigError{Key: "data", Reason: "the training data has no instance masks (COCO segmentations or synthetic shapes)"}
	}
	desc, err := c.Resolve()
	if err != nil {
		return nil, err
	}
	if t.Model, err = desc.NewMaskRCNN(len(t.Train.Classes) + 1); err != nil {
		return nil, &ConfigError{Key: "model", Reason: err.Error(), Err: err}
	}
	if t.Transfer, err = c.transfer(desc, models.MaskRCNNHead, t.Model.Graph()); err != nil {
		return nil, err
	}
	return t, nil
}

// Graph implements train.Task.
func (t *InstanceTask) Graph() *nn.Graph { return t.Model.Graph() }

// Loss implements train.Task: the five Mask R-CNN losses (maskrcnn.Model.Loss)
// on a batch, crowd regions left out, samples drawn from the tape's
// generator (so a resumed run draws the same).
func (t *InstanceTask) Loss(tp *autograd.Tape, b *data.Batch) (train.Loss, error) {
	gts := make([]maskrcnn.GroundTruth, len(b.Objects))
	for i, objs := range b.Objects {
		for _, o := range objs {
			if o.Crowd {
				continue
			}
			gts[i].Boxes = append(gts[i].Boxes, o.Box)
			gts[i].Classes = append(gts[i].Classes, o.Class)
			gts[i].Patches = append(gts[i].Patches, o.MaskPatch)
		}
	}
	l, err := t.Model.Loss(tp, tp.Constant(b.Images), gts, t.LossConfig, tp.Rand())
	if err != nil {
		return train.Loss{}, err
	}
	v := func(x *autograd.Var) float64 { return float64(x.Value.Data()[0]) }
	n := float64(b.Images.Dim(0))
	t.parts = [6]train.LossPart{
		{Name: "rpn_class", Value: v(l.RPNClass)}, {Name: "rpn_box", Value: v(l.RPNBox)}, {Name: "class", Value: v(l.Class)},
		{Name: "box", Value: v(l.Box)}, {Name: "mask", Value: v(l.Mask)}, {Name: "foreground", Value: float64(l.Foreground) / n},
	}
	return train.Loss{Total: l.Total, Parts: t.parts[:], Images: b.Images.Dim(0)}, nil
}

// Evaluate implements train.Task: COCO box AP and mask AP (prefixed
// "mask_") of the current weights on the validation set. It stops with
// ctx.Err() between images once ctx is done.
func (t *InstanceTask) Evaluate(ctx context.Context, dev tensor.CPU) (train.Metrics, error) {
	return evaluateInstances(ctx, t.Detector(), dev, t.Post, t.Val, t.Source, t.ValGT, t.cfg.Train.Workers)
}

// Detector returns the task's model with the classes and input size that
// describe it in a weights file.
func (t *InstanceTask) Detector() *maskrcnn.Detector {
	return &maskrcnn.Detector{Model: t.Model, Classes: t.Train.Classes, CategoryIDs: t.Train.CategoryIDs, InputSize: t.cfg.Input.Size}
}

// Metadata implements train.Task.
func (t *InstanceTask) Metadata() (map[string]string, error) { return t.Detector().Metadata() }

// RunOptions returns the train.Options and output hooks of the config
// with a title naming the model and the data, and the task's Transfer.
func (t *InstanceTask) RunOptions(resume bool, progress, log io.Writer) (train.Options, []train.Hook, error) {
	c := t.cfg
	opt, hooks, err := c.RunOptions(t.StepsPerEpoch(), fmt.Sprintf("%s Mask R-CNN, %s", c.modelName(), t.Train.Name), resume, progress, log)
	t.Transfer.apply(&opt)
	return opt, hooks, err
}

// evaluateInstances runs a Mask R-CNN over every image of ds (the
// evaluation transform) and scores boxes and masks in original pixels.
func evaluateInstances(ctx context.Context, d *maskrcnn.Detector, dev tensor.CPU, post maskrcnn.PostConfig, ds *data.Dataset, src data.ImageSource,
	gt *cocoeval.Dataset, workers int) (train.Metrics, error) {
	// Not a training loader: it applies the evaluation transform (no
	// jitter, no flip). Strict, as detectDataset is.
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: 1, Workers: workers, Epochs: 1, Transform: data.DefaultTransform(d.InputSize), Source: src, Strict: true})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	tp := autograd.NewInferenceTape() // one tape, reset per image, reuses its buffers
	tp.SetDevice(dev)
	var dets []cocoeval.Detection
	for b, err := range l.All() {
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := b.Placements[0]
		w, h := p.Width, p.Height
		found, err := d.Model.Detect(tp, tp.Constant(b.Images), [][2]float32{{float32(w), float32(h)}}, post)
		if err != nil {
			return nil, err
		}
		s := b.Samples[0]
		for _, f := range found[0] {
			ob := p.ToOriginal(f.Box)
			rle := maskrcnn.PasteMask(f.Mask, ob, s.Width, s.Height)
			dets = append(dets, cocoeval.Detection{ImageID: s.ID, CategoryID: int64(d.CategoryIDs[f.Class]), BBox: ob.XYWH(), HasBBox: true,
				Score: float64(f.Score), Segmentation: &cocoeval.Segmentation{RLE: &rle}})
		}
		tp.Reset()
	}
	boxes, err := cocoeval.Evaluate(gt, dets, cocoeval.IoUBBox)
	if err != nil {
		return nil, err
	}
	masks, err := cocoeval.Evaluate(gt, dets, cocoeval.IoUSegm)
	if err != nil {
		return nil, err
	}
	m := StatsMetrics(boxes)
	for _, x := range StatsMetrics(masks) {
		x.Name = "mask_" + x.Name
		m = append(m, x)
	}
	return m, nil
}

// TrainInstanceSegmentation loads the data, builds the Mask R-CNN and trains
// it as c describes (as TrainDetection does for RetinaNet).
func TrainInstanceSegmentation(ctx context.Context, c *Config, resume bool, progress, log io.Writer) (*train.Summary, error) {
	t, err := NewInstanceTask(c)
	if err != nil {
		return nil, err
	}
	opt, hooks, err := t.RunOptions(resume, progress, log)
	if err != nil {
		return nil, err
	}
	if log != nil {
		acc, err := t.Model.Account(c.Input.Size, c.Input.Size)
		if err != nil {
			return nil, err
		}
		t.logStart(log, "instance segmentation", acc, fmt.Sprintf(" (%d proposals, %d detections)", maskrcnn.TestProposals, maskrcnn.MaxDetections), opt.Steps)
	}
	t.Transfer.log(log, c)
	sum, err := train.Run(ctx, t, opt, hooks...)
	t.logEnd(log)
	return sum, c.keptWeights(err)
}
