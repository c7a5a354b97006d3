package optim

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate for an update. step is the number of
// updates already applied (0 for the first), TensorFlow's global_step as the
// references pass it to their learning-rate functions. Negative steps are
// treated as 0.
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant float64

// LR returns c for every step.
func (c Constant) LR(int) float64 { return float64(c) }

// LinearWarmup ramps the learning rate linearly from InitLR towards the
// wrapped schedule's value at the end of the warm-up, then follows Then:
//
//	lr(step) = InitLR + (Then.LR(Steps) − InitLR)·step/Steps   for step < Steps
//	lr(step) = Then.LR(step)                                   for step ≥ Steps
//
// This is TF2's LinearWarmup (official/modeling/optimization/lr_schedule.py)
// and, with a constant or step Then, the warm-up of the TPU reference's
// step_learning_rate_with_linear_warmup. The SpineNet yamls warm up 2000
// steps from 0.0067 (spec §7, §11).
type LinearWarmup struct {
	Steps  int      // warm-up length in updates; ≤ 0 disables the warm-up
	InitLR float64  // learning rate at step 0
	Then   Schedule // schedule after the warm-up; must not be nil
}

// LR implements Schedule.
func (w LinearWarmup) LR(step int) float64 {
	step = max(step, 0)
	if step >= w.Steps {
		return w.Then.LR(step)
	}
	target := w.Then.LR(w.Steps)
	return w.InitLR + (target-w.InitLR)*float64(step)/float64(w.Steps)
}

// StepDecay multiplies the learning rate by Factor at each boundary:
// lr(step) = Base·Factor^k, where k is the number of Boundaries ≤ step. A
// boundary is thus the first step at the decayed rate, as in the TPU
// reference (global_step >= start_step); Keras's PiecewiseConstantDecay
// switches one step later (step > boundary). The SpineNet recipes decay by
// 0.1 twice, for the last ~30 and ~10 epochs (spec §5.2, §7). Boundaries must
// be increasing.
type StepDecay struct {
	Base       float64 // learning rate before the first boundary
	Boundaries []int   // increasing steps at which the rate is multiplied by Factor
	Factor     float64 // multiplier per boundary, e.g. 0.1
}

// LR implements Schedule.
func (s StepDecay) LR(step int) float64 {
	step = max(step, 0)
	lr := s.Base
	for _, b := range s.Boundaries {
		if step < b {
			break
		}
		lr *= s.Factor
	}
	return lr
}

// Piecewise is a piecewise-constant learning rate with explicit values:
// Values[k] where k is the number of Boundaries ≤ step, so len(Values) must
// be len(Boundaries)+1 and Boundaries increasing. With Values[0] the initial
// rate and Values[1:] the TPU config's learning_rate_levels, it is the TPU
// reference's step schedule; the boundary convention is StepDecay's.
type Piecewise struct {
	Boundaries []int     // increasing first steps of Values[1:]
	Values     []float64 // one more value than boundaries
}

// LR implements Schedule.
func (p Piecewise) LR(step int) float64 {
	step = max(step, 0)
	k := 0
	for k < len(p.Boundaries) && step >= p.Boundaries[k] {
		k++
	}
	return p.Values[k]
}

// Cosine decays the learning rate from Base to Final along half a cosine
// between steps Offset and TotalSteps:
//
//	lr(step) = Base                                     for step < Offset
//	lr(step) = Final + (Base−Final)·(1 + cos(π·t/T))/2   t = step−Offset, T = TotalSteps−Offset
//	lr(step) = Final                                    for step ≥ TotalSteps
//
// This is Keras's CosineDecay(Base, decay_steps T, alpha = Final/Base) shifted
// by Offset (TF2's CosineDecayWithOffset, except that TF2 mirrors the cosine
// for steps before Offset). The TPU reference's cosine schedule, used for
// SpineNet on ImageNet (spec §5.7), starts at the end of the warm-up:
// Offset = warm-up steps, Final = 0.
type Cosine struct {
	Base       float64 // learning rate at Offset
	Final      float64 // learning rate from TotalSteps on (TF alpha·Base)
	TotalSteps int     // step at which the decay reaches Final
	Offset     int     // step at which the decay starts
}

