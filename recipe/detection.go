package recipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/cocoeval"
	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/data/mosaic"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/maskrcnn"
	"github.com/spinenet-go/spinenet/models"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/predict"
	"github.com/spinenet-go/spinenet/tensor"
	"github.com/spinenet-go/spinenet/train"
)

// detectionData is the data of a detection or instance-segmentation task.
type detectionData struct {
	cfg        *Config
	Train, Val *data.Dataset
	// Source supplies in-memory images (synthetic data); nil reads files.
	Source data.ImageSource
	// ValGT is the COCO ground truth the evaluation scores against (with
	// segmentations for instance segmentation).
	ValGT *cocoeval.Dataset
	// Report counts the annotation problems skipped when the data was
	// loaded; LoaderReport the unreadable images skipped in the latest
	// training epoch.
	Report, LoaderReport data.Report
}

// DetectionTask trains and evaluates a SpineNet RetinaNet (train.Task).
type DetectionTask struct {
	detectionData
	Model     *detection.Model
	Anchors   *detection.Anchors
	AnchorCfg detection.AnchorConfig
	Post      detection.PostConfig
	// Transfer is what model.init loaded and train.freeze froze.
	Transfer Transfer
	gts      []detection.GroundTruth
	parts    [3]train.LossPart
}

var _ train.Task[*data.Batch] = (*DetectionTask)(nil)

// NewDetectionTask loads the data of c and builds the model.
func NewDetectionTask(c *Config) (*DetectionTask, error) {
	t := &DetectionTask{detectionData: detectionData{cfg: c}, Post: detection.DefaultPost()}
	if err := t.loadData(c); err != nil {
		return nil, err
	}
	desc, err := c.Resolve()
	if err != nil {
		return nil, err
	}
	if t.Model, err = desc.NewRetinaNet(len(t.Train.Classes)); err != nil {
		return nil, err
	}
	if t.Transfer, err = c.transfer(desc, models.RetinaNetHead, t.Model.Graph()); err != nil {
		return nil, err
	}
	t.AnchorCfg = desc.Anchors()
	if t.Anchors, err = detection.NewAnchors(t.AnchorCfg, c.Input.Size, c.Input.Size); err != nil {
		return nil, err
	}
	return t, nil
}

