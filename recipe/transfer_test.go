package recipe

import (
	"bytes"
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/internal/sharedtest"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/safetensors"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
	"github.com/spinenet-go/spinenet/train"
)

// tinySource writes the tensors of an 80-class detector with the tiny
// recipe's model to a weights file, edited by edit (nil: as built), and
// returns the file and the tensors.
func tinySource(t *testing.T, edit func(map[string]*tensor.Tensor)) (string, map[string]*tensor.Tensor) {
	t.Helper()
	c, err := Load("testdata/shapes-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Train.Seed = 99 // other weights than the target's fresh ones
	desc, err := c.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	m, err := desc.NewRetinaNet(80)
	if err != nil {
		t.Fatal(err)
	}
	sd := m.Graph().StateDict()
	if edit != nil {
		edit(sd)
	}
	f := &safetensors.File{}
	for name, v := range sd {
		f.Tensors = append(f.Tensors, safetensors.FromFloat32(name, v.Shape(), v.Data()))
	}
	path := filepath.Join(t.TempDir(), "coco80.safetensors")
	if err := safetensors.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	return path, sd
}

// fineTuneConfig is the tiny recipe on one synthetic class, from init.
func fineTuneConfig(t *testing.T, init string, set func(*Config)) *Config {
	t.Helper()
	c, err := Load("testdata/shapes-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Data.SyntheticClasses, c.Data.SyntheticTrain, c.Data.SyntheticVal = 1, 16, 8
	c.Train.Steps = 4
	c.Train.Output = t.TempDir()
	c.Model.Init = init
	if set != nil {
		set(c)
	}
	if err := c.Fill(); err != nil {
		t.Fatal(err)
	}
	return c
}

// An 80-class detector fine-tunes into a 1-class one: everything but the
// class predictor is loaded, the class predictor is re-initialised with
// the focal-loss prior as its bias, the lists are exact in the log and in
// metrics.jsonl, and the run trains.
func TestFineTune80ClassesTo1(t *testing.T) {
	src, srcSD := tinySource(t, nil)
	c := fineTuneConfig(t, src, func(c *Config) { c.Model.InitSkip = []string{"class_head"} })
	task, err := NewDetectionTask(c)
	if err != nil {
		t.Fatal(err)
	}
	rep := task.Transfer.Init
	own := task.Model.Graph().StateDict()
	wantReinit := []string{"head/class/predict/conv/bias", "head/class/predict/conv/kernel"}
	var reinit []string
	for _, r := range rep.Reinitialised {
		reinit = append(reinit, r.Name)
		if !strings.HasPrefix(r.Reason, "shape [") || !strings.Contains(r.Reason, "in the file") {
			t.Errorf("%s: reason %q", r.Name, r.Reason)
		}
	}
	if !slices.Equal(reinit, wantReinit) || !slices.Equal(rep.Unused, wantReinit) || len(rep.Loaded) != len(own)-2 {
		t.Fatalf("re-initialised %v, unused %v, %d loaded of %d", reinit, rep.Unused, len(rep.Loaded), len(own))
	}
	if r := rep.Reinitialised[1].Reason; !strings.Contains(r, "[3 3 32 720] in the file, [3 3 32 9] here") {
		t.Errorf("kernel reason %q", r)
	}
	for _, name := range rep.Loaded {
		if !slices.Equal(own[name].Data(), srcSD[name].Data()) {
			t.Fatalf("%s was not copied", name)
		}
	}
	prior := float32(-math.Log(0.99 / 0.01))
	for i, v := range own["head/class/predict/conv/bias"].Data() {
		if math.Abs(float64(v-prior)) > 1e-6 {
			t.Fatalf("class bias[%d] = %v, want the prior %v", i, v, prior)
		}
	}

	var log bytes.Buffer
	if _, err := TrainDetection(context.Background(), c, false, nil, &log); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"initialised from " + src + ": " + "", "re-initialised", "head/class/predict/conv/bias", "learning rate 0.02 × 0.25 = 0.005, warm-up 10 × 0.25 = 3 steps"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	recs, err := train.ReadRecords(filepath.Join(c.Train.Output, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[0].Kind != "init" || recs[0].Init == nil || recs[0].Init.InitReport == nil ||
		len(recs[0].Init.Loaded) != len(own)-2 || len(recs[0].Init.Reinitialised) != 2 || recs[0].Init.Reinitialised[0].Name != wantReinit[0] {
		t.Errorf("metrics.jsonl does not open with the init record: %+v", recs[:min(len(recs), 1)])
	}
}

// Without init_skip, another class count is an error on model.init that
// names the tensors and the key that allows them; a mis-shaped tensor
// outside the head is an error naming it whatever the skip list; a
// backbone-only file needs init_scope: backbone.
func TestFineTuneRefusals(t *testing.T) {
	src, _ := tinySource(t, nil)
	check := func(name string, c *Config, want ...string) {
		t.Helper()
		_, err := NewDetectionTask(c)
		var ce *ConfigError
		var we *nn.WeightsError
		if !errors.As(err, &ce) || ce.Key != "model.init" || !errors.As(err, &we) {
			t.Fatalf("%s: %v", name, err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", name, err, w)
			}
		}
	}
	check("no skip", fineTuneConfig(t, src, nil), "head/class/predict/conv/kernel: shape [3 3 32 720], want [3 3 32 9]", "model.init_skip: [class_head]")

	wrongStem, _ := tinySource(t, func(sd map[string]*tensor.Tensor) {
		k := sd["stem/conv/kernel"]
		sd["stem/conv/kernel"] = tensor.New(k.Dim(0), k.Dim(1), k.Dim(2), k.Dim(3)+1)
	})
	check("wrong stem", fineTuneConfig(t, wrongStem, func(c *Config) { c.Model.InitSkip = []string{"class_head"} }),
		"stem/conv/kernel", "another architecture")

	backboneOnly, _ := tinySource(t, func(sd map[string]*tensor.Tensor) {
		for name := range sd {
			if strings.HasPrefix(name, "head/") {
				delete(sd, name)
			}
		}
	})
	check("backbone only", fineTuneConfig(t, backboneOnly, nil), "missing", "model.init_scope: backbone")

	c := fineTuneConfig(t, backboneOnly, func(c *Config) { c.Model.InitScope = InitScopeBackbone })
	task, err := NewDetectionTask(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range task.Transfer.Init.Reinitialised {
		if !strings.HasPrefix(r.Name, "head/") || r.Reason != "outside the init scope" {
			t.Errorf("backbone scope re-initialised %s (%s)", r.Name, r.Reason)
		}
	}
	if len(task.Transfer.Init.Unused) != 0 || len(task.Transfer.Init.Reinitialised) == 0 {
		t.Errorf("backbone scope: %s", task.Transfer.Init.Summary())
	}
}

// train.freeze keeps the parts it names as loaded while the rest trains;
// bad part names and keys set without model.init are errors naming the key.
func TestFreezeParts(t *testing.T) {
	src, srcSD := tinySource(t, nil)
	c := fineTuneConfig(t, src, func(c *Config) {
		c.Model.InitSkip = []string{"class_head"}
		c.Train.Freeze = []string{"stem", "blocks<4", "bn"}
	})
	if _, err := TrainDetection(context.Background(), c, false, nil, nil); err != nil {
		t.Fatal(err)
	}
	w, _, err := nn.ReadStateDict(filepath.Join(c.Train.Output, train.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	frozen, trained := 0, 0
	for name, v := range w {
		same := slices.Equal(v.Data(), srcSD[name].Data())
		isBN := strings.HasSuffix(name, "/gamma") || strings.HasSuffix(name, "/beta") || strings.Contains(name, "/moving_")
		switch {
		case strings.HasPrefix(name, "stem/") || strings.HasPrefix(name, "blocks/2/") || strings.HasPrefix(name, "blocks/3/") || isBN:
			frozen++
			if !same {
				t.Errorf("%s changed although frozen", name)
			}
		case strings.HasPrefix(name, "head/box/") && !same:
			trained++
		}
	}
	if frozen == 0 || trained == 0 {
		t.Errorf("%d frozen, %d box-head tensors trained", frozen, trained)
	}

	for _, tc := range []struct {
		key string
		set func(*Config)
	}{
		{"train.freeze", func(c *Config) { c.Train.Freeze = []string{"stems"} }},
		{"train.freeze", func(c *Config) { c.Train.Freeze = []string{"blocks>99"} }},
		{"model.init_skip", func(c *Config) { c.Model.InitSkip = []string{"box_tower", "mask_head"} }},
	} {
		c, err := Load("testdata/shapes-tiny.yaml")
		if err != nil {
			t.Fatal(err)
		}
		c.Model.Init = src
		tc.set(c)
		_, err = NewDetectionTask(c)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%s: %v", tc.key, err)
		}
	}
	for _, tc := range []struct {
		key string
		set func(*Config)
	}{
		{"model.init_skip", func(c *Config) { c.Model.InitSkip = []string{"class_head"} }},
		{"model.init_scope", func(c *Config) { c.Model.InitScope = "backbone" }},
		{"train.finetune", func(c *Config) { v := 0.5; c.Train.Finetune.LRScale = &v }},
	} {
		c, err := Load("testdata/shapes-tiny.yaml")
		if err != nil {
			t.Fatal(err)
		}
		tc.set(c)
		var ce *ConfigError
		if err := c.Fill(); !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), "model.init is not") {
			t.Errorf("%s without init: %v", tc.key, err)
		}
	}
}

// The mmdetection port's SpineNet-49S, imported, starts a detector's
// backbone (init_scope: backbone): every backbone tensor is loaded as
// imported, the head keeps its fresh initialisation, and the log warns that
// the recipe's model uses other conventions than the port's.
func TestInitFromMMDetImport(t *testing.T) {
	src, _, err := nn.ReadStateDict(sharedtest.Path(t, "golden/spinenet49s-mmdet/weights.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	bb, err := spinenet.ImportMMDet(src, "49S")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mmdet-49s.safetensors")
	if err := bb.Save(path); err != nil {
		t.Fatal(err)
	}
	c := fineTuneConfig(t, path, func(c *Config) {
		c.Model = ModelConfig{ID: "49S", HeadFilters: 16, HeadConvs: 1, Init: path, InitScope: InitScopeBackbone}
		c.Input.Size = 64
	})
	task, err := NewDetectionTask(c)
	if err != nil {
		t.Fatal(err)
	}
	rep, imported := task.Transfer.Init, bb.Graph.StateDict()
	own := task.Model.Graph().StateDict()
	if len(rep.Loaded) != len(imported) || len(rep.Unused) != 0 || len(rep.Loaded)+len(rep.Reinitialised) != len(own) {
		t.Fatalf("%s", rep.Summary())
	}
	for _, name := range rep.Loaded {
		if !slices.Equal(own[name].Data(), imported[name].Data()) {
			t.Fatalf("%s differs from the import", name)
		}
	}
	var log bytes.Buffer
	task.Transfer.log(&log, c)
	for _, want := range []string{"warning: " + path + " was built with activation relu (here swish)", "padding symmetric (here same)"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}
