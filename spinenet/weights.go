package spinenet

import (
	"encoding/json"
	"fmt"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// Metadata keys of a SpineNet weights file. Together they rebuild the exact
// model, so a weights file needs no extra flags to run.
const (
	MetaFormat  = "format"
	MetaArch    = "spinenet.arch"    // the Arch as JSON
	MetaOptions = "spinenet.options" // the construction Options as JSON
	MetaTask    = "spinenet.task"    // "backbone", "retinanet" or "classification"
	// FormatValue identifies files written by this module.
	FormatValue = "spinenet-go weights v1: float32, conv kernels [KH,KW,Cin,Cout], dense [in,out]"
)

// optionsFile is Options as stored in a weights file.
type optionsFile struct {
	Activation         string      `json:"activation"`
	EndpointActivation bool        `json:"endpoint_activation"`
	BNMomentum         float32     `json:"bn_momentum"`
	BNEpsilon          float32     `json:"bn_epsilon"`
	StochasticDepth    float64     `json:"stochastic_depth"`
	Pooling            PoolingRule `json:"pooling"`
	Padding            PaddingRule `json:"padding"`
	InputChannels      int         `json:"input_channels"`
	// StemFilters is left out when 0 (the paper's stem), so files of
	// paper-width models are unchanged.
	StemFilters int `json:"stem_filters,omitempty"`
}

// MarshalOptions encodes the Options that change a model's computation
// (not Seed or SkipInit) as JSON.
func MarshalOptions(o Options) (string, error) {
	b, err := json.Marshal(optionsFile{o.Activation.String(), o.EndpointActivation, o.BN.Momentum, o.BN.Epsilon,
		o.StochasticDepth, o.Pooling, o.Padding, o.InputChannels, o.StemFilters})
	return string(b), err
}

// UnmarshalOptions decodes MarshalOptions' JSON.
func UnmarshalOptions(s string) (Options, error) {
	var f optionsFile
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		return Options{}, fmt.Errorf("spinenet: options: %w", err)
	}
	act, err := tensor.ParseActivation(f.Activation)
	if err != nil {
		return Options{}, err
	}
	return Options{Activation: act, EndpointActivation: f.EndpointActivation, BN: nn.BNConfig{Momentum: f.BNMomentum, Epsilon: f.BNEpsilon},
		StochasticDepth: f.StochasticDepth, Pooling: f.Pooling, Padding: f.Padding, InputChannels: f.InputChannels,
		StemFilters: f.StemFilters, Seed: 1}, nil
}

// InferenceDiff lists, as "padding symmetric (here same)", the options of
// file that make the same weights compute another function than under
// here: activation, endpoint activation, batch-norm epsilon, pooling and
// padding rules. Training-only options (momentum, stochastic depth) and
// the seed are not compared; shapes are the weights' own business.
func InferenceDiff(file, here Options) []string {
	var d []string
	add := func(what string, a, b any) {
		if a != b {
			d = append(d, fmt.Sprintf("%s %v (here %v)", what, a, b))
		}
	}
	add("activation", file.Activation.String(), here.Activation.String())
	add("endpoint activation", file.EndpointActivation, here.EndpointActivation)
	add("batch-norm epsilon", file.BN.Epsilon, here.BN.Epsilon)
	add("pooling", file.Pooling, here.Pooling)
	add("padding", file.Padding, here.Padding)
	return d
}

// Metadata returns the weights-file metadata describing the backbone.
func (b *Backbone) Metadata(task string) (map[string]string, error) {
	arch, err := json.Marshal(b.Arch)
	if err != nil {
		return nil, err
	}
	opts, err := MarshalOptions(b.Options)
	if err != nil {
		return nil, err
	}
	return map[string]string{MetaFormat: FormatValue, MetaArch: string(arch), MetaOptions: opts, MetaTask: task}, nil
}

// Save writes the backbone's weights and batch-norm statistics, with the
// metadata that rebuilds it, to a safetensors file (atomically).
func (b *Backbone) Save(path string) error {
	meta, err := b.Metadata("backbone")
	if err != nil {
		return err
	}
	return b.Graph.SaveWeights(path, meta)
}

// ArchFromMetadata rebuilds the Arch and Options a weights file records.
func ArchFromMetadata(path string, meta map[string]string) (*Arch, Options, error) {
	as, ok := meta[MetaArch]
	if !ok {
		return nil, Options{}, fmt.Errorf("spinenet: %s: no %q metadata; is it a spinenet-go weights file? (convert other formats with 'spinenet import')", path, MetaArch)
	}
	a, err := ParseArch([]byte(as), JSON)
	if err != nil {
		return nil, Options{}, fmt.Errorf("spinenet: %s: %w", path, err)
	}
	opt := DefaultOptions()
	if os, ok := meta[MetaOptions]; ok {
		if opt, err = UnmarshalOptions(os); err != nil {
			return nil, Options{}, fmt.Errorf("spinenet: %s: %w", path, err)
		}
	}
	return a, opt, nil
}

// LoadBackbone builds the backbone a weights file describes and loads it.
func LoadBackbone(path string) (*Backbone, error) {
	sd, meta, err := nn.ReadStateDict(path)
	if err != nil {
		return nil, err
	}
	a, opt, err := ArchFromMetadata(path, meta)
	if err != nil {
		return nil, err
	}
	opt.SkipInit = true
	bb, err := Build(a, opt)
	if err != nil {
		return nil, err
	}
	if err := bb.Graph.LoadStateDict(sd, path); err != nil {
		return nil, err
	}
	return bb, nil
}
