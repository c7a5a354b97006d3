package recipe

import (
	"context"
	"fmt"
	"io"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/classify"
	"github.com/spinenet-go/spinenet/data/labeled"
	"github.com/spinenet-go/spinenet/infer"
	"github.com/spinenet-go/spinenet/models"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
	"github.com/spinenet-go/spinenet/train"
)

// Metadata keys of classification weights files (classify.Meta*).
const (
	MetaNumClasses = classify.MetaNumClasses
	MetaClasses    = classify.MetaClasses
	MetaDropout    = classify.MetaDropout
	MetaInput      = classify.MetaInput
)

var _ train.Task[*labeled.Batch] = (*ClassificationTask)(nil)

// evalBatch is the batch size of evaluation (inference only).
const evalBatch = 250

// ClassificationTask trains a SpineNet classifier (spec §5.7) on an IDX or
// ImageFolder set; it implements train.Task.
//
// Input: a 1-channel IDX set (MNIST, Fashion-MNIST) feeds a 1-channel stem
// when model.input_channels is 1 (replicating gray to 3 channels gives the
// same function class at a 3× larger stem kernel, so 1 is the better choice),
// or is replicated to RGB when it is 3. IDX images are normalised with the
// training set's own pixel mean and standard deviation (Fashion-MNIST:
// 0.2860, 0.3530), RGB images with the ImageNet statistics. See
// labeled.Transform for resizing and augmentation.
type ClassificationTask struct {
	Config *Config
	Model  *classify.Model
	// Train and Val are the training and evaluation sets.
	Train, Val *labeled.Set
	// Transform is the evaluation preprocessing; training adds Augment.
	Transform labeled.Transform
	Augment   labeled.Augment
	// Transfer is what model.init loaded and train.freeze froze.
	Transfer Transfer

	logits int // index of "logits" among the graph outputs
	prob   *tensor.Tensor
	parts  [2]train.LossPart
}

// NewClassificationTask loads the data of c and builds the model.
//
// Data (c.Data): for format idx, train_images/train_annotations are the
// training images and labels files, val_images/val_annotations the test set;
// for imagefolder, train_images and val_images are ImageFolder roots. Without
// a validation set, val_count holds out the last val_count training samples
// (val_is_train evaluates on the training set). limit keeps the first limit
// training samples; classes names (IDX) or selects and orders (ImageFolder)
// the classes.
func NewClassificationTask(c *Config) (*ClassificationTask, error) {
	if c.Task != "classification" {
		return nil, &ConfigError{Key: "task", Reason: fmt.Sprintf("%q, want classification", c.Task)}
	}
	tr, val, err := loadLabeledSets(c)
	if err != nil {
		return nil, err
	}
	t := &ClassificationTask{Config: c, Train: tr, Val: val}
	t.Transform, err = inputTransform(c, tr)
	if err != nil {
		return nil, err
	}
	t.Augment = labeled.Augment{Flip: c.Input.Flip, CropPad: c.Input.CropPad, RandomWindow: c.Data.Format == "imagefolder"}
	desc, err := c.Resolve()
	if err != nil {
		return nil, err
	}
	if t.Model, err = desc.NewClassifier(len(tr.Classes), c.Model.Dropout); err != nil {
		return nil, &ConfigError{Key: "model", Reason: err.Error(), Err: err}
	}
	if err := t.setup(); err != nil {
		return nil, err
	}
	if t.Transfer, err = c.transfer(desc, models.Classification, t.Model.Graph()); err != nil {
		return nil, err
	}
	if t.StepsPerEpoch() < 1 {
		return nil, &ConfigError{Key: "train.batch", Reason: fmt.Sprintf("%d is larger than the %d training images", c.Train.Batch, tr.N)}
	}
	return t, nil
}

func (t *ClassificationTask) setup() error {
	g := t.Model.Graph()
	t.logits = -1
	for i, name := range g.OutputNames {
		if name == "logits" {
			t.logits = i
		}
	}
	if t.logits < 0 {
		return fmt.Errorf("recipe: the classifier graph has no logits output")
	}
	if t.Transform.Channels != g.Nodes[g.Inputs[0]].Channels {
		return fmt.Errorf("recipe: input has %d channels, the model %d", t.Transform.Channels, g.Nodes[g.Inputs[0]].Channels)
	}
	return nil
}

