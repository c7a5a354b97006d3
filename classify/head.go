// Package classify is image classification on a SpineNet backbone (spec
// §5.7): the aggregation head. Training and evaluation live in package
// recipe.
package classify

import (
	"fmt"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
)

// HeadConfig configures the classification head.
type HeadConfig struct {
	// NumClasses is the width of the final dense layer (1001 for ImageNet,
	// with background index 0).
	NumClasses int
	// Dropout before the dense layer (0 in the official configs).
	Dropout float64
}

// Model is a SpineNet backbone with the classification head in one graph;
// its output "logits" is [N, NumClasses].
type Model struct {
	// Backbone is the SpineNet backbone; its Graph also holds the head.
	Backbone *spinenet.Backbone
	// Config is the head configuration the model was built with.
	Config HeadConfig
	// Logits is the graph node id of the "logits" output, the raw
	// pre-softmax scores.
	Logits int
}

// Graph returns the model's graph.
func (m *Model) Graph() *nn.Graph { return m.Backbone.Graph }

// NewClassifier builds the backbone for arch and adds the head of spec
// §5.7 (TPU ClassificationHead, aggregation 'all'): starting from the
// coarsest endpoint, resize to the next finer level by nearest neighbour
// and add that level, down to P(min); divide by the number of levels; global
// average pool; optional dropout; dense with bias (init N(0, 0.01)).
func NewClassifier(arch *spinenet.Arch, opt spinenet.Options, c HeadConfig) (*Model, error) {
	if c.NumClasses < 1 || !(c.Dropout >= 0 && c.Dropout < 1) {
		return nil, fmt.Errorf("classify: bad head config %+v", c)
	}
	bb, err := spinenet.Build(arch, opt)
	if err != nil {
		return nil, err
	}
	root := nn.NewScope(bb.Graph, opt.Seed+2)
	root.SkipInit, root.ShapeOnly = opt.SkipInit, opt.ShapeOnly
	s := root.Sub("head").WithGroup("head")
	x := bb.Endpoints[arch.MaxLevel]
	for l := arch.MaxLevel - 1; l >= arch.MinLevel; l-- {
		up := s.Resize(x, fmt.Sprintf("upsample_P%d", l), l)
		x = s.Add(fmt.Sprintf("add_P%d", l), up, bb.Endpoints[l])
	}
	x = s.Scale(x, "mean", 1/float32(arch.MaxLevel-arch.MinLevel+1))
	x = s.GlobalAvgPool(x, "pool")
	x = s.Dropout(x, c.Dropout)
	x = s.Dense(x, "dense", c.NumClasses, true, nn.Normal{Std: 0.01}, nn.Constant(0))
	bb.Graph.MarkOutput(x, "logits")
	return &Model{Backbone: bb, Config: c, Logits: x}, nil
}
