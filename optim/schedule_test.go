package optim_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/optim"
)

type lrCase struct {
	step int
	want float64
}

func checkSchedule(t *testing.T, name string, s optim.Schedule, cases []lrCase) {
	t.Helper()
	for _, c := range cases {
		if got := s.LR(c.step); !near(got, c.want, 1e-12) {
			t.Errorf("%s: LR(%d) = %.12g, want %.12g", name, c.step, got, c.want)
		}
	}
}

func TestSchedules(t *testing.T) {
	checkSchedule(t, "Constant", optim.Constant(0.1), []lrCase{{-1, 0.1}, {0, 0.1}, {1 << 30, 0.1}})

	// TPU SpineNet-49 step recipe (spec §7) with StepDecay ×0.1.
	step := optim.StepDecay{Base: 0.28, Boundaries: []int{217610, 226870}, Factor: 0.1}
	checkSchedule(t, "StepDecay", step, []lrCase{
		{-5, 0.28}, {0, 0.28}, {217609, 0.28}, {217610, 0.028}, {226869, 0.028}, {226870, 0.0028}, {231500, 0.0028},
	})

	pw := optim.Piecewise{Boundaries: []int{10, 20}, Values: []float64{1, 0.5, 0.25}}
	checkSchedule(t, "Piecewise", pw, []lrCase{{0, 1}, {9, 1}, {10, 0.5}, {19, 0.5}, {20, 0.25}, {1000, 0.25}})

	// Warm-up to a constant: TPU formula warmup + step/steps·(init − warmup).
	wc := optim.LinearWarmup{Steps: 2000, InitLR: 0.0067, Then: optim.Constant(0.28)}
	checkSchedule(t, "LinearWarmup(Constant)", wc, []lrCase{
		{-1, 0.0067}, {0, 0.0067}, {1, 0.0067 + (0.28-0.0067)/2000}, {1000, 0.0067 + (0.28-0.0067)/2},
		{1999, 0.0067 + (0.28-0.0067)*1999/2000}, {2000, 0.28}, {5000, 0.28},
	})

	// Warm-up to a schedule that already decays: the target is Then.LR(Steps)
	// (TF2 LinearWarmup), here Cosine without offset.
	cos := optim.Cosine{Base: 1, Final: 0, TotalSteps: 100}
	wcos := optim.LinearWarmup{Steps: 10, InitLR: 0, Then: cos}
	target := 0.5 * (1 + math.Cos(math.Pi*10/100))
	checkSchedule(t, "LinearWarmup(Cosine)", wcos, []lrCase{{0, 0}, {5, target / 2}, {10, target}, {100, 0}})

	// Keras CosineDecay(1.6, 1000, alpha=0.1): final = alpha·base = 0.16.
	ck := optim.Cosine{Base: 1.6, Final: 0.16, TotalSteps: 1000}
	checkSchedule(t, "Cosine", ck, []lrCase{
		{0, 1.6}, {250, 0.16 + 1.44*0.5*(1+math.Cos(math.Pi/4))}, {500, 0.88}, {1000, 0.16}, {2000, 0.16},
	})

	// TPU ImageNet recipe (spec §5.7): cosine from 1.6 after 1564 warm-up steps,
	// 62557 steps in all.
	co := optim.Cosine{Base: 1.6, TotalSteps: 62557, Offset: 1564}
	mid := 1564 + (62557-1564)/2
	checkSchedule(t, "Cosine with offset", co, []lrCase{
		{0, 1.6}, {1564, 1.6}, {mid, 1.6 * 0.5 * (1 + math.Cos(math.Pi*float64(mid-1564)/float64(62557-1564)))},
		{62557, 0}, {70000, 0},
	})

	checkSchedule(t, "degenerate Cosine", optim.Cosine{Base: 1, Final: 0.5, TotalSteps: 10, Offset: 10}, []lrCase{{0, 0.5}, {10, 0.5}})
	checkSchedule(t, "no warm-up", optim.LinearWarmup{Steps: 0, InitLR: 9, Then: optim.Constant(1)}, []lrCase{{0, 1}})
}

