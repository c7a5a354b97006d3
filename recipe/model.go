package recipe

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/spinenet-go/spinenet/models"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/spinenet"
)

// Resolve turns the config's model section into a model description
// (models.Resolve: the registry row or the architecture file, with the
// scaling, construction and head overrides applied). A bad value is a
// *ConfigError naming the model.* key (model.id for an unknown id,
// model.arch for an architecture file that cannot be read or is invalid).
func (c *Config) Resolve() (*models.Description, error) {
	m := c.Model
	r := models.Request{ID: m.ID,
		FilterSizeScale: m.FilterSizeScale, ResampleAlpha: m.ResampleAlpha, EndpointsNumFilters: m.EndpointsNumFilters, BlockRepeats: m.BlockRepeats,
		Activation: m.Activation, Pooling: m.Pooling, Padding: m.Padding, StochasticDepth: m.StochasticDepth,
		BNMomentum: m.BNMomentum, BNEpsilon: m.BNEpsilon, InputChannels: m.InputChannels, StemFilters: m.StemFilters, Seed: c.Train.Seed,
		HeadConvs: m.HeadConvs, HeadFilters: m.HeadFilters, AnchorSize: m.AnchorSize}
	if m.Arch != "" {
		if m.ID != "" {
			return nil, &ConfigError{Key: "model", Reason: fmt.Sprintf("both id %q and arch %q are set; name one", m.ID, m.Arch)}
		}
		r.ArchFile = c.Path(m.Arch)
	}
	if m.Architecture != nil {
		if m.ID != "" || m.Arch != "" {
			return nil, &ConfigError{Key: "model", Reason: "an Architecture is given with model.id or model.arch; name one"}
		}
		r.Arch = m.Architecture
	}
	d, err := models.Resolve(r)
	var re *models.RequestError
	if errors.As(err, &re) {
		return nil, &ConfigError{Key: "model." + re.Field, Reason: re.Reason, Err: err}
	}
	if err != nil {
		key := "model"
		switch {
		case m.Arch != "":
			key = "model.arch" // the file's error names the file and the block row
		case errors.Is(err, spinenet.ErrUnknownModel):
			key = "model.id"
		}
		return nil, &ConfigError{Key: key, Reason: err.Error(), Err: err}
	}
	return d, nil
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
// cosine schedule without total_steps decays over the whole run. A run
// from model.init has its rates and warm-up scaled (FinetuneScales).
func (c *Config) Schedule(totalSteps int) (optim.Schedule, error) {
	sc := c.finetuned(c.Train.LR)
	if sc.Type == "cosine" && sc.TotalSteps == 0 {
		sc.TotalSteps = totalSteps
	}
	if sc.BaseLR == 0 {
		return nil, &ConfigError{Key: "train.lr.base_lr", Reason: "the peak learning rate is required"}
	}
	s, err := optim.NewSchedule(sc)
	var se *optim.SettingError
	if errors.As(err, &se) {
		return nil, &ConfigError{Key: scheduleKey(se.Field), Reason: se.Reason, Err: err}
	}
	if err != nil {
		return nil, &ConfigError{Key: "train.lr", Reason: err.Error(), Err: err}
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

// scheduleKey turns an optim.SettingError field ("ScheduleConfig.BaseLR")
// into the recipe key that sets it ("train.lr.base_lr").
func scheduleKey(field string) string {
	name, _ := strings.CutPrefix(field, "ScheduleConfig.")
	if f, ok := reflect.TypeFor[optim.ScheduleConfig]().FieldByName(name); ok {
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag != "" {
			return "train.lr." + tag
		}
	}
	return "train.lr"
}