// loadLabeledSets reads the training and validation sets of c.
func loadLabeledSets(c *Config) (tr, val *labeled.Set, err error) {
	d := c.Data
	need := func(key, v string) error {
		if v == "" {
			return &ConfigError{Key: key, Reason: fmt.Sprintf("required for format %s", d.Format)}
		}
		return nil
	}
	if err := need("data.train_images", d.TrainImages); err != nil {
		return nil, nil, err
	}
	hasVal := d.ValImages != ""
	switch d.Format {
	case "idx":
		if err := need("data.train_annotations", d.TrainAnnotations); err != nil {
			return nil, nil, err
		}
		if tr, err = labeled.ReadIDX(c.Path(d.TrainImages), c.Path(d.TrainAnnotations)); err != nil {
			return nil, nil, err
		}
		if hasVal {
			if err := need("data.val_annotations", d.ValAnnotations); err != nil {
				return nil, nil, err
			}
			if val, err = labeled.ReadIDX(c.Path(d.ValImages), c.Path(d.ValAnnotations)); err != nil {
				return nil, nil, err
			}
		}
		// The label count is the larger of the two sets' (a small subset
		// may miss the last class).
		if val != nil && len(val.Classes) > len(tr.Classes) {
			tr.Classes = val.Classes
		}
		if len(d.Classes) > 0 {
			if err := tr.WithClasses(d.Classes); err != nil {
				return nil, nil, &ConfigError{Key: "data.classes", Reason: err.Error(), Err: err}
			}
		}
		if val != nil {
			if err := val.WithClasses(tr.Classes); err != nil {
				return nil, nil, &ConfigError{Key: "data.val_annotations", Reason: err.Error(), Err: err}
			}
		}
	case "imagefolder":
		if d.TrainAnnotations != "" || d.ValAnnotations != "" {
			return nil, nil, &ConfigError{Key: "data.train_annotations", Reason: "not used by imagefolder (labels are the directory names)"}
		}
		if tr, err = labeled.ReadImageFolder(c.Path(d.TrainImages), d.Classes); err != nil {
			return nil, nil, err
		}
		if hasVal {
			if val, err = labeled.ReadImageFolder(c.Path(d.ValImages), tr.Classes); err != nil {
				return nil, nil, err
			}
		}
	default:
		return nil, nil, &ConfigError{Key: "data.format", Reason: fmt.Sprintf("%q, want idx or imagefolder for classification", d.Format)}
	}
	switch {
	case val != nil:
	case d.ValIsTrain:
	case d.ValCount > 0:
		if d.ValCount >= tr.N {
			return nil, nil, &ConfigError{Key: "data.val_count", Reason: fmt.Sprintf("%d, but there are only %d training images", d.ValCount, tr.N)}
		}
		val = tr.Slice(tr.N-d.ValCount, tr.N)
		tr = tr.Slice(0, tr.N-d.ValCount)
	default:
		return nil, nil, &ConfigError{Key: "data.val_images", Reason: "set a validation set, val_count or val_is_train"}
	}
	tr = tr.Subset(d.Limit)
	if d.ValIsTrain && val == nil {
		val = tr
	}
	return tr, val, nil
}

// inputTransform is the evaluation preprocessing of c for training set tr.
func inputTransform(c *Config, tr *labeled.Set) (labeled.Transform, error) {
	t := labeled.Transform{Size: c.Input.Size, Channels: c.Model.InputChannels}
	if tr.C == 1 {
		m, s, err := tr.Stats()
		if err != nil {
			return t, err
		}
		t.Mean = [3]float32{float32(m), float32(m), float32(m)}
		t.Std = [3]float32{float32(s), float32(s), float32(s)}
	} else {
		t.Mean, t.Std = labeled.ImageNetMean, labeled.ImageNetStd
		if t.Channels == 1 { // luma of the ImageNet statistics
			t.Mean[0] = 0.299*t.Mean[0] + 0.587*t.Mean[1] + 0.114*t.Mean[2]
			t.Std[0] = 0.226
		}
	}
	if c.Input.CropPad < 0 || c.Input.CropPad >= c.Input.Size {
		return t, &ConfigError{Key: "input.crop_pad", Reason: fmt.Sprintf("%d, want 0 ≤ crop_pad < size", c.Input.CropPad)}
	}
	return t, t.Check()
}

// Graph implements train.Task.
func (t *ClassificationTask) Graph() *nn.Graph { return t.Model.Graph() }

// StepsPerEpoch is the number of full batches (the last partial batch is
// dropped so batch-norm statistics always see a full batch).
func (t *ClassificationTask) StepsPerEpoch() int {
	return labeled.NumBatches(t.Train.N, t.Config.Train.Batch, true)
}

