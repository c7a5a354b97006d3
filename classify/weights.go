package classify

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// Metadata keys a classification weights file adds to the backbone's
// (spinenet.Backbone.Metadata with task "classification"), so that the
// model can be rebuilt and used without its training config.
const (
	MetaNumClasses = "classify.num_classes" // decimal
	MetaClasses    = "classify.classes"     // JSON list of class names
	MetaDropout    = "classify.dropout"     // decimal
	MetaInput      = "classify.input"       // JSON Input: size, channels, mean, std
)

// Task is the spinenet.MetaTask value of classification weights files.
const Task = "classification"

// Input is the preprocessing a classifier was trained with: images are
// resized to Size×Size with Channels channels (1 or 3) and normalised as
// (pixel/255 − Mean[c]) / Std[c].
type Input struct {
	// Size is the side in pixels of the square network input (≥ 1).
	Size int `json:"size"`
	// Channels is the network's input channel count: 1 (grayscale) or 3
	// (RGB).
	Channels int `json:"channels"`
	// Mean is the per-channel mean in [0, 1] space (only index 0 is used
	// when Channels is 1), e.g. ImageNet's [0.485 0.456 0.406].
	Mean [3]float32 `json:"mean"`
	// Std is the per-channel standard deviation in [0, 1] space, > 0 for
	// every used channel.
	Std [3]float32 `json:"std"`
}

// Classifier is a trained classifier as stored in a weights file: the
// model, the names of its classes and its input preprocessing.
type Classifier struct {
	// Model is the backbone and head with the file's weights loaded.
	Model *Model
	// Classes names the classes by index; it may be shorter than
	// NumClasses (unnamed classes) or empty.
	Classes []string
	// Input is the preprocessing to apply to images before the model.
	Input Input
}

// Metadata returns the weights-file metadata describing c: the backbone
// with task "classification", the head and the input preprocessing.
func (c *Classifier) Metadata() (map[string]string, error) {
	meta, err := c.Model.Backbone.Metadata(Task)
	if err != nil {
		return nil, err
	}
	classes, err := json.Marshal(c.Classes)
	if err != nil {
		return nil, err
	}
	in, err := json.Marshal(c.Input)
	if err != nil {
		return nil, err
	}
	meta[MetaNumClasses] = strconv.Itoa(c.Model.Config.NumClasses)
	meta[MetaClasses] = string(classes)
	meta[MetaDropout] = strconv.FormatFloat(c.Model.Config.Dropout, 'g', -1, 64)
	meta[MetaInput] = string(in)
	return meta, nil
}

// LoadClassifier rebuilds the classifier a weights file describes and
// loads its weights.
func LoadClassifier(path string) (*Classifier, error) {
	sd, meta, err := nn.ReadStateDict(path)
	if err != nil {
		return nil, err
	}
	return ClassifierFromStateDict(path, sd, meta)
}

// ClassifierFromStateDict rebuilds the classifier that the metadata of a
// weights file read with nn.ReadStateDict describes and loads its weights;
// path names the file in errors.
func ClassifierFromStateDict(path string, sd map[string]*tensor.Tensor, meta map[string]string) (*Classifier, error) {
	if meta[spinenet.MetaTask] != Task {
		return nil, fmt.Errorf("classify: %s: task %q, want a classification weights file", path, meta[spinenet.MetaTask])
	}
	arch, opt, err := spinenet.ArchFromMetadata(path, meta)
	if err != nil {
		return nil, err
	}
	k, err := strconv.Atoi(meta[MetaNumClasses])
	if err != nil {
		return nil, fmt.Errorf("classify: %s: metadata %s: %w", path, MetaNumClasses, err)
	}
	c := &Classifier{}
	if err := json.Unmarshal([]byte(meta[MetaInput]), &c.Input); err != nil {
		return nil, fmt.Errorf("classify: %s: metadata %s: %w", path, MetaInput, err)
	}
	if c.Input.Size < 1 || (c.Input.Channels != 1 && c.Input.Channels != 3) {
		return nil, fmt.Errorf("classify: %s: metadata %s: size %d and %d channels, want size ≥ 1 and 1 or 3 channels", path, MetaInput, c.Input.Size, c.Input.Channels)
	}
	head := HeadConfig{NumClasses: k}
	if s, ok := meta[MetaDropout]; ok {
		if head.Dropout, err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("classify: %s: metadata %s: %w", path, MetaDropout, err)
		}
	}
	if s, ok := meta[MetaClasses]; ok {
		if err := json.Unmarshal([]byte(s), &c.Classes); err != nil {
			return nil, fmt.Errorf("classify: %s: metadata %s: %w", path, MetaClasses, err)
		}
		if len(c.Classes) > k {
			return nil, fmt.Errorf("classify: %s: metadata %s: %d names for %d classes", path, MetaClasses, len(c.Classes), k)
		}
	}
	opt.SkipInit = true
	if c.Model, err = NewClassifier(arch, opt, head); err != nil {
		return nil, err
	}
	if err := c.Model.Graph().LoadStateDict(sd, path); err != nil {
		return nil, err
	}
	return c, nil
}
