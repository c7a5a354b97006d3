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

// InitOptions configure Graph.InitFrom: which of the graph's tensors a
// weights file may leave to their fresh initialisation.
type InitOptions struct {
	// Scope, when set, limits loading to the graph's tensors it accepts
	// (e.g. the backbone); the others keep their fresh initialisation and
	// are reported with the reason "outside the init scope".
	Scope func(name string) bool
	// Skip accepts the tensors (in scope) that may keep their fresh
	// initialisation when the file lacks them or holds another shape (e.g.
	// a class head for another number of classes). Any other tensor the
	// file cannot fill is an error.
	Skip func(name string) bool
}

// Reinit is a tensor of the graph that kept its fresh initialisation, and
// why: "not in the file", "shape [3 3 64 819] in the file, [3 3 64 9]
// here" or "outside the init scope".
type Reinit struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// InitReport says what Graph.InitFrom did with each tensor, by name,
// sorted.
type InitReport struct {
	Source string `json:"source"`
	// Loaded tensors were copied from the file.
	Loaded []string `json:"loaded"`
	// Reinitialised tensors kept the graph's fresh initialisation.
	Reinitialised []Reinit `json:"reinitialised"`
	// Unused are the file's tensors that were not loaded: the graph has
	// no tensor of that name, or it was out of scope or skipped.
	Unused []string `json:"unused"`
}

// Summary is the report on one line: counts, and the re-initialised
// tensors grouped by reason (up to a few names each).
func (r *InitReport) Summary() string {
	s := fmt.Sprintf("initialised from %s: %d tensors loaded, %d re-initialised, %d of the file's tensors unused",
		r.Source, len(r.Loaded), len(r.Reinitialised), len(r.Unused))
	byReason := map[string][]string{}
	var reasons []string
	for _, ri := range r.Reinitialised {
		key := ri.Reason
		if strings.HasPrefix(key, "shape ") {
			key = "shape differs"
		}
		if _, ok := byReason[key]; !ok {
			reasons = append(reasons, key)
		}
		byReason[key] = append(byReason[key], ri.Name)
	}
	for _, k := range reasons {
		names := byReason[k]
		shown := names
		if len(shown) > 4 {
			shown = shown[:4]
		}
		s += fmt.Sprintf("; %s: %s", k, strings.Join(shown, ", "))
		if len(names) > len(shown) {
			s += fmt.Sprintf(" and %d more", len(names)-len(shown))
		}
	}
	return s
}

// InitFrom copies into the graph every tensor of sd whose name and shape
// match one of the graph's (its StateDict, batch-norm statistics
// included), for transfer learning. A tensor of the graph that sd cannot
// fill keeps its fresh initialisation only where opt allows it (outside
// opt.Scope, or accepted by opt.Skip); otherwise InitFrom changes nothing
// and returns a *WeightsError naming every such tensor (missing or
// mis-shaped). A file that fills none of the graph's tensors is an error
// too. Tensors of sd the graph does not use are reported, not refused.
func (g *Graph) InitFrom(sd map[string]*tensor.Tensor, source string, opt InitOptions) (*InitReport, error) {
	if g.shapeOnly {
		return nil, fmt.Errorf("loading %s: %w", source, ErrShapeOnly)
	}
	own := g.StateDict()
	rep := &InitReport{Source: source}
	e := &WeightsError{Source: source}
	used := map[string]bool{}
	for name, t := range own {
		if opt.Scope != nil && !opt.Scope(name) {
			rep.Reinitialised = append(rep.Reinitialised, Reinit{name, "outside the init scope"})
			continue
		}
		src, ok := sd[name]
		var reason string
		switch {
		case !ok:
			reason = "not in the file"
		case !tensor.SameShape(src, t):
			reason = fmt.Sprintf("shape %v in the file, %v here", src.Shape(), t.Shape())
		default:
			rep.Loaded = append(rep.Loaded, name)
			used[name] = true
			continue
		}
		switch {
		case opt.Skip != nil && opt.Skip(name):
			rep.Reinitialised = append(rep.Reinitialised, Reinit{name, reason})
		case !ok:
			e.Missing = append(e.Missing, name)
		default:
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("%s: shape %v, want %v", name, src.Shape(), t.Shape()))
		}
	}
	if len(e.Missing)+len(e.Mismatched) > 0 {
		slices.Sort(e.Missing)
		slices.Sort(e.Mismatched)
		return nil, e
	}
	if len(rep.Loaded) == 0 {
		return nil, fmt.Errorf("nn: weights %s: none of the file's %d tensors fits the model (names or shapes differ everywhere)", source, len(sd))
	}
	for name := range sd {
		if !used[name] {
			rep.Unused = append(rep.Unused, name)
		}
	}
	slices.Sort(rep.Loaded)
	slices.Sort(rep.Unused)
	slices.SortFunc(rep.Reinitialised, func(a, b Reinit) int { return strings.Compare(a.Name, b.Name) })
	for _, name := range rep.Loaded {
		own[name].CopyFrom(sd[name])
	}
	return rep, nil
}