func TestNewSchedule(t *testing.T) {
	cases := []struct {
		name string
		cfg  optim.ScheduleConfig
		want []lrCase
	}{
		{"constant", optim.ScheduleConfig{Type: "constant", BaseLR: 0.1}, []lrCase{{0, 0.1}, {100, 0.1}}},
		{"constant warm-up", optim.ScheduleConfig{Type: "constant", BaseLR: 0.1, WarmupSteps: 10, WarmupInitLR: 0.01},
			[]lrCase{{0, 0.01}, {5, 0.055}, {10, 0.1}}},
		// TPU SpineNet-49 RetinaNet (spec §7), with explicit levels.
		{"step values", optim.ScheduleConfig{Type: "step", BaseLR: 0.28, WarmupSteps: 2000, WarmupInitLR: 0.0067,
			Boundaries: []int{217610, 226870}, Values: []float64{0.028, 0.0028}},
			[]lrCase{{0, 0.0067}, {1000, 0.0067 + (0.28-0.0067)/2}, {2000, 0.28}, {217609, 0.28}, {217610, 0.028}, {226870, 0.0028}, {231500, 0.0028}}},
		// TF2 SpineNet RetinaNet (spec §7): peak 0.32, decays at steps 219450 and 226380.
		{"step factor", optim.ScheduleConfig{Type: "step", BaseLR: 0.32, WarmupSteps: 2000, WarmupInitLR: 0.0067,
			Boundaries: []int{219450, 226380}, Factor: 0.1},
			[]lrCase{{0, 0.0067}, {2000, 0.32}, {219449, 0.32}, {219450, 0.032}, {226380, 0.0032}}},
		{"step no boundaries", optim.ScheduleConfig{Type: "step", BaseLR: 0.5}, []lrCase{{0, 0.5}, {1e6, 0.5}}},
		// TPU SpineNet ImageNet (spec §5.7).
		{"cosine", optim.ScheduleConfig{Type: "cosine", BaseLR: 1.6, WarmupSteps: 1564, TotalSteps: 62557},
			[]lrCase{{0, 0}, {782, 0.8}, {1564, 1.6}, {1564 + 60993/2, 1.6 * 0.5 * (1 + math.Cos(math.Pi*float64(60993/2)/60993))}, {62557, 0}}},
		{"cosine final", optim.ScheduleConfig{Type: "cosine", BaseLR: 1, TotalSteps: 100, FinalLR: 0.1},
			[]lrCase{{0, 1}, {50, 0.55}, {100, 0.1}}},
	}
	for _, c := range cases {
		s, err := optim.NewSchedule(c.cfg)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		checkSchedule(t, c.name, s, c.want)
	}
}

