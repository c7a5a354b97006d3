package models

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
)

// Part names that recipes use to pick tensors of a built model (train.freeze,
// model.init_skip). They follow the tensor names the builders give:
//
//	stem         the 7×7 stem convolution and the two L2 bottleneck groups (stem/…)
//	blocks       every scale-permuted block with its resampling (blocks/<n>/…);
//	             blocks<N, blocks<=N, blocks>N, blocks>=N and blocks=N pick by
//	             block number n, which counts the stem's two outputs as 0 and 1,
//	             so the first permuted block is 2 (as in `spinenet info`)
//	endpoints    the 1×1 endpoint convolutions P3…P7 (endpoints/…)
//	backbone     stem, blocks and endpoints
//	bn           every batch norm (γ, β and the moving statistics)
//	head         the whole head (head/…)
//	class_head   the class predictor: head/class/predict/… (RetinaNet), head/dense/… (classification)
//	box_head     the box predictor head/box/predict/… (RetinaNet)
//	class_tower  the class tower's convolutions and batch norms head/class/conv<i>/… (RetinaNet)
//	box_tower    the box tower's head/box/conv<i>/… (RetinaNet)
//
// Mask R-CNN: head is the RPN and both heads (rpn/…, box_head/…,
// mask_head/…); class_head the per-class layers (box_head/class/… and
// box_head/box/… and mask_head/logits/…: what another class count
// re-initialises, all sized by the classes); box_head the box predictor
// box_head/box/…; rpn rpn/…; mask_head mask_head/….
const (
	PartStem       = "stem"
	PartBlocks     = "blocks"
	PartEndpoints  = "endpoints"
	PartBackbone   = "backbone"
	PartBN         = "bn"
	PartHead       = "head"
	PartClassHead  = "class_head"
	PartBoxHead    = "box_head"
	PartClassTower = "class_tower"
	PartBoxTower   = "box_tower"
	PartRPN        = "rpn"
	PartMaskHead   = "mask_head"
)

// partPrefixes maps each head kind's part names to the tensor-name
// prefixes they cover (PartBlocks with a comparison and PartBN are
// handled apart).
var partPrefixes = map[HeadKind]map[string][]string{
	NoHead: {},
	RetinaNetHead: {
		PartHead: {"head/"}, PartClassHead: {"head/class/predict/"}, PartBoxHead: {"head/box/predict/"},
		PartClassTower: {"head/class/conv"}, PartBoxTower: {"head/box/conv"},
	},
	Classification: {PartHead: {"head/"}, PartClassHead: {"head/dense/"}},
	MaskRCNNHead: {
		PartHead: {"rpn/", "box_head/", "mask_head/"}, PartClassHead: {"box_head/class/", "box_head/box/", "mask_head/logits/"},
		PartBoxHead: {"box_head/box/"}, PartRPN: {"rpn/"}, PartMaskHead: {"mask_head/"},
	},
}

// backbonePrefixes are the parts every model has.
var backbonePrefixes = map[string][]string{
	PartStem: {"stem/"}, PartBlocks: {"blocks/"}, PartEndpoints: {"endpoints/"},
	PartBackbone: {"stem/", "blocks/", "endpoints/"},
}

// PartNames lists the part names a model with the given head accepts, for
// messages.
func PartNames(head HeadKind) []string {
	names := []string{PartStem, PartBlocks, "blocks<N", PartEndpoints, PartBackbone, PartBN}
	for _, n := range []string{PartHead, PartClassHead, PartBoxHead, PartClassTower, PartBoxTower, PartRPN, PartMaskHead} {
		if _, ok := partPrefixes[head][n]; ok {
			names = append(names, n)
		}
	}
	return names
}

// Selection is a set of a built graph's state-dict tensors picked by part
// names (Description.Select).
type Selection struct {
	names map[string]bool
	// Parts are the part names it was made from.
	Parts []string
}

// Has reports whether the state-dict tensor name is selected. A nil
// Selection selects nothing.
func (s *Selection) Has(name string) bool { return s != nil && s.names[name] }

// Len is the number of selected tensors.
func (s *Selection) Len() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// Select resolves part names (see PartStem) into the tensors of g, a graph
// built from d with the given head. An unknown name, a block number outside
// the model's blocks, or a part that picks no tensor of g is an error
// naming it.
func (d *Description) Select(head HeadKind, g *nn.Graph, parts []string) (*Selection, error) {
	heads, ok := partPrefixes[head]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownHead, head)
	}
	sd := g.StateDict()
	sel := &Selection{names: map[string]bool{}, Parts: append([]string(nil), parts...)}
	first, last := spinenet.StemOutputs, spinenet.StemOutputs+len(d.Arch.Blocks)-1
	for _, raw := range parts {
		p := strings.TrimSpace(raw)
		var match func(name string) bool
		switch {
		case p == PartBN:
			bn := map[string]bool{}
			for _, s := range g.BatchNormStats() {
				bn[s.Name] = true
			}
			match = func(name string) bool {
				i := strings.LastIndexByte(name, '/')
				return i > 0 && bn[name[:i]]
			}
		case strings.HasPrefix(p, PartBlocks) && p != PartBlocks:
			lo, hi, err := blockRange(p[len(PartBlocks):], first, last)
			if err != nil {
				return nil, fmt.Errorf("models: part %q: %v", p, err)
			}
			match = func(name string) bool {
				rest, ok := strings.CutPrefix(name, "blocks/")
				if !ok {
					return false
				}
				num, _, _ := strings.Cut(rest, "/")
				n, err := strconv.Atoi(num)
				return err == nil && n >= lo && n <= hi
			}
		default:
			prefixes, ok := backbonePrefixes[p]
			if !ok {
				prefixes, ok = heads[p]
			}
			if !ok {
				what := "a bare backbone"
				if head != NoHead {
					what = "a " + string(head) + " model"
				}
				return nil, fmt.Errorf("models: unknown part %q for %s; want one of %s", p, what, strings.Join(PartNames(head), ", "))
			}
			match = func(name string) bool {
				for _, pre := range prefixes {
					if strings.HasPrefix(name, pre) {
						return true
					}
				}
				return false
			}
		}
		n := 0
		for name := range sd {
			if match(name) {
				sel.names[name] = true
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("models: part %q picks no tensor of %s", p, d.Name())
		}
	}
	return sel, nil
}

// blockRange parses "<N", "<=N", ">N", ">=N" or "=N" into the inclusive
// range of block numbers it picks among first..last.
func blockRange(s string, first, last int) (lo, hi int, err error) {
	var op string
	for _, o := range []string{"<=", ">=", "<", ">", "="} {
		if strings.HasPrefix(s, o) {
			op = o
			break
		}
	}
	n, perr := strconv.Atoi(strings.TrimSpace(s[len(op):]))
	if op == "" || perr != nil {
		return 0, 0, fmt.Errorf("want blocks, or blocks followed by <, <=, >, >= or = and a block number")
	}
	lo, hi = first, last
	switch op {
	case "<":
		hi = n - 1
	case "<=":
		hi = n
	case ">":
		lo = n + 1
	case ">=":
		lo = n
	case "=":
		lo, hi = n, n
	}
	lo, hi = max(lo, first), min(hi, last)
	if lo > hi {
		return 0, 0, fmt.Errorf("picks no block: the model's blocks are %d…%d", first, last)
	}
	return lo, hi, nil
}
