package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spinenet-go/spinenet/models"
	"github.com/spinenet-go/spinenet/spinenet"
)

// modelFlags are the flags that pick and build a model: a built-in id or an
// architecture file, the head, and construction options. They become a
// models.Request, so the command line and recipes resolve models the same
// way.
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
	fs.StringVar(&f.Model, "model", "49", "model id: "+strings.Join(models.IDs(), ", "))
	fs.StringVar(&f.ArchFile, "arch", "", "architecture file (.json/.yaml) to use instead of --model; its head and anchors follow from its scaling fields")
	if head {
		fs.StringVar(&f.Head, "head", "", "add a head: retinanet, classification or maskrcnn")
		fs.IntVar(&f.Classes, "classes", 0, "head classes (default 91 for retinanet and maskrcnn, 1001 for classification)")
	}
	fs.StringVar(&f.Activation, "activation", "", "activation: relu, swish, hard_swish (default: the model's; swish, hard_swish for mobile-49/49S)")
	fs.StringVar(&f.Pooling, "pooling", string(spinenet.PoolTF2), "downsampling pools: tf2 (repeated 3×3/2) or tpu (one pool)")
	fs.StringVar(&f.Padding, "padding", string(spinenet.PadSame), "strided padding: same (TensorFlow) or symmetric (TPU/PyTorch)")
}

// resolve turns the flags into a model description; a bad flag value is a
// usage error naming the flag.
func (f *modelFlags) resolve() (*models.Description, error) {
	r := models.Request{Activation: f.Activation, Pooling: f.Pooling, Padding: f.Padding}
	if f.ArchFile != "" {
		r.ArchFile = f.ArchFile
	} else {
		r.ID = f.Model
	}
	d, err := models.Resolve(r)
	var re *models.RequestError
	switch {
	case errors.As(err, &re):
		return nil, usageError{fmt.Errorf("--%s: %s", strings.ReplaceAll(re.Field, "_", "-"), re.Reason)}
	case errors.Is(err, spinenet.ErrUnknownModel):
		return nil, usageError{fmt.Errorf("--model: %w", err)}
	}
	return d, err
}

// build resolves the flags and assembles the model with the chosen head.
// shapeOnly builds it without weights, for accounting.
func (f *modelFlags) build(shapeOnly bool) (*models.Built, error) {
	d, err := f.resolve()
	if err != nil {
		return nil, err
	}
	d.Options.ShapeOnly = shapeOnly
	b, err := d.Build(models.HeadKind(f.Head), f.Classes)
	if errors.Is(err, models.ErrUnknownHead) {
		return nil, usageError{fmt.Errorf("--head: %w", err)}
	}
	return b, err
}
