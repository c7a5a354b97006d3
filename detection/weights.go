package detection

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// Weights-file metadata of a detector, next to spinenet's model metadata.
const (
	MetaHead    = "retinanet.head"            // HeadConfig as JSON
	MetaAnchors = "retinanet.anchors"         // AnchorConfig as JSON
	MetaClasses = "retinanet.classes"         // class names, index = class, as JSON
	MetaCatIDs  = "retinanet.category_ids"    // dataset category id per class, as JSON
	MetaSize    = "retinanet.input_size"      // the square input size trained at
	metaAct     = "retinanet.head_activation" // the head activation name
)

// Detector is a trained RetinaNet as stored in a weights file: the model,
// its anchors and what its classes mean.
type Detector struct {
	// Model is the backbone and head with the file's weights loaded.
	Model *Model
	// Anchors configures the anchors the head was trained with
	// (MetaAnchors); lay them out with NewAnchors at InputSize.
	Anchors AnchorConfig
	// Classes[i] is the name of class index i (MetaClasses), one per
	// HeadConfig.NumClasses.
	Classes []string
	// CategoryIDs[i] is the dataset's category id for class index i
	// (MetaCatIDs), e.g. the sparse COCO id to write into results files.
	CategoryIDs []int
	// InputSize is the side in pixels of the square network input the
	// detector was trained at (MetaSize); images are resized and padded to
	// it.
	InputSize int
}

// Metadata returns the weights-file metadata describing d (backbone, head,
// anchors, classes, input size).
func (d *Detector) Metadata() (map[string]string, error) {
	meta, err := d.Model.Backbone.Metadata("retinanet")
	if err != nil {
		return nil, err
	}
	head := d.Model.Config
	hj, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	aj, err := json.Marshal(d.Anchors)
	if err != nil {
		return nil, err
	}
	cj, err := json.Marshal(d.Classes)
	if err != nil {
		return nil, err
	}
	ij, err := json.Marshal(d.CategoryIDs)
	if err != nil {
		return nil, err
	}
	maps.Copy(meta, map[string]string{MetaHead: string(hj), MetaAnchors: string(aj), MetaClasses: string(cj),
		MetaCatIDs: string(ij), MetaSize: strconv.Itoa(d.InputSize), metaAct: head.Activation.String()})
	return meta, nil
}

// LoadDetector rebuilds the detector a weights file describes and loads
// its weights.
func LoadDetector(path string) (*Detector, error) {
	sd, meta, err := nn.ReadStateDict(path)
	if err != nil {
		return nil, err
	}
	return DetectorFromStateDict(path, sd, meta)
}

// DetectorFromStateDict rebuilds the detector that the metadata of a
// weights file read with nn.ReadStateDict describes and loads its weights;
// path names the file in errors.
func DetectorFromStateDict(path string, sd map[string]*tensor.Tensor, meta map[string]string) (*Detector, error) {
	if meta[spinenet.MetaTask] != "retinanet" {
		return nil, fmt.Errorf("detection: %s is not a RetinaNet weights file (task %q)", path, meta[spinenet.MetaTask])
	}
	arch, opt, err := spinenet.ArchFromMetadata(path, meta)
	if err != nil {
		return nil, err
	}
	d := &Detector{}
	var head HeadConfig
	for key, dst := range map[string]any{MetaHead: &head, MetaAnchors: &d.Anchors, MetaClasses: &d.Classes, MetaCatIDs: &d.CategoryIDs, MetaSize: &d.InputSize} {
		s, ok := meta[key]
		if !ok {
			return nil, fmt.Errorf("detection: %s: metadata %q missing", path, key)
		}
		if err := json.Unmarshal([]byte(s), dst); err != nil {
			return nil, fmt.Errorf("detection: %s: metadata %q: %w", path, key, err)
		}
	}
	if head.Activation, err = tensor.ParseActivation(meta[metaAct]); err != nil {
		return nil, fmt.Errorf("detection: %s: %w", path, err)
	}
	if len(d.Classes) != head.NumClasses || len(d.CategoryIDs) != head.NumClasses {
		return nil, fmt.Errorf("detection: %s: %d class names and %d category ids for %d classes", path, len(d.Classes), len(d.CategoryIDs), head.NumClasses)
	}
	opt.SkipInit = true
	if d.Model, err = NewRetinaNet(arch, opt, head); err != nil {
		return nil, err
	}
	if err := d.Model.Graph().LoadStateDict(sd, path); err != nil {
		return nil, err
	}
	return d, nil
}

// OutputTensors picks the head's class and box outputs per level out of
// the graph outputs of a compiled run (infer.Arena.Run), in level order.
func (m *Model) OutputTensors(outs []*tensor.Tensor) (cls, boxes []*tensor.Tensor) {
	g := m.Graph()
	pos := make(map[int]int, len(g.Outputs))
	for i, id := range g.Outputs {
		pos[id] = i
	}
	for _, l := range m.Head.Levels {
		cls = append(cls, outs[pos[m.Head.Class[l]]])
		boxes = append(boxes, outs[pos[m.Head.Box[l]]])
	}
	return cls, boxes
}