// LR implements Schedule.
func (c Cosine) LR(step int) float64 {
	t, T := max(step, 0)-c.Offset, c.TotalSteps-c.Offset
	switch {
	case t <= 0:
		if T <= 0 {
			return c.Final
		}
		return c.Base
	case t >= T:
		return c.Final
	}
	return c.Final + (c.Base-c.Final)*0.5*(1+math.Cos(math.Pi*float64(t)/float64(T)))
}

// ScheduleConfig describes a schedule in plain fields, for training configs
// read from YAML or JSON; NewSchedule builds it. Fields a type does not use
// must be left zero. Example, the TPU SpineNet-49 RetinaNet recipe (spec §7):
//
//	ScheduleConfig{Type: "step", BaseLR: 0.28, WarmupSteps: 2000, WarmupInitLR: 0.0067,
//		Boundaries: []int{217610, 226870}, Values: []float64{0.028, 0.0028}}
type ScheduleConfig struct {
	// Type is "constant", "step" or "cosine".
	Type string `json:"type" yaml:"type"`
	// BaseLR is the peak learning rate, reached at the end of the warm-up
	// (TPU init_learning_rate; 0.28 in the TPU SpineNet yamls, 0.32 in TF2's,
	// spec §11).
	BaseLR float64 `json:"base_lr" yaml:"base_lr"`
	// WarmupSteps is the length of a linear warm-up from WarmupInitLR to
	// BaseLR (LinearWarmup); 0 means none.
	WarmupSteps int `json:"warmup_steps" yaml:"warmup_steps"`
	// WarmupInitLR is the learning rate at step 0 of the warm-up (TPU
	// warmup_learning_rate).
	WarmupInitLR float64 `json:"warmup_init_lr" yaml:"warmup_init_lr"`
	// Boundaries ("step") are the increasing first steps of each decayed rate
	// (TPU learning_rate_steps). They must not fall inside the warm-up.
	Boundaries []int `json:"boundaries" yaml:"boundaries"`
	// Factor ("step") multiplies the rate at each boundary (StepDecay).
	Factor float64 `json:"factor" yaml:"factor"`
	// Values ("step"), instead of Factor, give the rate from each boundary on
	// (TPU learning_rate_levels; Piecewise), one per boundary.
	Values []float64 `json:"values" yaml:"values"`
	// TotalSteps ("cosine") is the step at which the decay reaches FinalLR;
	// the decay starts at the end of the warm-up, as in the TPU reference.
	TotalSteps int `json:"total_steps" yaml:"total_steps"`
	// FinalLR ("cosine") is the learning rate from TotalSteps on (Keras
	// CosineDecay's alpha·BaseLR).
	FinalLR float64 `json:"final_lr" yaml:"final_lr"`
}