func TestNewScheduleErrors(t *testing.T) {
	cases := []struct {
		cfg       optim.ScheduleConfig
		wantField string
		wantText  string
	}{
		{optim.ScheduleConfig{Type: "exponential", BaseLR: 0.1}, "ScheduleConfig.Type", `unknown schedule type "exponential"`},
		{optim.ScheduleConfig{BaseLR: 0.1}, "ScheduleConfig.Type", `unknown schedule type ""`},
		{optim.ScheduleConfig{Type: "constant", BaseLR: -0.1}, "ScheduleConfig.BaseLR", "-0.1"},
		{optim.ScheduleConfig{Type: "constant", BaseLR: math.NaN()}, "ScheduleConfig.BaseLR", "NaN"},
		{optim.ScheduleConfig{Type: "constant", BaseLR: 0.1, WarmupSteps: -1}, "ScheduleConfig.WarmupSteps", "negative"},
		{optim.ScheduleConfig{Type: "constant", BaseLR: 0.1, WarmupInitLR: 0.01}, "ScheduleConfig.WarmupInitLR", "without WarmupSteps"},
		{optim.ScheduleConfig{Type: "constant", BaseLR: 0.1, TotalSteps: 10}, "ScheduleConfig.TotalSteps", `not used by schedule type "constant"`},
		{optim.ScheduleConfig{Type: "constant", BaseLR: 0.1, Factor: 0.1}, "ScheduleConfig.Factor", "not used"},
		{optim.ScheduleConfig{Type: "step", BaseLR: 0.1, Boundaries: []int{10}}, "ScheduleConfig.Factor", "positive multiplier"},
		{optim.ScheduleConfig{Type: "step", BaseLR: 0.1, Boundaries: []int{10}, Factor: -0.1}, "ScheduleConfig.Factor", "positive multiplier"},
		{optim.ScheduleConfig{Type: "step", BaseLR: 0.1, Boundaries: []int{10, 10}, Factor: 0.1}, "ScheduleConfig.Boundaries[1]", "must increase"},
		{optim.ScheduleConfig{Type: "step", BaseLR: 0.1, WarmupSteps: 20, Boundaries: []int{10}, Factor: 0.1}, "ScheduleConfig.Boundaries[0]", "inside the 20-step warm-up"},
		{optim.ScheduleConfig{Type: "step", BaseLR: 0.1, Boundaries: []int{10, 20}, Values: []float64{0.01}}, "ScheduleConfig.Values", "1 values for 2 boundaries"},
		{optim.ScheduleConfig{Type: "step", BaseLR: 0.1, Boundaries: []int{10}, Values: []float64{0.01}, Factor: 0.1}, "ScheduleConfig.Factor", "together with Values"},
		{optim.ScheduleConfig{Type: "step", BaseLR: 0.1, Boundaries: []int{10}, Values: []float64{math.Inf(1)}}, "ScheduleConfig.Values[0]", "+Inf"},
		{optim.ScheduleConfig{Type: "step", BaseLR: 0.1, FinalLR: 0.1}, "ScheduleConfig.FinalLR", "not used"},
		{optim.ScheduleConfig{Type: "cosine", BaseLR: 0.1}, "ScheduleConfig.TotalSteps", "must exceed WarmupSteps"},
		{optim.ScheduleConfig{Type: "cosine", BaseLR: 0.1, WarmupSteps: 100, TotalSteps: 100}, "ScheduleConfig.TotalSteps", "must exceed"},
		{optim.ScheduleConfig{Type: "cosine", BaseLR: 0.1, TotalSteps: 100, FinalLR: -1}, "ScheduleConfig.FinalLR", "-1"},
		{optim.ScheduleConfig{Type: "cosine", BaseLR: 0.1, TotalSteps: 100, Boundaries: []int{5}}, "ScheduleConfig.Boundaries", "not used"},
	}
	for _, c := range cases {
		_, err := optim.NewSchedule(c.cfg)
		var ce *optim.SettingError
		if !errors.As(err, &ce) {
			t.Errorf("%+v: error %v, want *SettingError", c.cfg, err)
			continue
		}
		if ce.Field != c.wantField || !strings.Contains(err.Error(), c.wantText) {
			t.Errorf("%+v: error %q (field %q), want field %q and text %q", c.cfg, err, ce.Field, c.wantField, c.wantText)
		}
	}
}

// The TPU SpineNet-49 RetinaNet learning rate (spec §7) from a config.
func ExampleNewSchedule() {
	sched, err := optim.NewSchedule(optim.ScheduleConfig{
		Type:         "step",
		BaseLR:       0.28,
		WarmupSteps:  2000,
		WarmupInitLR: 0.0067,
		Boundaries:   []int{217610, 226870},
		Values:       []float64{0.028, 0.0028},
	})
	if err != nil {
		panic(err)
	}
	for _, step := range []int{0, 1000, 2000, 217610, 226870} {
		fmt.Printf("step %6d: lr %.5g\n", step, sched.LR(step))
	}
	// Output:
	// step      0: lr 0.0067
	// step   1000: lr 0.14335
	// step   2000: lr 0.28
	// step 217610: lr 0.028
	// step 226870: lr 0.0028
}
