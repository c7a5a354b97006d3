package maskrcnn

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// Task is the weights-file task of a Mask R-CNN (spinenet.MetaTask).
const Task = "maskrcnn"

// Metadata keys of a Mask R-CNN weights file, beside the backbone's.
const (
	MetaConfig  = "maskrcnn.config"       // Config as JSON (activation apart)
	MetaAct     = "maskrcnn.activation"   // the heads' activation name
	MetaClasses = "maskrcnn.classes"      // class names (without background), as JSON
	MetaCatIDs  = "maskrcnn.category_ids" // dataset category id per class, as JSON
	MetaSize    = "maskrcnn.input_size"   // the square input size trained at
)

// Detector is a Mask R-CNN with what a weights file records to use it: the
// class names (Classes[c] for the model's class index c+1) and their
// dataset category ids, and the input size.
type Detector struct {
	Model       *Model
	Classes     []string
	CategoryIDs []int
	InputSize   int
}

// Metadata describes the detector for its weights file.
func (d *Detector) Metadata() (map[string]string, error) {
	meta, err := d.Model.Backbone.Metadata(Task)
	if err != nil {
		return nil, err
	}
	enc := map[string]any{MetaConfig: d.Model.Config, MetaClasses: d.Classes, MetaCatIDs: d.CategoryIDs}
	for k, v := range enc {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		meta[k] = string(b)
	}
	maps.Copy(meta, map[string]string{MetaAct: d.Model.Config.Activation.String(), MetaSize: strconv.Itoa(d.InputSize)})
	return meta, nil
}

// LoadDetector rebuilds the Mask R-CNN a weights file describes and loads
// its weights.
func LoadDetector(path string) (*Detector, error) {
	sd, meta, err := nn.ReadStateDict(path)
	if err != nil {
		return nil, err
	}
	if meta[spinenet.MetaTask] != Task {
		return nil, fmt.Errorf("maskrcnn: %s is not a Mask R-CNN weights file (task %q)", path, meta[spinenet.MetaTask])
	}
	arch, opt, err := spinenet.ArchFromMetadata(path, meta)
	if err != nil {
		return nil, err
	}
	d := &Detector{}
	var c Config
	for key, dst := range map[string]any{MetaConfig: &c, MetaClasses: &d.Classes, MetaCatIDs: &d.CategoryIDs, MetaSize: &d.InputSize} {
		s, ok := meta[key]
		if !ok {
			return nil, fmt.Errorf("maskrcnn: %s: metadata %q missing", path, key)
		}
		if err := json.Unmarshal([]byte(s), dst); err != nil {
			return nil, fmt.Errorf("maskrcnn: %s: metadata %q: %w", path, key, err)
		}
	}
	if c.Activation, err = tensor.ParseActivation(meta[MetaAct]); err != nil {
		return nil, fmt.Errorf("maskrcnn: %s: %w", path, err)
	}
	if len(d.Classes) != c.NumClasses-1 || len(d.CategoryIDs) != c.NumClasses-1 {
		return nil, fmt.Errorf("maskrcnn: %s: %d class names and %d category ids for %d classes and background", path, len(d.Classes), len(d.CategoryIDs), c.NumClasses-1)
	}
	opt.SkipInit = true
	if d.Model, err = New(arch, opt, c); err != nil {
		return nil, err
	}
	if err := d.Model.Graph().LoadStateDict(sd, path); err != nil {
		return nil, err
	}
	return d, nil
}
