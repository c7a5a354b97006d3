package spinenet

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// MMDetOptions returns the construction options that reproduce the
// mmdetection port of SpineNet (yan-roo/SpineNet-Pytorch, lucifer443):
// ReLU, symmetric k/2 padding on every convolution and pool, one max-pool
// for downsampling beyond 2× (the TPU rule), no activation after the
// endpoint batch norms, batch-norm epsilon 1e-3. Nearest upsampling by an
// integer factor is what Resize does whenever the level sizes divide.
func MMDetOptions() Options {
	o := DefaultOptions()
	o.Activation = tensor.ActReLU
	o.EndpointActivation = false
	o.Padding = PadSymmetric
	o.Pooling = PoolTPU
	o.BN = nn.BNConfig{Momentum: 0.99, Epsilon: 1e-3}
	return o
}

var bnNames = map[string]string{"gamma": "weight", "beta": "bias", nn.MovingMean: "running_mean", nn.MovingVariance: "running_var"}

// mmdetRules rewrite this module's tensor names into the mmdetection port's.
// Each pattern matches a full name; the replacement is built by a function
// because block indices shift by the two stem outputs.
var mmdetRules = []struct {
	re  *regexp.Regexp
	fmt func(m []string) string
}{
	{regexp.MustCompile(`^stem/conv/kernel$`), func(m []string) string { return "conv1.conv.weight" }},
	{regexp.MustCompile(`^stem/bn/(\w+)$`), func(m []string) string { return "conv1.norm." + bnNames[m[1]] }},
	{regexp.MustCompile(`^stem/group(\d+)/r(\d+)/conv(\d)/kernel$`), func(m []string) string {
		return fmt.Sprintf("init_block%d.%s.conv%s.weight", atoi(m[1])+1, m[2], m[3])
	}},
	{regexp.MustCompile(`^stem/group(\d+)/r(\d+)/bn(\d)/(\w+)$`), func(m []string) string {
		return fmt.Sprintf("init_block%d.%s.norm%s.%s", atoi(m[1])+1, m[2], m[3], bnNames[m[4]])
	}},
	{regexp.MustCompile(`^stem/group(\d+)/r(\d+)/shortcut/conv/kernel$`), func(m []string) string {
		return fmt.Sprintf("init_block%d.%s.downsample.0.weight", atoi(m[1])+1, m[2])
	}},
	{regexp.MustCompile(`^stem/group(\d+)/r(\d+)/shortcut/bn/(\w+)$`), func(m []string) string {
		return fmt.Sprintf("init_block%d.%s.downsample.1.%s", atoi(m[1])+1, m[2], bnNames[m[3]])
	}},
	{regexp.MustCompile(`^blocks/(\d+)/resample(\d)/(squeeze|downsample|expand)/conv/kernel$`), func(m []string) string {
		return fmt.Sprintf("merge_ops.%d.resample_ops.%s.%s_conv.conv.weight", atoi(m[1])-StemOutputs, m[2], m[3])
	}},
	{regexp.MustCompile(`^blocks/(\d+)/resample(\d)/(squeeze|downsample|expand)/bn/(\w+)$`), func(m []string) string {
		return fmt.Sprintf("merge_ops.%d.resample_ops.%s.%s_conv.norm.%s", atoi(m[1])-StemOutputs, m[2], m[3], bnNames[m[4]])
	}},
	{regexp.MustCompile(`^blocks/(\d+)/r(\d+)/conv(\d)/kernel$`), func(m []string) string {
		return fmt.Sprintf("scale_permuted_blocks.%d.%s.conv%s.weight", atoi(m[1])-StemOutputs, m[2], m[3])
	}},
	{regexp.MustCompile(`^blocks/(\d+)/r(\d+)/bn(\d)/(\w+)$`), func(m []string) string {
		return fmt.Sprintf("scale_permuted_blocks.%d.%s.norm%s.%s", atoi(m[1])-StemOutputs, m[2], m[3], bnNames[m[4]])
	}},
	{regexp.MustCompile(`^endpoints/P(\d+)/conv/kernel$`), func(m []string) string { return "endpoint_convs." + m[1] + ".conv.weight" }},
	{regexp.MustCompile(`^endpoints/P(\d+)/bn/(\w+)$`), func(m []string) string { return "endpoint_convs." + m[1] + ".norm." + bnNames[m[2]] }},
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// MMDetName returns the mmdetection port's name for one of this module's
// backbone tensor names.
func MMDetName(name string) (string, bool) {
	for _, r := range mmdetRules {
		if m := r.re.FindStringSubmatch(name); m != nil {
			return r.fmt(m), true
		}
	}
	return "", false
}

// ImportMMDet converts a state dict of the mmdetection SpineNet port (its
// tensor names, PyTorch layouts: conv weights OIHW) for model id into a
// backbone built with MMDetOptions. Conv weights are transposed to
// [KH,KW,Cin,Cout]; batch-norm weight/bias/running_mean/running_var become
// gamma/beta/moving_mean/moving_variance; num_batches_tracked counters are
// ignored. A missing or mis-shaped tensor, or one the model does not use,
// is an error naming it.
func ImportMMDet(src map[string]*tensor.Tensor, id string) (*Backbone, error) {
	a, err := Lookup(id)
	if err != nil {
		return nil, err
	}
	if a.Family != FamilyResNet {
		return nil, fmt.Errorf("spinenet: the mmdetection port has no %s model", id)
	}
	opt := MMDetOptions()
	opt.SkipInit = true
	bb, err := Build(a, opt)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	sd := map[string]*tensor.Tensor{}
	var missing, mismatched []string
	for name, own := range bb.Graph.StateDict() {
		theirs, ok := MMDetName(name)
		if !ok {
			return nil, fmt.Errorf("spinenet: internal: no mmdetection name for %s", name)
		}
		t, ok := src[theirs]
		if !ok {
			missing = append(missing, theirs)
			continue
		}
		used[theirs] = true
		conv, err := fromPyTorch(t, own.Shape())
		if err != nil {
			mismatched = append(mismatched, fmt.Sprintf("%s: %v", theirs, err))
			continue
		}
		sd[name] = conv
	}
	var unexpected []string
	for name := range src {
		if !used[name] && !strings.HasSuffix(name, "num_batches_tracked") {
			unexpected = append(unexpected, name)
		}
	}
	if len(missing)+len(mismatched)+len(unexpected) > 0 {
		slices.Sort(missing)
		slices.Sort(mismatched)
		slices.Sort(unexpected)
		return nil, &nn.WeightsError{Source: "(mmdetection SpineNet-" + a.Name + ")", Missing: missing, Mismatched: mismatched, Unexpected: unexpected}
	}
	if err := bb.Graph.LoadStateDict(sd, "mmdetection import"); err != nil {
		return nil, err
	}
	return bb, nil
}

// fromPyTorch converts a PyTorch tensor to the layout of want: OIHW conv
// weights to HWIO, vectors unchanged.
func fromPyTorch(t *tensor.Tensor, want []int) (*tensor.Tensor, error) {
	s := t.Shape()
	if len(want) == 4 {
		kh, kw, ci, co := want[0], want[1], want[2], want[3]
		if !tensor.EqualShapes(s, []int{co, ci, kh, kw}) {
			return nil, fmt.Errorf("shape %v, want [%d %d %d %d] (OIHW)", s, co, ci, kh, kw)
		}
		out := tensor.New(want...)
		src, dst := t.Data(), out.Data()
		for o := range co {
			for i := range ci {
				for y := range kh {
					for x := range kw {
						dst[((y*kw+x)*ci+i)*co+o] = src[((o*ci+i)*kh+y)*kw+x]
					}
				}
			}
		}
		return out, nil
	}
	if !tensor.EqualShapes(s, want) {
		return nil, fmt.Errorf("shape %v, want %v", s, want)
	}
	return t, nil
}
