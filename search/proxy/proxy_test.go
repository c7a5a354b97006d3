package proxy_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/data/mosaic"
	"github.com/spinenet-go/spinenet/search/proxy"
	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/spinenet"
)

func unit(t *testing.T) proxy.Preset {
	t.Helper()
	p, err := proxy.Named("unit")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func arch49(t *testing.T) *spinenet.Arch {
	t.Helper()
	a, err := spinenet.Lookup("49")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A unit-preset trial trains, evaluates and reports a sane result, and
// writes nothing.
func TestRunUnit(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	p := unit(t)
	r, err := proxy.Run(context.Background(), p, arch49(t), proxy.RunOptions{Seed: 1, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{"AP": r.AP, "AP50": r.AP50, "APs": r.APs, "APm": r.APm} {
		if !(v >= 0 && v <= 1) {
			t.Errorf("%s %v, want [0, 1]", name, v)
		}
	}
	if r.AP50 < r.AP {
		t.Errorf("AP50 %v < AP %v", r.AP50, r.AP)
	}
	wantSteps := p.Epochs * (p.Data.Train / p.Batch)
	if r.Steps != wantSteps || !(r.FinalLoss > 0) || math.IsInf(r.FinalLoss, 0) {
		t.Errorf("steps %d (want %d), final loss %v", r.Steps, wantSteps, r.FinalLoss)
	}
	macs, params, err := p.CountCost(arch49(t))
	if err != nil || r.MACs != macs || r.Params != params || macs <= 0 || params <= 0 {
		t.Errorf("MACs %d params %d; CountCost %d %d %v", r.MACs, r.Params, macs, params, err)
	}
	if !(r.TrainSeconds > 0 && r.EvalSeconds > 0 && r.ImagesPerSecond > 0) {
		t.Errorf("seconds %v + %v, %v images/s", r.TrainSeconds, r.EvalSeconds, r.ImagesPerSecond)
	}
	if ents, _ := os.ReadDir(wd); len(ents) != 0 {
		t.Errorf("the trial wrote %v", ents)
	}
}

// The result depends on the arch, seed and preset, not on the threads.
func TestRunDeterministicAcrossThreads(t *testing.T) {
	p := unit(t)
	s, err := space.Named("spinenet49")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Decode(s.ResNetOrder())
	if err != nil {
		t.Fatal(err)
	}
	one, err := proxy.Run(context.Background(), p, a, proxy.RunOptions{Seed: 3, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	two, err := proxy.Run(context.Background(), p, a, proxy.RunOptions{Seed: 3, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(one.AP) != math.Float64bits(two.AP) || math.Float64bits(one.AP50) != math.Float64bits(two.AP50) ||
		math.Float64bits(one.FinalLoss) != math.Float64bits(two.FinalLoss) {
		t.Errorf("threads 1: AP %v AP50 %v loss %v; threads 2: AP %v AP50 %v loss %v",
			one.AP, one.AP50, one.FinalLoss, two.AP, two.AP50, two.FinalLoss)
	}
	// Another seed trains another model (the comparison above can fail).
	other, err := proxy.Run(context.Background(), p, a, proxy.RunOptions{Seed: 4, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if other.FinalLoss == one.FinalLoss {
		t.Errorf("seeds 3 and 4 gave the same final loss %v", one.FinalLoss)
	}
}

// With Dir the trial writes the run directory's weights and metrics.
func TestRunDir(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a run directory")
	}
	dir := filepath.Join(t.TempDir(), "trial")
	if _, err := proxy.Run(context.Background(), unit(t), arch49(t), proxy.RunOptions{Seed: 1, Threads: 2, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.safetensors", "metrics.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// An invalid architecture and a diverging run are TrialErrors.
func TestRunTrialErrors(t *testing.T) {
	p := unit(t)
	var te *proxy.TrialError
	if _, err := proxy.Run(context.Background(), p, nil, proxy.RunOptions{}); !errors.As(err, &te) || te.Reason != proxy.ReasonInvalidArch {
		t.Errorf("nil arch: %v", err)
	}
	bad := arch49(t)
	bad.Blocks = append([]spinenet.BlockSpec(nil), bad.Blocks...)
	bad.Blocks[3].Inputs = [2]int{40, 41} // parents that do not exist yet
	if _, err := proxy.Run(context.Background(), p, bad, proxy.RunOptions{}); !errors.As(err, &te) || te.Reason != proxy.ReasonInvalidArch {
		t.Errorf("bad parents: %v", err)
	}
	if _, _, err := p.CountCost(bad); !errors.As(err, &te) {
		t.Errorf("CountCost of a bad arch: %v", err)
	}
	hot := p
	hot.LR.BaseLR, hot.LR.WarmupSteps, hot.LR.WarmupInitLR = 1e12, 0, 0
	_, err := proxy.Run(context.Background(), hot, arch49(t), proxy.RunOptions{Threads: 2})
	if !errors.As(err, &te) || te.Reason != proxy.ReasonNonFinite {
		t.Errorf("lr 1e12: %v", err)
	}
}

// Every preset's recipe validates; the table matches nas.md §5.
func TestPresets(t *testing.T) {
	if got := proxy.Names(); len(got) != 5 || got[0] != "unit" || got[3] != "paper" || got[4] != "fmnist" {
		t.Fatalf("names %v", got)
	}
	for _, p := range proxy.Presets() {
		c, err := p.Recipe(arch49(t), "", "")
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		if c.Input.Size != p.Size || c.Model.FilterSizeScale != p.FilterSizeScale || c.Model.HeadFilters != p.HeadFilters ||
			c.Model.StemFilters != p.StemFilters {
			t.Errorf("%s: recipe %+v", p.Name, c.Model)
		}
		if d, err := p.Describe(arch49(t), 1); err != nil || d.Options.StemFilters != p.StemFilters {
			t.Errorf("%s: Describe: %v, options %+v", p.Name, err, d)
		}
		if _, _, err := p.CountCost(arch49(t)); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if est := proxy.EstimateSeconds(p, 1e7); !(est > 0) {
			t.Errorf("%s: estimate %v", p.Name, est)
		}
	}
	paper, _ := proxy.Named("paper")
	if paper.FilterSizeScale != 0.25 || paper.ResampleAlpha != 0.25 || paper.HeadFilters != 64 || paper.HeadConvs != 4 ||
		paper.Size != 512 || paper.Epochs != 5 || paper.Data.ValCount != 7392 || paper.StemFilters != 0 {
		t.Errorf("paper preset %+v", paper)
	}
	fast, _ := proxy.Named("fast")
	if fast.Size != 128 || fast.AnchorSize != 2 || fast.Data.MinSide != 10 || fast.Data.MaxSide != 110 || !fast.Data.LogUniform {
		t.Errorf("fast preset %+v", fast)
	}
	// fmnist is fast's model and input on another data source.
	fm, _ := proxy.Named("fmnist")
	if fm.Size != fast.Size || fm.FilterSizeScale != fast.FilterSizeScale || fm.ResampleAlpha != fast.ResampleAlpha ||
		fm.EndpointsNumFilters != fast.EndpointsNumFilters || fm.HeadFilters != fast.HeadFilters || fm.HeadConvs != fast.HeadConvs ||
		fm.AnchorSize != fast.AnchorSize || fm.Data.Format != "fmnist-mosaic" {
		t.Errorf("fmnist preset %+v", fm)
	}
	if c, err := fm.Recipe(arch49(t), "/elsewhere", ""); err != nil || c.Data.MosaicDir != "/elsewhere" || c.Data.MosaicTrain != fm.Data.Train {
		t.Errorf("fmnist recipe %+v: %v", c.Data, err)
	}
	if _, err := proxy.Named("nope"); !errors.Is(err, proxy.ErrUnknownPreset) {
		t.Errorf("unknown preset: %v", err)
	}
	// The paper preset without COCO says what it needs.
	_, err := proxy.Run(context.Background(), paper, arch49(t), proxy.RunOptions{})
	if !errors.Is(err, proxy.ErrNeedsData) {
		t.Errorf("paper without data: %v", err)
	}
	_, err = proxy.Run(context.Background(), paper, arch49(t), proxy.RunOptions{DataDir: t.TempDir()})
	if !errors.Is(err, proxy.ErrNeedsData) {
		t.Errorf("paper with an empty data dir: %v", err)
	}
}

// A tiny fmnist trial (a few mosaics, one epoch) trains and scores ten
// classes; a directory without Fashion-MNIST names what to install.
// Skipped when the dataset is absent, and in -short.
func TestRunFMNIST(t *testing.T) {
	p, err := proxy.Named("fmnist")
	if err != nil {
		t.Fatal(err)
	}
	_, err = proxy.Run(context.Background(), p, arch49(t), proxy.RunOptions{Threads: 2, DataDir: t.TempDir()})
	if !errors.Is(err, mosaic.ErrNoDataset) || !strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") {
		t.Errorf("fmnist without the files: %v", err)
	}
	if testing.Short() {
		t.Skip("-short: no fmnist training")
	}
	if _, err := os.Stat(filepath.Join(mosaic.DefaultDir, mosaic.TrainImages)); err != nil {
		t.Skip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)")
	}
	p.Data.Train, p.Data.Val, p.Batch, p.Epochs, p.PreciseBN, p.FreezeBN = 16, 8, 4, 1, 2, 0
	p.LR.WarmupSteps = 2
	r, err := proxy.Run(context.Background(), p, arch49(t), proxy.RunOptions{Seed: 1, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("AP %.4f, loss %.3f, train %.1f s", r.AP, r.FinalLoss, r.TrainSeconds)
	if r.Steps != 4 || !(r.AP >= 0 && r.AP <= 1) || !(r.FinalLoss > 0) || math.IsInf(r.FinalLoss, 0) {
		t.Errorf("result %+v", r)
	}
	macs, _, err := p.CountCost(arch49(t))
	if err != nil || macs != r.MACs {
		t.Errorf("MACs %d, CountCost %d %v", r.MACs, macs, err)
	}
}
