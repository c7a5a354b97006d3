package models

import (
	"errors"
	"fmt"
	"sync"

	"github.com/spinenet-go/spinenet/classify"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/maskrcnn"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// Request names a model and what to change about it. Exactly one of ID,
// ArchFile and Arch picks the architecture; zero-valued overrides keep the
// model's own value.
type Request struct {
	// ID is a built-in id (see IDs).
	ID string
	// ArchFile is an architecture file (.json, .yaml, .yml).
	ArchFile string
	// Arch is an architecture value, e.g. a search candidate; Resolve
	// works on a copy.
	Arch *spinenet.Arch

	// Scaling overrides (spec §2.2), each replacing the Arch field of the
	// same name when positive; the result must pass Arch.Validate.

	// FilterSizeScale replaces Arch.FilterSizeScale, the width multiplier.
	FilterSizeScale float64
	// ResampleAlpha replaces Arch.ResampleAlpha, α of the cross-scale
	// connections.
	ResampleAlpha float64
	// EndpointsNumFilters replaces Arch.EndpointsNumFilters, the P3–P7
	// width (and so the derived head width of a non-registry Arch).
	EndpointsNumFilters int
	// BlockRepeats replaces Arch.BlockRepeats, the blocks per group.
	BlockRepeats int

	// Construction options (spinenet.Options); empty strings and zeros
	// keep the default (or, for Activation, the variant's).

	// Activation is the backbone and head activation: relu, swish or
	// hard_swish.
	Activation string
	// Pooling is the spinenet.PoolingRule: tf2 or tpu.
	Pooling string
	// Padding is the spinenet.PaddingRule: same or symmetric.
	Padding string
	// StochasticDepth is the stochastic-depth rate of the last block row,
	// in [0, 1); 0 (the default) disables it.
	StochasticDepth float64
	// BNMomentum is the batch-norm moving-average momentum in (0, 1)
	// (default 0.99, Keras's convention: the weight of the old value).
	BNMomentum float32
	// BNEpsilon is the batch-norm variance epsilon in (0, 1) (default
	// 1e-3).
	BNEpsilon float32
	// InputChannels is 1 for grayscale or 3 for RGB images (default 3).
	InputChannels int
	// StemFilters is spinenet.Options.StemFilters, the stem convolution's
	// width: a proxy departure from the paper's 64 (the default, 0), for
	// ResNet-block models only.
	StemFilters int
	// Seed seeds the weight initializers (default 1; a RetinaNet head uses
	// Seed+1).
	Seed uint64

	// RetinaNet head and anchor overrides, each in (0, 65536]; 0 keeps the
	// variant's value, or the one derived from the Arch.

	// HeadConvs is the number of 3×3 convolutions in each head tower (RetinaNet; Mask R-CNN: of the box and mask heads).
	HeadConvs int
	// HeadFilters is the width of the head towers (Mask R-CNN: of the RPN and both heads, with a box FC of 4×, up to 1024).
	HeadFilters int
	// AnchorSize multiplies the level stride to give the base anchor side.
	AnchorSize float64
}

// RequestError reports a request field with a bad value. Field is the
// Request field's name in snake case (as recipe keys and flags spell it:
// "activation", "head_filters").
type RequestError struct {
	// Field is the snake-case field name ("scaling" for the scaling
	// overrides together, "id" when not exactly one architecture is named).
	Field string
	// Reason says what the value was and what was wanted.
	Reason string
}

// Error formats the error as "models: <field>: <reason>".
func (e *RequestError) Error() string { return fmt.Sprintf("models: %s: %s", e.Field, e.Reason) }

// Description is a resolved model: the architecture with every override
// applied, the construction options, and the task settings, ready to
// build.
type Description struct {
	// Arch is validated and owned by the description.
	Arch *spinenet.Arch
	// Options are the construction options. Set Options.ShapeOnly (for
	// accounting) or Options.SkipInit (before loading weights) before
	// building.
	Options spinenet.Options
	// Variant is the registry row when the request named a built-in id, nil
	// otherwise.
	Variant *Variant
	// RetinaNet holds the detection settings: the row's for a built-in id,
	// derived from the Arch's scaling fields otherwise (Derive), then
	// overridden by the request's head and anchor fields.
	RetinaNet RetinaNetSettings
	// Classification holds the classification settings, the row's or
	// Derive's (ImageNet: 224 input, 1001 classes).
	Classification ClassificationSettings
	// MaskRCNN holds the Mask R-CNN settings, the row's or DeriveMaskRCNN's.
	MaskRCNN MaskRCNNSettings

	activationSet bool // the request named the activation
}

// Name is the model's display name: "SpineNet-49S", or the Arch's name.
func (d *Description) Name() string {
	if d.Variant != nil {
		return "SpineNet-" + d.Variant.ID
	}
	return d.Arch.Name
}

// Resolve turns a request into a model description. Errors are a
// *RequestError for a bad field, spinenet's errors for an unknown id or an
// invalid architecture (an *ArchError naming the block row), or the file
// error of ArchFile.
func Resolve(r Request) (*Description, error) {
	d := &Description{Options: spinenet.DefaultOptions()}
	picked := 0
	for _, set := range []bool{r.ID != "", r.ArchFile != "", r.Arch != nil} {
		if set {
			picked++
		}
	}
	if picked != 1 {
		return nil, &RequestError{Field: "id", Reason: "name exactly one of a model id, an architecture file or an architecture"}
	}
	var err error
	switch {
	case r.ID != "":
		v, err := Lookup(r.ID)
		if err != nil {
			return nil, err
		}
		d.Variant, d.Arch = &v, v.Arch()
		d.Options.Activation = v.Activation
	case r.ArchFile != "":
		if d.Arch, err = spinenet.ReadArch(r.ArchFile); err != nil {
			return nil, err
		}
	default:
		a := *r.Arch
		a.Blocks = append([]spinenet.BlockSpec(nil), r.Arch.Blocks...)
		d.Arch = &a
	}
	if err := d.applyScaling(r); err != nil {
		return nil, err
	}
	if err := d.applyOptions(r); err != nil {
		return nil, err
	}
	if d.Variant != nil {
		d.RetinaNet, d.Classification, d.MaskRCNN = d.Variant.RetinaNet, d.Variant.Classification, d.Variant.MaskRCNN
	} else {
		d.RetinaNet, d.Classification = Derive(d.Arch)
		d.MaskRCNN = DeriveMaskRCNN(d.Arch)
	}
	for _, o := range []struct {
		field string
		v     float64
		dst   func()
	}{
		{"head_convs", float64(r.HeadConvs), func() { d.RetinaNet.Convs, d.MaskRCNN.HeadConvs = r.HeadConvs, r.HeadConvs }},
		{"head_filters", float64(r.HeadFilters), func() {
			// Mask R-CNN: the RPN and both heads take the width, the box
			// head's FC DeriveMaskRCNN's rule (4×, up to 1024).
			d.RetinaNet.Filters, d.MaskRCNN.RPNFilters, d.MaskRCNN.HeadFilters = r.HeadFilters, r.HeadFilters, r.HeadFilters
			d.MaskRCNN.FCDim = min(4*r.HeadFilters, 1024)
		}},
		{"anchor_size", r.AnchorSize, func() { d.RetinaNet.AnchorSize, d.MaskRCNN.AnchorSize = r.AnchorSize, r.AnchorSize }},
	} {
		switch {
		case !(o.v >= 0 && o.v <= 1<<16):
			return nil, &RequestError{Field: o.field, Reason: fmt.Sprintf("%v, want a number in (0, 65536] (or 0 for the model's own)", o.v)}
		case o.v > 0:
			o.dst()
		}
	}
	return d, nil
}

// Derive returns the task settings SpineNet pairs with an architecture
// that is not a registry row, from its scaling fields and family:
// detection.HeadFor's head, detection.AnchorsFor's anchor size, the
// input size of the registry row with the same scaling (or 640, 384 for
// Mobile), and ImageNet classification.
func Derive(a *spinenet.Arch) (RetinaNetSettings, ClassificationSettings) {
	h := detection.HeadFor(a, 1, 0)
	r := RetinaNetSettings{Convs: h.Convs, Filters: h.Filters, Separable: h.Separable, AnchorSize: detection.AnchorsFor(a).AnchorSize, InputSize: 640}
	if a.Family == spinenet.FamilyMobile {
		r.InputSize = 384
	}
	key := scalingOf(a)
	for i, k := range rowScalings() {
		if k == key {
			r.InputSize = registry[i].RetinaNet.InputSize
			break
		}
	}
	return r, imagenet
}

// DeriveMaskRCNN returns the Mask R-CNN settings for an architecture that
// is not a registry row, by the rule the published configs follow: a
// one-conv RPN and four-conv box and mask heads as wide as the endpoints
// (endpoints_num_filters), a box-head FC of 4× that width up to 1024
// (49S: 128 → 512, 49–143: 256 → 1024), anchor size 3, Derive's input
// size, and the backbone's activation. SpineNet-190's row departs from it
// (seven 384-wide head convs on 512-wide endpoints, anchor size 5, input
// 1536): its published heads were sized by hand.
func DeriveMaskRCNN(a *spinenet.Arch) MaskRCNNSettings {
	f := a.EndpointsNumFilters
	r, _ := Derive(a)
	return MaskRCNNSettings{RPNConvs: 1, RPNFilters: f, HeadConvs: 4, HeadFilters: f, FCDim: min(4*f, 1024), AnchorSize: 3, InputSize: r.InputSize}
}

// scaling is the part of an Arch that Derive matches against the rows.
type scaling struct {
	family             spinenet.Family
	scale, alpha       float64
	repeats, endpoints int
}

func scalingOf(a *spinenet.Arch) scaling {
	return scaling{a.Family, a.FilterSizeScale, a.ResampleAlpha, a.BlockRepeats, a.EndpointsNumFilters}
}

// rowScalings holds each registry row's scaling, computed once: Derive runs
// for every candidate a search prices.
var rowScalings = sync.OnceValue(func() []scaling {
	out := make([]scaling, len(registry))
	for i, v := range registry {
		out[i] = scalingOf(v.Arch())
	}
	return out
})

func (d *Description) applyScaling(r Request) error {
	a := d.Arch
	if !(r.FilterSizeScale >= 0 && r.ResampleAlpha >= 0) || r.EndpointsNumFilters < 0 || r.BlockRepeats < 0 {
		return &RequestError{Field: "scaling", Reason: fmt.Sprintf("filter_size_scale %v, resample_alpha %v, endpoints_num_filters %d, block_repeats %d: overrides must be positive (0 keeps the model's)",
			r.FilterSizeScale, r.ResampleAlpha, r.EndpointsNumFilters, r.BlockRepeats)}
	}
	if r.FilterSizeScale > 0 {
		a.FilterSizeScale = r.FilterSizeScale
	}
	if r.ResampleAlpha > 0 {
		a.ResampleAlpha = r.ResampleAlpha
	}
	if r.EndpointsNumFilters > 0 {
		a.EndpointsNumFilters = r.EndpointsNumFilters
	}
	if r.BlockRepeats > 0 {
		a.BlockRepeats = r.BlockRepeats
	}
	return a.Validate()
}

func (d *Description) applyOptions(r Request) error {
	o := &d.Options
	if r.Activation != "" {
		act, err := tensor.ParseActivation(r.Activation)
		switch {
		case err != nil:
			return &RequestError{Field: "activation", Reason: err.Error()}
		case act != tensor.ActReLU && act != tensor.ActSwish && act != tensor.ActHardSwish:
			return &RequestError{Field: "activation", Reason: fmt.Sprintf("%q, want relu, swish or hard_swish (the backbone activations SpineNet uses)", r.Activation)}
		}
		o.Activation = act
		d.activationSet = true
	}
	switch p := spinenet.PoolingRule(r.Pooling); p {
	case "":
	case spinenet.PoolTF2, spinenet.PoolTPU:
		o.Pooling = p
	default:
		return &RequestError{Field: "pooling", Reason: fmt.Sprintf("%q, want %q or %q", r.Pooling, spinenet.PoolTF2, spinenet.PoolTPU)}
	}
	switch p := spinenet.PaddingRule(r.Padding); p {
	case "":
	case spinenet.PadSame, spinenet.PadSymmetric:
		o.Padding = p
	default:
		return &RequestError{Field: "padding", Reason: fmt.Sprintf("%q, want %q or %q", r.Padding, spinenet.PadSame, spinenet.PadSymmetric)}
	}
	if !(r.StochasticDepth >= 0 && r.StochasticDepth < 1) {
		return &RequestError{Field: "stochastic_depth", Reason: fmt.Sprintf("%v, want a rate in [0, 1)", r.StochasticDepth)}
	}
	o.StochasticDepth = r.StochasticDepth
	if !(r.BNMomentum >= 0 && r.BNMomentum < 1) {
		return &RequestError{Field: "bn_momentum", Reason: fmt.Sprintf("%v, want a momentum in (0, 1) (0 keeps %v)", r.BNMomentum, o.BN.Momentum)}
	}
	if r.BNMomentum > 0 {
		o.BN.Momentum = r.BNMomentum
	}
	if !(r.BNEpsilon >= 0 && r.BNEpsilon < 1) {
		return &RequestError{Field: "bn_epsilon", Reason: fmt.Sprintf("%v, want a number in (0, 1) (0 keeps %v)", r.BNEpsilon, o.BN.Epsilon)}
	}
	if r.BNEpsilon > 0 {
		o.BN.Epsilon = r.BNEpsilon
	}
	switch r.InputChannels {
	case 0:
	case 1, 3:
		o.InputChannels = r.InputChannels
	default:
		return &RequestError{Field: "input_channels", Reason: fmt.Sprintf("%d, want 1 (grayscale) or 3 (RGB)", r.InputChannels)}
	}
	switch {
	case r.StemFilters < 0 || r.StemFilters > spinenet.MaxStemFilters:
		return &RequestError{Field: "stem_filters", Reason: fmt.Sprintf("%d, want 1..%d (or 0 for the paper's 64)", r.StemFilters, spinenet.MaxStemFilters)}
	case r.StemFilters > 0 && d.Arch.Family == spinenet.FamilyMobile:
		return &RequestError{Field: "stem_filters", Reason: fmt.Sprintf("%d for %s: the Mobile stem scales with filter_size_scale; stem_filters is for ResNet-block models", r.StemFilters, d.Name())}
	}
	o.StemFilters = r.StemFilters
	if r.Seed != 0 {
		o.Seed = r.Seed
	}
	return nil
}

// Head returns the RetinaNet head configuration for numClasses classes.
func (d *Description) Head(numClasses int) detection.HeadConfig {
	h := detection.HeadFor(d.Arch, numClasses, d.Options.Activation)
	h.Convs, h.Filters, h.Separable = d.RetinaNet.Convs, d.RetinaNet.Filters, d.RetinaNet.Separable
	return h
}

// Anchors returns the anchor configuration: the architecture's output
// levels with the description's anchor size.
func (d *Description) Anchors() detection.AnchorConfig {
	a := detection.AnchorsFor(d.Arch)
	a.AnchorSize = d.RetinaNet.AnchorSize
	return a
}

// NewBackbone builds the backbone alone.
func (d *Description) NewBackbone() (*spinenet.Backbone, error) {
	return spinenet.Build(d.Arch, d.Options)
}

// NewRetinaNet builds the backbone with a RetinaNet head for numClasses
// classes (0: 91, the TF/TPU COCO convention).
func (d *Description) NewRetinaNet(numClasses int) (*detection.Model, error) {
	if numClasses == 0 {
		numClasses = 91
	}
	return detection.NewRetinaNet(d.Arch, d.Options, d.Head(numClasses))
}

// MaskRCNNConfig returns the Mask R-CNN head configuration for numClasses
// classes (background included; 0: 91, COCO's category ids as indices),
// and the construction options: the description's, with the Mask R-CNN
// activation of the row (ReLU for 49S…143) unless the request named one.
func (d *Description) MaskRCNNConfig(numClasses int) (maskrcnn.Config, spinenet.Options) {
	if numClasses == 0 {
		numClasses = 91
	}
	m, opt := d.MaskRCNN, d.Options
	if m.Activation != 0 && !d.activationSet {
		opt.Activation = m.Activation
	}
	return maskrcnn.Config{NumClasses: numClasses, NumAnchors: len(maskrcnn.AspectRatios),
		RPNConvs: m.RPNConvs, RPNFilters: m.RPNFilters, BoxConvs: m.HeadConvs, BoxFilters: m.HeadFilters, BoxFCs: 1, BoxFCDim: m.FCDim,
		MaskConvs: m.HeadConvs, MaskFilters: m.HeadFilters, Activation: opt.Activation, AnchorSize: m.AnchorSize}, opt
}

// NewMaskRCNN builds the backbone with the Mask R-CNN heads for
// numClasses classes (MaskRCNNConfig).
func (d *Description) NewMaskRCNN(numClasses int) (*maskrcnn.Model, error) {
	c, opt := d.MaskRCNNConfig(numClasses)
	return maskrcnn.New(d.Arch, opt, c)
}

// NewClassifier builds the backbone with the classification head for
// numClasses classes (0: the description's, 1001 for ImageNet).
func (d *Description) NewClassifier(numClasses int, dropout float64) (*classify.Model, error) {
	if numClasses == 0 {
		numClasses = d.Classification.Classes
	}
	return classify.NewClassifier(d.Arch, d.Options, classify.HeadConfig{NumClasses: numClasses, Dropout: dropout})
}

// HeadKind names what sits on the backbone.
type HeadKind string

// The head kinds.
const (
	NoHead         HeadKind = ""
	RetinaNetHead  HeadKind = "retinanet"
	Classification HeadKind = "classification"
	MaskRCNNHead   HeadKind = "maskrcnn"
)

// ErrUnknownHead is returned by Build for a head kind it does not know.
var ErrUnknownHead = errors.New("models: unknown head")

// Built is a model assembled by Build: its backbone and whole graph, and
// the task model when there is a head.
type Built struct {
	// Desc is the description that was built.
	Desc *Description
	// Head is the head kind asked for (NoHead for a bare backbone).
	Head HeadKind
	// Backbone is the SpineNet backbone, also with a head.
	Backbone *spinenet.Backbone
	// Graph is the whole graph, backbone and head (Backbone.Graph).
	Graph      *nn.Graph
	Detector   *detection.Model // with RetinaNetHead, else nil
	Classifier *classify.Model  // with Classification, else nil
	MaskRCNN   *maskrcnn.Model  // with MaskRCNNHead, else nil
}

// Account sizes and prices the built model for one h×w image: the graph's
// accounting, with Mask R-CNN's heads priced per RoI as the paper counts
// them (maskrcnn.Model.Account).
func (b *Built) Account(h, w int) (*nn.Accounting, error) {
	if b.MaskRCNN != nil {
		return b.MaskRCNN.Account(h, w)
	}
	return b.Graph.Account(h, w)
}

// Build assembles the backbone with the head kind for numClasses classes
// (0: the head's default).
func (d *Description) Build(head HeadKind, numClasses int) (*Built, error) {
	b := &Built{Desc: d, Head: head}
	switch head {
	case NoHead:
		bb, err := d.NewBackbone()
		if err != nil {
			return nil, err
		}
		b.Backbone, b.Graph = bb, bb.Graph
	case RetinaNetHead:
		m, err := d.NewRetinaNet(numClasses)
		if err != nil {
			return nil, err
		}
		b.Detector, b.Backbone, b.Graph = m, m.Backbone, m.Graph()
	case Classification:
		m, err := d.NewClassifier(numClasses, 0)
		if err != nil {
			return nil, err
		}
		b.Classifier, b.Backbone, b.Graph = m, m.Backbone, m.Graph()
	case MaskRCNNHead:
		m, err := d.NewMaskRCNN(numClasses)
		if err != nil {
			return nil, err
		}
		b.MaskRCNN, b.Backbone, b.Graph = m, m.Backbone, m.Graph()
	default:
		return nil, fmt.Errorf("%w %q: want %q, %q or %q", ErrUnknownHead, head, RetinaNetHead, Classification, MaskRCNNHead)
	}
	return b, nil
}