// NewSchedule builds the schedule cfg describes: Constant, StepDecay,
// Piecewise or Cosine, wrapped in a LinearWarmup when WarmupSteps > 0. It
// returns a *SettingError naming the field for an unknown type, an invalid
// value, or a field the type does not use.
func NewSchedule(cfg ScheduleConfig) (Schedule, error) {
	bad := func(field, format string, args ...any) error {
		return &SettingError{Field: "ScheduleConfig." + field, Reason: fmt.Sprintf(format, args...)}
	}
	nonNeg := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }
	unused := func(field string) error {
		return bad(field, "not used by schedule type %q", cfg.Type)
	}
	switch {
	case !nonNeg(cfg.BaseLR):
		return nil, bad("BaseLR", "%v is not a finite non-negative number", cfg.BaseLR)
	case cfg.WarmupSteps < 0:
		return nil, bad("WarmupSteps", "%d is negative", cfg.WarmupSteps)
	case !nonNeg(cfg.WarmupInitLR):
		return nil, bad("WarmupInitLR", "%v is not a finite non-negative number", cfg.WarmupInitLR)
	case cfg.WarmupSteps == 0 && cfg.WarmupInitLR != 0:
		return nil, bad("WarmupInitLR", "set without WarmupSteps")
	}

	var s Schedule
	switch cfg.Type {
	case "constant":
		switch {
		case len(cfg.Boundaries) > 0:
			return nil, unused("Boundaries")
		case cfg.Factor != 0:
			return nil, unused("Factor")
		case len(cfg.Values) > 0:
			return nil, unused("Values")
		case cfg.TotalSteps != 0:
			return nil, unused("TotalSteps")
		case cfg.FinalLR != 0:
			return nil, unused("FinalLR")
		}
		s = Constant(cfg.BaseLR)

	case "step":
		switch {
		case cfg.TotalSteps != 0:
			return nil, unused("TotalSteps")
		case cfg.FinalLR != 0:
			return nil, unused("FinalLR")
		}
		for i, b := range cfg.Boundaries {
			switch {
			case b < cfg.WarmupSteps:
				return nil, bad(fmt.Sprintf("Boundaries[%d]", i), "step %d falls inside the %d-step warm-up", b, cfg.WarmupSteps)
			case i > 0 && b <= cfg.Boundaries[i-1]:
				return nil, bad(fmt.Sprintf("Boundaries[%d]", i), "step %d does not follow %d (boundaries must increase)", b, cfg.Boundaries[i-1])
			}
		}
		bounds := append([]int(nil), cfg.Boundaries...)
		if len(cfg.Values) > 0 {
			if cfg.Factor != 0 {
				return nil, bad("Factor", "set together with Values; give one of them")
			}
			if len(cfg.Values) != len(cfg.Boundaries) {
				return nil, bad("Values", "%d values for %d boundaries (one learning rate per boundary)", len(cfg.Values), len(cfg.Boundaries))
			}
			for i, v := range cfg.Values {
				if !nonNeg(v) {
					return nil, bad(fmt.Sprintf("Values[%d]", i), "%v is not a finite non-negative number", v)
				}
			}
			s = Piecewise{Boundaries: bounds, Values: append([]float64{cfg.BaseLR}, cfg.Values...)}
			break
		}
		if len(cfg.Boundaries) > 0 && (!nonNeg(cfg.Factor) || cfg.Factor == 0) {
			return nil, bad("Factor", "%v: want a positive multiplier such as 0.1 (or give Values)", cfg.Factor)
		}
		s = StepDecay{Base: cfg.BaseLR, Boundaries: bounds, Factor: cfg.Factor}

	case "cosine":
		switch {
		case len(cfg.Boundaries) > 0:
			return nil, unused("Boundaries")
		case cfg.Factor != 0:
			return nil, unused("Factor")
		case len(cfg.Values) > 0:
			return nil, unused("Values")
		case cfg.TotalSteps <= cfg.WarmupSteps:
			return nil, bad("TotalSteps", "%d must exceed WarmupSteps (%d)", cfg.TotalSteps, cfg.WarmupSteps)
		case !nonNeg(cfg.FinalLR):
			return nil, bad("FinalLR", "%v is not a finite non-negative number", cfg.FinalLR)
		}
		s = Cosine{Base: cfg.BaseLR, Final: cfg.FinalLR, TotalSteps: cfg.TotalSteps, Offset: cfg.WarmupSteps}

	default:
		return nil, bad("Type", "unknown schedule type %q (want \"constant\", \"step\" or \"cosine\")", cfg.Type)
	}
	if cfg.WarmupSteps > 0 {
		s = LinearWarmup{Steps: cfg.WarmupSteps, InitLR: cfg.WarmupInitLR, Then: s}
	}
	return s, nil
}
