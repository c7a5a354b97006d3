package recipe

import (
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// Arch returns the architecture with the config's scaling overrides, and
// the construction options.
func (c *Config) Arch() (*spinenet.Arch, spinenet.Options, error) {
	m := c.Model
	var a *spinenet.Arch
	var err error
	if m.Arch != "" {
		a, err = spinenet.ReadArch(c.Path(m.Arch))
	} else {
		a, err = spinenet.Lookup(m.ID)
	}
	if err != nil {
		return nil, spinenet.Options{}, err
	}
	if m.FilterSizeScale > 0 {
		a.FilterSizeScale = m.FilterSizeScale
	}
	if m.ResampleAlpha > 0 {
		a.ResampleAlpha = m.ResampleAlpha
	}
	if m.EndpointsNumFilters > 0 {
		a.EndpointsNumFilters = m.EndpointsNumFilters
	}
	if m.BlockRepeats > 0 {
		a.BlockRepeats = m.BlockRepeats
	}
	if err := a.Validate(); err != nil {
		return nil, spinenet.Options{}, err
	}
	opt := spinenet.DefaultOptions()
	opt.Seed = c.Train.Seed
	if a.Name == "mobile-49" || a.Name == "mobile-49S" {
		opt.Activation = tensor.ActHardSwish
	}
	if m.Activation != "" {
		if opt.Activation, err = nn.ParseActivation(m.Activation); err != nil {
			return nil, opt, &ConfigError{Key: "model.activation", Reason: err.Error()}
		}
	}
	opt.StochasticDepth = m.StochasticDepth
	if m.BNMomentum > 0 {
		opt.BN.Momentum = m.BNMomentum
	}
	if m.BNEpsilon > 0 {
		opt.BN.Epsilon = m.BNEpsilon
	}
	if m.Pooling != "" {
		opt.Pooling = spinenet.PoolingRule(m.Pooling)
	}
	if m.Padding != "" {
		opt.Padding = spinenet.PaddingRule(m.Padding)
	}
	opt.InputChannels = m.InputChannels
	return a, opt, nil
}

// SGD returns the optimizer configuration: momentum 0.9, global-norm
// clipping at 10 and weight decay 4e-5 (detection) or 1e-4
// (classification) unless the config sets them (spec §3.7, §7).
func (c *Config) SGD() optim.SGDConfig {
	s := optim.DefaultSGDConfig()
	if c.Task == "classification" {
		s.WeightDecay = 1e-4
	}
	if c.Train.Momentum != nil {
		s.Momentum = *c.Train.Momentum
	}
	if c.Train.WeightDecay != nil {
		s.WeightDecay = *c.Train.WeightDecay
	}
	if c.Train.ClipNorm != nil {
		s.ClipNorm = *c.Train.ClipNorm
	}
	return s
}

// Schedule returns the learning-rate schedule for a run of totalSteps; a
// cosine schedule without total_steps decays over the whole run.
func (c *Config) Schedule(totalSteps int) (optim.Schedule, error) {
	sc := c.Train.LR
	if sc.Type == "cosine" && sc.TotalSteps == 0 {
		sc.TotalSteps = totalSteps
	}
	if sc.BaseLR == 0 {
		return nil, &ConfigError{Key: "train.lr.base_lr", Reason: "the peak learning rate is required"}
	}
	s, err := optim.NewSchedule(sc)
	if err != nil {
		return nil, &ConfigError{Key: "train.lr", Reason: err.Error()}
	}
	return s, nil
}

// TotalSteps returns train.steps, or epochs × stepsPerEpoch.
func (c *Config) TotalSteps(stepsPerEpoch int) int {
	if c.Train.Steps > 0 {
		return c.Train.Steps
	}
	return c.Train.Epochs * stepsPerEpoch
}
