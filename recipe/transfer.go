package recipe

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/spinenet-go/spinenet/models"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/train"
)

// Init scopes (model.init_scope).
const (
	// InitScopeAll loads every tensor of the model from model.init (the
	// default).
	InitScopeAll = "all"
	// InitScopeBackbone loads only the backbone (stem, blocks, endpoints)
	// and keeps the head freshly initialised: classification weights, or a
	// backbone-only import, into a detector.
	InitScopeBackbone = "backbone"
)

// The fine-tune defaults (train.finetune) when model.init is set: the
// recipe's learning rates are scaled by DefaultFinetuneLRScale and its
// warm-up by DefaultFinetuneWarmupScale. Weights that already detect need
// neither the from-scratch peak rate nor its long ramp; detectron2's and
// torchvision's fine-tuning examples run at 0.1–2× their from-scratch rate
// per image, and these are our measured choice for the recipes in
// configs/ (docs/results/finetune).
const (
	DefaultFinetuneLRScale     = 0.25
	DefaultFinetuneWarmupScale = 0.25
)

// FinetuneConfig adjusts the schedule of a run that starts from
// model.init. Absent fields take the defaults above; 1 keeps the recipe's
// values.
type FinetuneConfig struct {
	// LRScale multiplies every learning rate of train.lr (base_lr,
	// warmup_init_lr, final_lr, values).
	LRScale *float64 `json:"lr_scale" yaml:"lr_scale"`
	// WarmupScale multiplies train.lr.warmup_steps (rounded).
	WarmupScale *float64 `json:"warmup_scale" yaml:"warmup_scale"`
}

// set reports whether any field is given.
func (f FinetuneConfig) set() bool { return f.LRScale != nil || f.WarmupScale != nil }

// FinetuneScales returns the learning-rate and warm-up factors the run
// applies to train.lr: train.finetune's (or the defaults) when model.init
// is set, 1 and 1 otherwise.
func (c *Config) FinetuneScales() (lr, warmup float64) {
	if c.Model.Init == "" {
		return 1, 1
	}
	lr, warmup = DefaultFinetuneLRScale, DefaultFinetuneWarmupScale
	if f := c.Train.Finetune; f.LRScale != nil {
		lr = *f.LRScale
	}
	if f := c.Train.Finetune; f.WarmupScale != nil {
		warmup = *f.WarmupScale
	}
	return lr, warmup
}

// finetuned returns sc with FinetuneScales applied.
func (c *Config) finetuned(sc optim.ScheduleConfig) optim.ScheduleConfig {
	lr, warmup := c.FinetuneScales()
	if lr == 1 && warmup == 1 {
		return sc
	}
	sc.BaseLR *= lr
	sc.WarmupInitLR *= lr
	sc.FinalLR *= lr
	sc.Values = append([]float64(nil), sc.Values...)
	for i := range sc.Values {
		sc.Values[i] *= lr
	}
	sc.WarmupSteps = int(math.Round(float64(sc.WarmupSteps) * warmup))
	return sc
}

// validateTransfer checks the transfer-learning keys that do not need the
// model.
func (c *Config) validateTransfer() error {
	switch c.Model.InitScope {
	case "", InitScopeAll, InitScopeBackbone:
	default:
		return &ConfigError{Key: "model.init_scope", Reason: fmt.Sprintf("%q, want %s or %s", c.Model.InitScope, InitScopeAll, InitScopeBackbone)}
	}
	if c.Model.Init == "" {
		switch {
		case len(c.Model.InitSkip) > 0:
			return &ConfigError{Key: "model.init_skip", Reason: "is set but model.init is not"}
		case c.Model.InitScope != "":
			return &ConfigError{Key: "model.init_scope", Reason: "is set but model.init is not"}
		case c.Train.Finetune.set():
			return &ConfigError{Key: "train.finetune", Reason: "is set but model.init is not (it scales the schedule of a fine-tune)"}
		}
	}
	f := c.Train.Finetune
	if f.LRScale != nil && !(*f.LRScale > 0 && *f.LRScale <= 100) {
		return &ConfigError{Key: "train.finetune.lr_scale", Reason: fmt.Sprintf("%v, want 0 < lr_scale ≤ 100", *f.LRScale)}
	}
	if f.WarmupScale != nil && !(*f.WarmupScale >= 0 && *f.WarmupScale <= 100) {
		return &ConfigError{Key: "train.finetune.warmup_scale", Reason: fmt.Sprintf("%v, want 0 ≤ warmup_scale ≤ 100", *f.WarmupScale)}
	}
	return nil
}

// Transfer is how a task's model starts: what model.init loaded and what
// train.freeze keeps fixed.
type Transfer struct {
	// Init reports the tensors loaded from model.init and those
	// re-initialised (nil: no model.init).
	Init *nn.InitReport
	// Freeze is the selection train.freeze made (nil: nothing frozen).
	Freeze *models.Selection
	// OptionsDiff lists the construction options of model.init's model
	// (its metadata) under which its weights computed another function
	// than they do here (spinenet.InferenceDiff): logged as a warning,
	// since fine-tuning may still adapt them.
	OptionsDiff []string
}