// Epoch returns the shuffled, augmented batches of an epoch; order and
// augmentation depend only on train.seed and the epoch.
func (t *ClassificationTask) Epoch(epoch, skip int) (train.Batches[*labeled.Batch], error) {
	tf := t.Transform
	tf.Augment = t.Augment
	l, err := labeled.NewLoader(t.Train, labeled.LoaderConfig{
		BatchSize: t.Config.Train.Batch, Transform: tf, Seed: t.Config.Train.Seed, Epoch: epoch,
		Shuffle: true, DropLast: true, Skip: skip, Workers: t.Config.Train.Workers,
	})
	if err != nil {
		return nil, err
	}
	return &loaderBatches[*labeled.Batch]{
		next: func() (*labeled.Batch, bool, error) {
			batch, err := l.NextBatch()
			return batch, batch != nil && err == nil, err
		},
		halt: l.Close, close: l.Close,
	}, nil
}

// Loss is the softmax cross-entropy with model.label_smoothing; parts are
// the batch's top-1 accuracy "acc" and the unsmoothed cross-entropy "ce".
func (t *ClassificationTask) Loss(tp *autograd.Tape, b *labeled.Batch) (train.Loss, error) {
	out := t.Graph().Forward(tp, tp.Constant(b.Images))
	logits := out[t.logits]
	loss := tp.SoftmaxCrossEntropy(logits, b.Labels, t.Config.Model.LabelSmoothing)
	ce := float64(loss.Value.Data()[0])
	if t.Config.Model.LabelSmoothing > 0 {
		ce = t.crossEntropy(logits.Value, b.Labels) / float64(len(b.Labels))
	}
	t.parts = [2]train.LossPart{{Name: "acc", Value: autograd.TopKAccuracy(logits.Value, b.Labels, 1)}, {Name: "ce", Value: ce}}
	return train.Loss{Total: loss, Parts: t.parts[:], Images: len(b.Labels)}, nil
}

// crossEntropy is the summed unsmoothed cross-entropy of logits [N, K].
func (t *ClassificationTask) crossEntropy(logits *tensor.Tensor, labels []int32) float64 {
	if t.prob == nil || !tensor.SameShape(t.prob, logits) {
		t.prob = tensor.New(logits.Shape()...)
	}
	return tensor.SoftmaxCrossEntropy(t.prob, logits, labels, 0)
}

// Evaluate runs the model in inference mode (batch norm with moving
// statistics, no dropout or stochastic depth; compiled with infer) over the
// validation set and returns "top1" (the headline), "top5" (fractions) and
// the secondary "loss" (mean unsmoothed cross-entropy).
//
// It stops with ctx.Err() between batches once ctx is done.
func (t *ClassificationTask) Evaluate(ctx context.Context, dev tensor.CPU) (train.Metrics, error) {
	run, err := t.predictor(dev)
	if err != nil {
		return nil, err
	}
	ld, err := labeled.NewLoader(t.Val, labeled.LoaderConfig{BatchSize: min(evalBatch, t.Val.N), Transform: t.Transform, Workers: t.Config.Train.Workers})
	if err != nil {
		return nil, err
	}
	defer ld.Close()
	k := t.Model.Config.NumClasses
	var top1, top5 int
	var ce float64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := ld.NextBatch()
		if err != nil {
			return nil, err
		}
		if b == nil {
			break
		}
		logits, err := run(b.Images)
		if err != nil {
			return nil, err
		}
		top1 += tensor.TopKCorrect(logits, b.Labels, 1)
		top5 += tensor.TopKCorrect(logits, b.Labels, min(5, k))
		ce += t.crossEntropy(logits, b.Labels)
	}
	n := float64(t.Val.N)
	return train.Metrics{{Name: "top1", Value: float64(top1) / n}, {Name: "top5", Value: float64(top5) / n}, {Name: "loss", Value: ce / n, Secondary: true}}, nil
}

// predictor returns a function computing the logits of a batch with the
// graph compiled for inference. A graph that does not compile is an error:
// falling back to the tape would hide the bug. It runs on dev.
func (t *ClassificationTask) predictor(dev tensor.CPU) (func(*tensor.Tensor) (*tensor.Tensor, error), error) {
	copt := infer.DefaultOptions()
	copt.Device = dev
	m, err := infer.Compile(t.Graph(), copt)
	if err != nil {
		return nil, fmt.Errorf("recipe: compiling the classifier for evaluation: %w", err)
	}
	arena := m.NewArena()
	return func(x *tensor.Tensor) (*tensor.Tensor, error) {
		out, err := arena.Run(x)
		if err != nil {
			return nil, err
		}
		return out[t.logits], nil
	}, nil
}