// loadData reads the training and validation sets c names and validates
// them (bad annotations skipped and counted, or fatal if strict). COCO
// segmentations are read as masks for instance segmentation.
func (t *detectionData) loadData(c *Config) error {
	d := c.Data
	var err error
	switch d.Format {
	case "synthetic":
		n, nv := d.SyntheticTrain, d.SyntheticVal
		if n == 0 {
			n = 512
		}
		if nv == 0 {
			nv = 64
		}
		seed := d.SyntheticSeed
		if seed == 0 {
			seed = int64(c.Train.Seed)
		}
		all, src, err := data.GenerateShapesWith(data.ShapesConfig{N: n + nv, Size: c.Input.Size, Seed: seed,
			Classes: d.SyntheticClasses, MinSide: d.SyntheticMinSide, MaxSide: d.SyntheticMaxSide, LogUniform: d.SyntheticLogUniform})
		if err != nil {
			return &ConfigError{Key: "data.synthetic_*", Reason: err.Error(), Err: err}
		}
		t.Train, t.Val = data.Split(all, n)
		t.Source = src
	case "fmnist-mosaic":
		n, nv := d.MosaicTrain, d.MosaicVal
		if n == 0 {
			n = 512
		}
		if nv == 0 {
			nv = 64
		}
		seed := d.MosaicSeed
		if seed == 0 {
			seed = int64(c.Train.Seed)
		}
		trainItems, valItems, err := mosaic.Load(c.Path(d.MosaicDir))
		if err != nil {
			if errors.Is(err, mosaic.ErrNoDataset) {
				return &ConfigError{Key: "data.mosaic_dir", Reason: err.Error() + "; or set data.mosaic_dir to a directory holding the files", Err: err}
			}
			return err
		}
		if t.Train, t.Val, t.Source, err = mosaic.Splits(trainItems, valItems, n, nv, mosaic.Config{Size: c.Input.Size, Seed: seed,
			MinSide: d.MosaicMinSide, MaxSide: d.MosaicMaxSide, MaxItems: d.MosaicItems, Tint: d.MosaicTint, Merge: d.MosaicMerge}); err != nil {
			return &ConfigError{Key: "data.mosaic_*", Reason: err.Error(), Err: err}
		}
	case "coco":
		opt := data.COCOOptions{Masks: c.Task == TaskInstanceSegmentation}
		if t.Train, err = data.LoadCOCOWith(c.Path(d.TrainAnnotations), c.Path(d.TrainImages), opt); err != nil {
			return err
		}
		if d.ValAnnotations != "" {
			if t.Val, err = data.LoadCOCOWith(c.Path(d.ValAnnotations), c.Path(d.ValImages), opt); err != nil {
				return err
			}
		}
	case "voc":
		if t.Train, err = data.LoadVOC(c.Path(d.TrainAnnotations), c.Path(d.TrainImages), d.Classes); err != nil {
			return err
		}
		if d.ValAnnotations != "" {
			if t.Val, err = data.LoadVOC(c.Path(d.ValAnnotations), c.Path(d.ValImages), t.Train.Classes); err != nil {
				return err
			}
		}
	}
	if d.Limit > 0 && d.Limit < len(t.Train.Samples) {
		t.Train, _ = data.Split(t.Train, d.Limit)
	}
	switch {
	case t.Val != nil:
	case d.ValIsTrain:
		t.Val = t.Train
	case d.ValCount > 0:
		if d.ValCount >= len(t.Train.Samples) {
			return &ConfigError{Key: "data.val_count", Reason: fmt.Sprintf("%d, but the data has only %d images", d.ValCount, len(t.Train.Samples))}
		}
		t.Train, t.Val = data.Split(t.Train, len(t.Train.Samples)-d.ValCount)
	default:
		return &ConfigError{Key: "data", Reason: "no validation data: set val_annotations, val_count or val_is_train"}
	}
	vc := data.ValidateConfig{Strict: d.Strict}
	for _, split := range []struct {
		name string
		ds   *data.Dataset
	}{{"training", t.Train}, {"validation", t.Val}} {
		if split.name == "validation" && split.ds == t.Train {
			break // val_is_train: validated once
		}
		// The validation images' headers are read now: the evaluation
		// scores every image of the split, so one it cannot read must be
		// left out before training rather than fail the final evaluation.
		vc.CheckImages = split.name == "validation" && t.Source == nil
		rep, err := split.ds.Validate(vc)
		if err != nil {
			return err
		}
		t.Report.Merge(*rep)
		if len(split.ds.Samples) == 0 {
			return &ConfigError{Key: "data", Reason: fmt.Sprintf("the %s split is empty after checking the data: %s", split.name,
				strings.TrimSpace(strings.ReplaceAll(rep.String(), "\n", ";")))}
		}
	}
	t.ValGT = CocoGroundTruth(t.Val)
	return nil
}

// CocoGroundTruth converts a dataset into COCO ground truth for evaluation:
// boxes as [x y w h], crowd (and VOC difficult) objects as iscrowd, areas
// as recorded (segmentation area for COCO, box area otherwise), and each
// object's mask, when it has one, as its segmentation (RLE).
func CocoGroundTruth(ds *data.Dataset) *cocoeval.Dataset {
	gt := &cocoeval.Dataset{}
	for i, name := range ds.Classes {
		gt.Categories = append(gt.Categories, cocoeval.Category{ID: int64(ds.CategoryIDs[i]), Name: name})
	}
	id := int64(0)
	for _, s := range ds.Samples {
		gt.Images = append(gt.Images, cocoeval.Image{ID: s.ID, Width: s.Width, Height: s.Height, FileName: s.Path})
		for _, o := range s.Objects {
			id++
			b := o.Box
			area := float64(o.Area)
			if area <= 0 {
				area = float64(b.Area())
			}
			a := cocoeval.Annotation{ID: id, ImageID: s.ID, CategoryID: int64(o.CategoryID),
				BBox: b.XYWH(), HasBBox: true, Area: area, IsCrowd: o.Crowd}
			if o.Mask != nil {
				a.Segmentation = &cocoeval.Segmentation{RLE: &cocoeval.RLE{H: s.Height, W: s.Width, Counts: o.Mask.RLE(s.Width, s.Height)}}
			}
			gt.Annotations = append(gt.Annotations, a)
		}
	}
	return gt
}

