package nn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spinenet-go/spinenet/safetensors"
	"github.com/spinenet-go/spinenet/tensor"
)

// Names of the batch-norm statistics in a state dict: a batch-norm layer at
// path P stores P/gamma and P/beta (Params) and P/moving_mean and
// P/moving_variance (Keras's names).
const (
	MovingMean     = "moving_mean"
	MovingVariance = "moving_variance"
)

// StateDict returns every tensor that defines the model — parameters by
// name, and each batch norm's moving statistics as <path>/moving_mean and
// <path>/moving_variance — sharing storage with the graph.
func (g *Graph) StateDict() map[string]*tensor.Tensor {
	sd := make(map[string]*tensor.Tensor, len(g.params)+2*len(g.stats))
	for _, p := range g.params {
		sd[p.Name] = p.Value
	}
	for _, s := range g.stats {
		sd[s.Name+"/"+MovingMean] = s.Stats.Mean
		sd[s.Name+"/"+MovingVariance] = s.Stats.Var
	}
	return sd
}

// WeightsError reports state-dict entries that do not fit a graph.
type WeightsError struct {
	Source     string   // file or description of the weights
	Missing    []string // tensors the graph needs that the weights lack
	Unexpected []string // tensors in the weights the graph does not have
	Mismatched []string // "name: shape [..], want [..]"
}

// Error lists the missing, unexpected and mismatched tensors.
func (e *WeightsError) Error() string {
	var parts []string
	list := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		shown := names
		if len(shown) > 5 {
			shown = shown[:5]
		}
		s := fmt.Sprintf("%d %s: %s", len(names), what, strings.Join(shown, ", "))
		if len(names) > 5 {
			s += ", …"
		}
		parts = append(parts, s)
	}
	list("missing", e.Missing)
	list("mis-shaped", e.Mismatched)
	list("unexpected", e.Unexpected)
	return fmt.Sprintf("nn: weights %s do not fit the model: %s", e.Source, strings.Join(parts, "; "))
}

// LoadStateDict copies the tensors of sd into the graph. Every tensor of the
// graph's StateDict must be present with the right shape, and sd must hold
// nothing else; otherwise nothing is changed and a *WeightsError lists every
// problem by name.
func (g *Graph) LoadStateDict(sd map[string]*tensor.Tensor, source string) error {
	if g.shapeOnly {
		return fmt.Errorf("loading %s: %w", source, ErrShapeOnly)
	}
	own := g.StateDict()
	e := &WeightsError{Source: source}
	for name, t := range own {
		src, ok := sd[name]
		switch {
		case !ok:
			e.Missing = append(e.Missing, name)
		case !tensor.SameShape(src, t):
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("%s: shape %v, want %v", name, src.Shape(), t.Shape()))
		}
	}
	for name := range sd {
		if _, ok := own[name]; !ok {
			e.Unexpected = append(e.Unexpected, name)
		}
	}
	if len(e.Missing)+len(e.Mismatched)+len(e.Unexpected) > 0 {
		slices.Sort(e.Missing)
		slices.Sort(e.Mismatched)
		slices.Sort(e.Unexpected)
		return e
	}
	for name, t := range own {
		t.CopyFrom(sd[name])
	}
	return nil
}

// SaveWeights writes the graph's state dict to a safetensors file (float32,
// tensor names as in StateDict, shapes in this module's layouts: conv
// kernels [KH,KW,Cin,Cout]) with the given metadata. The file is replaced
// atomically.
func (g *Graph) SaveWeights(path string, metadata map[string]string) error {
	if g.shapeOnly {
		return fmt.Errorf("saving %s: %w", path, ErrShapeOnly)
	}
	sd := g.StateDict()
	f := &safetensors.File{Metadata: metadata}
	for name, t := range sd {
		f.Tensors = append(f.Tensors, safetensors.FromFloat32(name, t.Shape(), t.Data()))
	}
	return safetensors.WriteFile(path, f)
}

// ReadStateDict reads every tensor of a safetensors file as float32 (F16,
// BF16 and F64 are converted) and returns them with the file's metadata.
func ReadStateDict(path string) (map[string]*tensor.Tensor, map[string]string, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	sd := make(map[string]*tensor.Tensor, len(f.Tensors))
	for _, t := range f.Tensors {
		v, err := t.Float32()
		if err != nil {
			return nil, nil, fmt.Errorf("nn: %s: tensor %q: %w", path, t.Name, err)
		}
		tt, err := tensor.FromSlice(v, t.Shape...)
		if err != nil {
			return nil, nil, fmt.Errorf("nn: %s: tensor %q: %w", path, t.Name, err)
		}
		sd[t.Name] = tt
	}
	return sd, f.Metadata, nil
}

// LoadWeights reads a safetensors file written by SaveWeights (or converted
// to the same names) into the graph and returns the file's metadata.
func (g *Graph) LoadWeights(path string) (map[string]string, error) {
	sd, meta, err := ReadStateDict(path)
	if err != nil {
		return nil, err
	}
	return meta, g.LoadStateDict(sd, path)
}