// transfer initialises g (built from desc with head) from model.init as
// model.init_scope and model.init_skip allow and resolves train.freeze. A
// tensor the file cannot fill and nothing allows to be re-initialised is a
// *ConfigError on model.init that names it and says which key would allow
// it.
func (c *Config) transfer(desc *models.Description, head models.HeadKind, g *nn.Graph) (Transfer, error) {
	var tr Transfer
	if len(c.Train.Freeze) > 0 {
		sel, err := desc.Select(head, g, c.Train.Freeze)
		if err != nil {
			return tr, &ConfigError{Key: "train.freeze", Reason: err.Error(), Err: err}
		}
		tr.Freeze = sel
	}
	if c.Model.Init == "" {
		return tr, nil
	}
	skip, err := desc.Select(head, g, c.Model.InitSkip)
	if err != nil {
		return tr, &ConfigError{Key: "model.init_skip", Reason: err.Error(), Err: err}
	}
	opt := nn.InitOptions{Skip: skip.Has}
	if c.Model.InitScope == InitScopeBackbone {
		bb, err := desc.Select(head, g, []string{models.PartBackbone})
		if err != nil {
			return tr, err
		}
		opt.Scope = bb.Has
	}
	path := c.Path(c.Model.Init)
	sd, meta, err := nn.ReadStateDict(path)
	if err != nil {
		return tr, &ConfigError{Key: "model.init", Reason: err.Error(), Err: err}
	}
	if js, ok := meta[spinenet.MetaOptions]; ok {
		if fo, err := spinenet.UnmarshalOptions(js); err == nil {
			tr.OptionsDiff = spinenet.InferenceDiff(fo, desc.Options)
		}
	}
	if tr.Init, err = g.InitFrom(sd, path, opt); err != nil {
		reason := err.Error()
		var we *nn.WeightsError
		if errors.As(err, &we) {
			reason += c.initHint(desc, head, g, we)
		}
		return tr, &ConfigError{Key: "model.init", Reason: reason, Err: err}
	}
	return tr, nil
}

// initHint suggests the smallest part whose re-initialisation would accept
// every tensor of we, or says that the file is for another model.
func (c *Config) initHint(desc *models.Description, head models.HeadKind, g *nn.Graph, we *nn.WeightsError) string {
	var names []string
	names = append(names, we.Missing...)
	for _, m := range we.Mismatched {
		name, _, _ := strings.Cut(m, ":")
		names = append(names, name)
	}
	for _, part := range []string{models.PartClassHead, models.PartBoxHead, models.PartHead} {
		sel, err := desc.Select(head, g, []string{part})
		if err != nil {
			continue
		}
		all := true
		for _, n := range names {
			all = all && sel.Has(n)
		}
		if all {
			if part == models.PartHead {
				return fmt.Sprintf(" (to start only the backbone from the file, set model.init_scope: %s, or model.init_skip: [%s])", InitScopeBackbone, part)
			}
			return fmt.Sprintf(" (to re-initialise them, e.g. for another number of classes, set model.init_skip: [%s])", part)
		}
	}
	return " (tensors outside the head differ: the file holds another architecture or scaling than the recipe's model)"
}

// apply hands the transfer to the training loop.
func (tr Transfer) apply(opt *train.Options) {
	opt.Init = tr.Init
	if tr.Freeze != nil {
		opt.Freeze = tr.Freeze.Has
	}
}

// log writes what was loaded, re-initialised and frozen, and the schedule
// changes of a fine-tune.
func (tr Transfer) log(w io.Writer, c *Config) {
	if w == nil {
		return
	}
	if tr.Init != nil {
		fmt.Fprintln(w, tr.Init.Summary())
		if len(tr.OptionsDiff) > 0 {
			fmt.Fprintf(w, "warning: %s was built with %s: its weights compute another function here; set the model.* keys to match unless that is meant\n",
				tr.Init.Source, strings.Join(tr.OptionsDiff, ", "))
		}
		lr, warmup := c.FinetuneScales()
		sc := c.finetuned(c.Train.LR)
		fmt.Fprintf(w, "fine-tune schedule (train.finetune): learning rate %g × %g = %g, warm-up %d × %g = %d steps\n",
			c.Train.LR.BaseLR, lr, sc.BaseLR, c.Train.LR.WarmupSteps, warmup, sc.WarmupSteps)
	}
	if tr.Freeze != nil {
		fmt.Fprintf(w, "frozen (train.freeze: %s): %d tensors\n", strings.Join(tr.Freeze.Parts, ", "), tr.Freeze.Len())
	}
}
