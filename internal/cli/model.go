package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spinenet-go/spinenet/classify"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
)

// modelFlags are the flags that pick and build a model: a built-in id or an
// architecture file, the head, and construction options.
type modelFlags struct {
	Model      string
	ArchFile   string
	Head       string
	Classes    int
	Activation string
	Pooling    string
	Padding    string
}

func (f *modelFlags) register(fs *pflag.FlagSet, head bool) {
	fs.StringVar(&f.Model, "model", "49", "model id: "+strings.Join(spinenet.List(), ", "))
	fs.StringVar(&f.ArchFile, "arch", "", "architecture file (.json/.yaml) to use instead of --model")
	if head {
		fs.StringVar(&f.Head, "head", "", "add a head: retinanet or classification")
		fs.IntVar(&f.Classes, "classes", 0, "head classes (default 91 for retinanet, 1001 for classification)")
	}
	fs.StringVar(&f.Activation, "activation", "", "activation: relu, swish, hard_swish (default: swish; hard_swish for mobile-49/49S)")
	fs.StringVar(&f.Pooling, "pooling", string(spinenet.PoolTF2), "downsampling pools: tf2 (repeated 3×3/2) or tpu (one pool)")
	fs.StringVar(&f.Padding, "padding", string(spinenet.PadSame), "strided padding: same (TensorFlow) or symmetric (TPU/PyTorch)")
}

// arch resolves the architecture and the construction options.
func (f *modelFlags) arch() (*spinenet.Arch, spinenet.Options, error) {
	var a *spinenet.Arch
	var err error
	if f.ArchFile != "" {
		a, err = spinenet.ReadArch(f.ArchFile)
	} else {
		a, err = spinenet.Lookup(f.Model)
	}
	if err != nil {
		return nil, spinenet.Options{}, err
	}
	opt := spinenet.DefaultOptions()
	if a.Name == "mobile-49" || a.Name == "mobile-49S" {
		opt.Activation = nn.MustActivation("hard_swish")
	}
	if f.Activation != "" {
		if opt.Activation, err = nn.ParseActivation(f.Activation); err != nil {
			return nil, opt, usageError{err}
		}
	}
	opt.Pooling, opt.Padding = spinenet.PoolingRule(f.Pooling), spinenet.PaddingRule(f.Padding)
	return a, opt, nil
}

// built is a model assembled from flags.
type built struct {
	arch     *spinenet.Arch
	backbone *spinenet.Backbone
	graph    *nn.Graph
	head     string
}

func (f *modelFlags) build(skipInit bool) (*built, error) {
	a, opt, err := f.arch()
	if err != nil {
		return nil, err
	}
	opt.SkipInit = skipInit
	b := &built{arch: a, head: f.Head}
	switch f.Head {
	case "":
		bb, err := spinenet.Build(a, opt)
		if err != nil {
			return nil, err
		}
		b.backbone, b.graph = bb, bb.Graph
	case "retinanet":
		classes := f.Classes
		if classes == 0 {
			classes = 91
		}
		hc, err := detection.HeadForModel(a.Name, classes, opt.Activation)
		if err != nil {
			return nil, err
		}
		m, err := detection.NewRetinaNet(a, opt, hc)
		if err != nil {
			return nil, err
		}
		b.backbone, b.graph = m.Backbone, m.Graph()
	case "classification":
		classes := f.Classes
		if classes == 0 {
			classes = 1001
		}
		m, err := classify.NewClassifier(a, opt, classify.HeadConfig{NumClasses: classes})
		if err != nil {
			return nil, err
		}
		b.backbone, b.graph = m.Backbone, m.Graph()
	default:
		return nil, usageError{fmt.Errorf("--head %q: want retinanet or classification", f.Head)}
	}
	return b, nil
}