// RunOptions returns the train.Options and output hooks of the config
// (Config.RunOptions) with a title naming the model and the data, and the
// task's Transfer (init report, frozen tensors).
func (t *DetectionTask) RunOptions(resume bool, progress, log io.Writer) (train.Options, []train.Hook, error) {
	c := t.cfg
	opt, hooks, err := c.RunOptions(t.StepsPerEpoch(), fmt.Sprintf("%s RetinaNet, %s", c.modelName(), t.Train.Name), resume, progress, log)
	t.Transfer.apply(&opt)
	return opt, hooks, err
}

// Graph implements train.Task.
func (t *DetectionTask) Graph() *nn.Graph { return t.Model.Graph() }

// StepsPerEpoch implements train.Task: full batches per epoch (the last
// partial batch is dropped).
func (t *detectionData) StepsPerEpoch() int {
	return max(len(t.Train.Samples)/t.cfg.Train.Batch, 1)
}

func (t *detectionData) transform() data.Transform {
	tr := data.DefaultTransform(t.cfg.Input.Size)
	tr.ScaleMin, tr.ScaleMax, tr.Flip = t.cfg.Input.ScaleMin, t.cfg.Input.ScaleMax, t.cfg.Input.Flip
	if t.cfg.Task == TaskInstanceSegmentation {
		tr.MaskPatch = maskrcnn.MaskPatchSize
	}
	return tr
}

// Epoch implements train.Task.
func (t *detectionData) Epoch(epoch, skip int) (train.Batches[*data.Batch], error) {
	l, err := data.NewLoader(t.Train, data.LoaderConfig{
		BatchSize: t.cfg.Train.Batch, Workers: t.cfg.Train.Workers, Shuffle: true, Seed: t.cfg.Train.Seed,
		DropLast: true, Epochs: 1, StartEpoch: epoch, SkipBatches: skip, Train: true,
		Transform: t.transform(), Source: t.Source, Strict: t.cfg.Data.Strict,
	})
	if err != nil {
		return nil, err
	}
	return &loaderBatches[*data.Batch]{
		next: func() (*data.Batch, bool, error) {
			batch, err := l.Next()
			if errors.Is(err, io.EOF) {
				return nil, false, nil
			}
			return batch, err == nil, err
		},
		halt: l.Close,
		close: func() error {
			t.LoaderReport = l.Report()
			return l.Close()
		},
	}, nil
}

// groundTruth converts a batch's objects to matcher input, leaving out
// crowd regions (spec §7: skipped in training).
func (t *DetectionTask) groundTruth(b *data.Batch) []detection.GroundTruth {
	n := b.Images.Dim(0)
	if cap(t.gts) < n {
		t.gts = make([]detection.GroundTruth, n)
	}
	gts := t.gts[:n]
	for i := range gts {
		gts[i].Boxes, gts[i].Classes = gts[i].Boxes[:0], gts[i].Classes[:0]
		for _, o := range b.Objects[i] {
			if o.Crowd {
				continue
			}
			gts[i].Boxes = append(gts[i].Boxes, o.Box)
			gts[i].Classes = append(gts[i].Classes, o.Class)
		}
	}
	return gts
}

// Loss implements train.Task: focal + Huber (spec §7), with the parts
// "class", "box" and "positives" (matched anchors per image).
func (t *DetectionTask) Loss(tp *autograd.Tape, b *data.Batch) (train.Loss, error) {
	outs := t.Model.Graph().Forward(tp, tp.Constant(b.Images))
	cls, boxes := t.Model.Outputs(outs)
	l, err := t.Model.Loss(tp, cls, boxes, t.Anchors, t.groundTruth(b), detection.DefaultLoss())
	if err != nil {
		return train.Loss{}, err
	}
	t.parts = [3]train.LossPart{
		{Name: "class", Value: float64(l.Class.Value.Data()[0])}, {Name: "box", Value: float64(l.Box.Value.Data()[0])},
		{Name: "positives", Value: float64(l.Positives) / float64(b.Images.Dim(0))},
	}
	return train.Loss{Total: l.Total, Parts: t.parts[:], Images: b.Images.Dim(0)}, nil
}

// Evaluate implements train.Task: COCO box AP of the current weights on the
// validation set (StatsMetrics), with the model running on dev. It stops
// with ctx.Err() between images once ctx is done.
func (t *DetectionTask) Evaluate(ctx context.Context, dev tensor.CPU) (train.Metrics, error) {
	dets, err := t.Detect(ctx, dev, t.Val, t.Source)
	if err != nil {
		return nil, err
	}
	res, err := cocoeval.Evaluate(t.ValGT, dets, "bbox")
	if err != nil {
		return nil, err
	}
	return StatsMetrics(res), nil
}