// Metadata is the backbone's metadata with task "classification" plus the
// head (class count and names, dropout) and the input preprocessing
// (classify.Classifier.Metadata).
func (t *ClassificationTask) Metadata() (map[string]string, error) {
	return t.Classifier().Metadata()
}

// Classifier returns the task's model with the class names and input
// preprocessing that describe it in a weights file.
func (t *ClassificationTask) Classifier() *classify.Classifier {
	return &classify.Classifier{Model: t.Model, Classes: t.Train.Classes,
		Input: classify.Input{Size: t.Transform.Size, Channels: t.Transform.Channels, Mean: t.Transform.Mean, Std: t.Transform.Std}}
}

// RunOptions returns the train.Options and output hooks of the config
// (Config.RunOptions) with a title naming the model and the data.
func (t *ClassificationTask) RunOptions(resume bool, progress, log io.Writer) (train.Options, []train.Hook, error) {
	c := t.Config
	opt, hooks, err := c.RunOptions(t.StepsPerEpoch(), fmt.Sprintf("%s classification, %s", c.modelName(), t.Train.Source), resume, progress, log)
	t.Transfer.apply(&opt)
	return opt, hooks, err
}

// TrainClassification loads the data, builds the model and trains it as c
// describes (train.Run: checkpoints, resume, progress bar, metrics log,
// plot), writing to c.Train.Output. Cancelling ctx stops it between steps
// with a checkpoint (see train.Run).
func TrainClassification(ctx context.Context, c *Config, resume bool, progress, log io.Writer) (*train.Summary, error) {
	t, err := NewClassificationTask(c)
	if err != nil {
		return nil, err
	}
	opt, hooks, err := t.RunOptions(resume, progress, log)
	if err != nil {
		return nil, err
	}
	if log != nil {
		acc, _ := t.Graph().Account(t.Transform.Size, t.Transform.Size)
		params := 0
		if acc != nil {
			params = acc.TrainableParams
		}
		fmt.Fprintf(log, "classification: %d training / %d validation images, %d classes, input %d×%d×%d, %d parameters, %d steps (%d per epoch)\n",
			t.Train.N, t.Val.N, len(t.Train.Classes), t.Transform.Size, t.Transform.Size, t.Transform.Channels, params, opt.Steps, t.StepsPerEpoch())
	}
	t.Transfer.log(log, c)
	sum, err := train.Run(ctx, t, opt, hooks...)
	return sum, c.keptWeights(err)
}

// EvaluateClassification evaluates a classification weights file (written
// by train.Run as model.safetensors) on the validation set of c. The model
// and its preprocessing come from the file's metadata; c supplies the data.
func EvaluateClassification(ctx context.Context, c *Config, weightsPath string) (train.Metrics, error) {
	t, err := LoadClassificationTask(c, weightsPath)
	if err != nil {
		return nil, err
	}
	return t.Evaluate(ctx, tensor.DefaultCPU())
}

// LoadClassificationTask loads the data of c and the model of a
// classification weights file.
func LoadClassificationTask(c *Config, weightsPath string) (*ClassificationTask, error) {
	if c.Task != "classification" {
		return nil, &ConfigError{Key: "task", Reason: fmt.Sprintf("%q, want classification", c.Task)}
	}
	cl, err := classify.LoadClassifier(weightsPath)
	if err != nil {
		return nil, err
	}
	m, k, in := cl.Model, cl.Model.Config.NumClasses, cl.Input
	tr, val, err := loadLabeledSets(c)
	if err != nil {
		return nil, err
	}
	if len(tr.Classes) > k {
		return nil, fmt.Errorf("recipe: %s has %d classes, the data %d", weightsPath, k, len(tr.Classes))
	}
	if len(cl.Classes) == k {
		tr.Classes = cl.Classes
	}
	t := &ClassificationTask{Config: c, Model: m, Train: tr, Val: val,
		Transform: labeled.Transform{Size: in.Size, Channels: in.Channels, Mean: in.Mean, Std: in.Std}}
	if err := t.Transform.Check(); err != nil {
		return nil, fmt.Errorf("recipe: %s: metadata %s: %w", weightsPath, MetaInput, err)
	}
	if err := t.setup(); err != nil {
		return nil, err
	}
	return t, nil
}
