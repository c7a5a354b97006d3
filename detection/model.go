package detection

import (
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
)

// Model is a SpineNet backbone with a RetinaNet head in one graph.
type Model struct {
	// Backbone is the SpineNet backbone; its Graph also holds the head.
	Backbone *spinenet.Backbone
	// Head names the head's output nodes in that graph, per level.
	Head *Head
	// Config is the head configuration the model was built with
	// (NumClasses sizes the class outputs and the loss targets).
	Config HeadConfig
	// Matcher assigns anchors to ground truth for training.
	Matcher Matcher

	match []int32   // scratch: per-anchor match of the current image
	iou   []float32 // scratch: IoU matrix
}

// Graph returns the model's graph.
func (m *Model) Graph() *nn.Graph { return m.Backbone.Graph }

// NewRetinaNet builds the backbone for arch with opt and attaches a
// RetinaNet head to its endpoints P(min)…P(max).
func NewRetinaNet(arch *spinenet.Arch, opt spinenet.Options, head HeadConfig) (*Model, error) {
	bb, err := spinenet.Build(arch, opt)
	if err != nil {
		return nil, err
	}
	s := nn.NewScope(bb.Graph, opt.Seed+1)
	s.BN = opt.BN
	s.SkipInit, s.ShapeOnly = opt.SkipInit, opt.ShapeOnly
	var levels []int
	for l := arch.MinLevel; l <= arch.MaxLevel; l++ {
		levels = append(levels, l)
	}
	h, err := BuildHead(s.Sub("head"), bb.Endpoints, levels, head)
	if err != nil {
		return nil, err
	}
	return &Model{Backbone: bb, Head: h, Config: head, Matcher: DefaultMatcher()}, nil
}
