// Package models is the registry of SpineNet variants and the one place
// that turns a model request — a built-in id, an architecture file or an
// Arch value (say, from a search), plus overrides — into a complete model
// description that builds a backbone, a RetinaNet or a classifier.
//
// Each built-in id (49S … 190, mobile-*) is one Variant row holding
// everything that varies per variant besides the block list and scaling
// map (which are the Arch, package spinenet): the RetinaNet head's convs
// and filters, the anchor size, the default activation, the default input
// sizes and the classification settings. An Arch that is not a built-in id
// gets its head and anchors from its scaling fields by the rules of
// detection.HeadFor and detection.AnchorsFor, never from its name; this
// package's tests check those rules reproduce every row.
//
// Recipes (package recipe) and the command line both call Resolve, so a
// model means the same thing wherever it is named.
package models

import (
	"fmt"
	"strings"

	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// RetinaNetSettings are a variant's RetinaNet head and anchor settings
// (spec §7, §8).
type RetinaNetSettings struct {
	// Convs and Filters size each of the class and box towers.
	Convs, Filters int
	// Separable uses depthwise + pointwise convolutions (SpineNet-Mobile).
	Separable bool
	// AnchorSize multiplies the level stride to give the base anchor side.
	AnchorSize float64
	// InputSize is the square input of the published configs.
	InputSize int
}

// ClassificationSettings are a variant's classification defaults (spec
// §5.7).
type ClassificationSettings struct {
	// InputSize is the square input (224 for ImageNet).
	InputSize int
	// Classes is the width of the dense layer (1001: ImageNet with
	// background index 0).
	Classes int
}

// MaskRCNNSettings are a variant's Mask R-CNN heads, anchors, input size
// and activation (spec maskrcnn.md §1.1, the TPU configs that published
// paper Table 6).
type MaskRCNNSettings struct {
	// RPNConvs × RPNFilters is the RPN tower.
	RPNConvs, RPNFilters int
	// HeadConvs × HeadFilters are the 3×3 convolutions of the box head and
	// of the mask head; FCDim is the box head's fully connected width.
	HeadConvs, HeadFilters, FCDim int
	// AnchorSize multiplies the level stride to give the anchor side.
	AnchorSize float64
	// InputSize is the square input of the published configs.
	InputSize int
	// Activation is the backbone's and the heads' activation of the
	// published configs (ReLU for 49S…143, swish for 190); 0 means the
	// model's default activation.
	Activation tensor.Activation
}

// Variant is one row of the registry.
type Variant struct {
	// ID is the model id, as spinenet.Lookup knows it.
	ID string
	// Activation is the default activation: swish, or hard_swish for
	// mobile-49 and mobile-49S (spec §3.3, the TF2 configs).
	Activation tensor.Activation
	// RetinaNet holds the detection head, anchor and input-size settings.
	RetinaNet RetinaNetSettings
	// Classification holds the ImageNet classification settings (224
	// input, 1001 classes for every published variant).
	Classification ClassificationSettings
	// MaskRCNN holds the Mask R-CNN settings (derived by DeriveMaskRCNN
	// for the variants without a published Mask R-CNN: 143L, Mobile).
	MaskRCNN MaskRCNNSettings
	// Note says where the row comes from or what is special about it.
	Note string
}

// Arch returns a fresh copy of the variant's architecture (block list and
// scaling map).
func (v Variant) Arch() *spinenet.Arch {
	a, err := spinenet.Lookup(v.ID)
	if err != nil {
		panic(fmt.Sprintf("models: registry row %q has no architecture: %v", v.ID, err))
	}
	return a
}

// imagenet is the classification setting of every published variant.
var imagenet = ClassificationSettings{InputSize: 224, Classes: 1001}

// registry is the table of built-in variants (spec §2.2, §5.7, §7, §8), in
// the order of spinenet.List.
var registry = []Variant{
	{ID: "49S", Activation: tensor.ActSwish, RetinaNet: RetinaNetSettings{Convs: 4, Filters: 128, AnchorSize: 3, InputSize: 640}, Classification: imagenet, MaskRCNN: MaskRCNNSettings{RPNConvs: 1, RPNFilters: 128, HeadConvs: 4, HeadFilters: 128, FCDim: 512, AnchorSize: 3, InputSize: 640, Activation: tensor.ActReLU}, Note: "paper Table 2"},
	{ID: "49", Activation: tensor.ActSwish, RetinaNet: RetinaNetSettings{Convs: 4, Filters: 256, AnchorSize: 3, InputSize: 640}, Classification: imagenet, MaskRCNN: MaskRCNNSettings{RPNConvs: 1, RPNFilters: 256, HeadConvs: 4, HeadFilters: 256, FCDim: 1024, AnchorSize: 3, InputSize: 640, Activation: tensor.ActReLU}, Note: "paper Table 2; also 896"},
	{ID: "96", Activation: tensor.ActSwish, RetinaNet: RetinaNetSettings{Convs: 4, Filters: 256, AnchorSize: 3, InputSize: 1024}, Classification: imagenet, MaskRCNN: MaskRCNNSettings{RPNConvs: 1, RPNFilters: 256, HeadConvs: 4, HeadFilters: 256, FCDim: 1024, AnchorSize: 3, InputSize: 1024, Activation: tensor.ActReLU}, Note: "paper Table 2"},
	{ID: "143", Activation: tensor.ActSwish, RetinaNet: RetinaNetSettings{Convs: 4, Filters: 256, AnchorSize: 4, InputSize: 1280}, Classification: imagenet, MaskRCNN: MaskRCNNSettings{RPNConvs: 1, RPNFilters: 256, HeadConvs: 4, HeadFilters: 256, FCDim: 1024, AnchorSize: 3, InputSize: 1280, Activation: tensor.ActReLU}, Note: "paper Table 2"},
	{ID: "143L", Activation: tensor.ActSwish, RetinaNet: RetinaNetSettings{Convs: 4, Filters: 256, AnchorSize: 4, InputSize: 1280}, Classification: imagenet, MaskRCNN: MaskRCNNSettings{RPNConvs: 1, RPNFilters: 256, HeadConvs: 4, HeadFilters: 256, FCDim: 1024, AnchorSize: 3, InputSize: 1280}, Note: "code only (TPU/TF2 scaling map), not in the paper; head as 143"},
	{ID: "190", Activation: tensor.ActSwish, RetinaNet: RetinaNetSettings{Convs: 7, Filters: 512, AnchorSize: 4, InputSize: 1280}, Classification: imagenet, MaskRCNN: MaskRCNNSettings{RPNConvs: 1, RPNFilters: 384, HeadConvs: 7, HeadFilters: 384, FCDim: 1024, AnchorSize: 5, InputSize: 1536, Activation: tensor.ActSwish}, Note: "paper Table 2"},
	{ID: "mobile-49XS", Activation: tensor.ActSwish, RetinaNet: RetinaNetSettings{Convs: 4, Filters: 24, Separable: true, AnchorSize: 3, InputSize: 256}, Classification: imagenet, MaskRCNN: MaskRCNNSettings{RPNConvs: 1, RPNFilters: 24, HeadConvs: 4, HeadFilters: 24, FCDim: 96, AnchorSize: 3, InputSize: 256}, Note: "paper Appendix A; TF2 config uses swish"},
	{ID: "mobile-49S", Activation: tensor.ActHardSwish, RetinaNet: RetinaNetSettings{Convs: 4, Filters: 40, Separable: true, AnchorSize: 3, InputSize: 384}, Classification: imagenet, MaskRCNN: MaskRCNNSettings{RPNConvs: 1, RPNFilters: 40, HeadConvs: 4, HeadFilters: 40, FCDim: 160, AnchorSize: 3, InputSize: 384}, Note: "paper Appendix A"},
	{ID: "mobile-49", Activation: tensor.ActHardSwish, RetinaNet: RetinaNetSettings{Convs: 4, Filters: 48, Separable: true, AnchorSize: 3, InputSize: 384}, Classification: imagenet, MaskRCNN: MaskRCNNSettings{RPNConvs: 1, RPNFilters: 48, HeadConvs: 4, HeadFilters: 48, FCDim: 192, AnchorSize: 3, InputSize: 384}, Note: "paper Appendix A"},
}

// All returns the registry rows in order.
func All() []Variant { return append([]Variant(nil), registry...) }

// IDs returns the built-in model ids in registry order.
func IDs() []string {
	ids := make([]string, len(registry))
	for i, v := range registry {
		ids[i] = v.ID
	}
	return ids
}

// Lookup returns the row of a built-in id (case-insensitive, with or
// without a "spinenet-" prefix, as spinenet.Lookup). The error wraps
// spinenet.ErrUnknownModel.
func Lookup(id string) (Variant, error) {
	key := strings.TrimPrefix(strings.ToLower(id), "spinenet-")
	for _, v := range registry {
		if strings.ToLower(v.ID) == key {
			return v, nil
		}
	}
	return Variant{}, fmt.Errorf("%w %q (known: %s)", spinenet.ErrUnknownModel, id, strings.Join(IDs(), ", "))
}