// StatsMetrics names the 12 COCO summary numbers in their order; AP, AP50
// and AP75 are the primary ones (logged and plotted), AP the headline.
func StatsMetrics(r *cocoeval.Result) train.Metrics {
	keys := []string{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"}
	m := make(train.Metrics, len(keys))
	for i, k := range keys {
		m[i] = train.Metric{Name: k, Value: r.Stats[i], Secondary: i >= 3}
	}
	return m
}

// Detect runs the current model (compiled for inference) over every image
// of ds with the evaluation transform and returns COCO detections in
// original image pixels with the dataset's category ids. The model runs on
// dev; it stops with ctx.Err() between images once ctx is done.
func (t *DetectionTask) Detect(ctx context.Context, dev tensor.CPU, ds *data.Dataset, src data.ImageSource) ([]cocoeval.Detection, error) {
	opt := predict.DefaultOptions()
	opt.Post = t.Post
	opt.Compile.Device = dev
	p, err := predict.NewDetector(t.Detector(), opt)
	if err != nil {
		return nil, err
	}
	return detectDataset(ctx, p, ds, src, t.cfg.Train.Workers)
}

// detectDataset runs a detector over a dataset (images decoded and
// transformed ahead on workers goroutines) and returns COCO detections in
// original pixels with the dataset's category ids.
func detectDataset(ctx context.Context, p *predict.Predictor, ds *data.Dataset, src data.ImageSource, workers int) ([]cocoeval.Detection, error) {
	// Strict: the ground truth holds every image, so one that cannot be
	// read must fail the evaluation (naming it) rather than count as missed.
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: 1, Workers: workers, Epochs: 1, Transform: p.Transform(), Source: src, Strict: true})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	var dets []cocoeval.Detection
	for b, err := range l.All() {
		if err != nil {
			return nil, err
		}
		found, err := p.DetectPrepared(ctx, b.Images, b.Placements[0])
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			dets = append(dets, cocoeval.Detection{ImageID: b.Samples[0].ID, CategoryID: int64(ds.CategoryIDs[f.Class]),
				BBox: f.Box.XYWH(), HasBBox: true, Score: float64(f.Score)})
		}
	}
	return dets, nil
}

// Detector returns the task's model with the anchors, classes and input
// size that describe it in a weights file.
func (t *DetectionTask) Detector() *detection.Detector {
	return &detection.Detector{Model: t.Model, Anchors: t.AnchorCfg, Classes: t.Train.Classes, CategoryIDs: t.Train.CategoryIDs, InputSize: t.cfg.Input.Size}
}

// Metadata implements train.Task: the backbone's description plus the
// head, anchors, classes and input size, so detect needs only the file.
func (t *DetectionTask) Metadata() (map[string]string, error) { return t.Detector().Metadata() }

// EvaluateDetection scores a RetinaNet weights file (model.safetensors of a
// training run) with COCO box AP on the validation data of c. The model,
// its anchors and input size come from the file; c supplies the data. It
// stops with ctx.Err() between images once ctx is done.
func EvaluateDetection(ctx context.Context, c *Config, weightsPath string) (*cocoeval.Result, error) {
	if c.Task != "detection" {
		return nil, &ConfigError{Key: "task", Reason: fmt.Sprintf("%q, want detection", c.Task)}
	}
	d, err := detection.LoadDetector(weightsPath)
	if err != nil {
		return nil, err
	}
	t := &DetectionTask{detectionData: detectionData{cfg: c}, Post: detection.DefaultPost()}
	if err := t.loadData(c); err != nil {
		return nil, err
	}
	if len(t.Val.Classes) != len(d.Classes) {
		return nil, fmt.Errorf("recipe: %s has %d classes, the data %d", weightsPath, len(d.Classes), len(t.Val.Classes))
	}
	p, err := predict.NewDetector(d, predict.DefaultOptions())
	if err != nil {
		return nil, err
	}
	dets, err := detectDataset(ctx, p, t.Val, t.Source, c.Train.Workers)
	if err != nil {
		return nil, err
	}
	return cocoeval.Evaluate(t.ValGT, dets, "bbox")
}
