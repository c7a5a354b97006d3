package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/train"
)

// A train command whose context is cancelled (as SIGINT does) stops before
// its first step with an error wrapping context.Canceled, names the
// checkpoint on stderr, and leaves a valid checkpoint there.
func TestTrainCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := runTrain(ctx, trainOptions{Config: "../../recipe/testdata/shapes-tiny.yaml", Output: dir, Steps: 15, Quiet: true}, &stdout, &stderr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	ck := filepath.Join(dir, train.CheckpointFile)
	if !strings.Contains(stderr.String(), "training stopped at step 0 of 15; checkpoint "+ck) {
		t.Errorf("stderr %q", stderr.String())
	}
	c, err := train.LoadCheckpoint(ck)
	if err != nil {
		t.Fatal(err)
	}
	if c.State.Step != 0 {
		t.Errorf("checkpoint at step %d", c.State.Step)
	}
}

// A model setting that only fails when the model is built names the recipe
// file and its key, like the errors found while reading it.
func TestTrainModelErrorNamesFileAndKey(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ model, want string }{
		{"{id: 49S, head_convs: -1}", "model.head_convs: -1"},
		{"{id: 49S, activation: gelu}", "model.activation"},
		{"{id: 4x}", `model.id: spinenet: unknown model id "4x"`},
		{"{arch: missing.yaml}", "model.arch: open "},
	} {
		cfg := filepath.Join(dir, "r.yaml")
		recipeText := "task: detection\nmodel: " + tc.model + "\ndata: {format: synthetic}\ninput: {size: 64}\n" +
			"train: {batch: 2, steps: 1, lr: {type: constant, base_lr: 0.01}, output: " + dir + "}\n"
		if err := os.WriteFile(cfg, []byte(recipeText), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		err := runTrain(context.Background(), trainOptions{Config: cfg, Quiet: true}, &stdout, &stderr)
		if err == nil || !strings.HasPrefix(err.Error(), cfg+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("model %s: error %v, want %q: … %q", tc.model, err, cfg, tc.want)
		}
	}
}

// A recipe without train.output trains into --output; without either the
// error names the key and the flag's absence is the only cause.
func TestTrainOutputFromFlag(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "r.yaml")
	recipeText := "task: detection\nmodel: {id: 49S}\ndata: {format: synthetic, synthetic_train: 4, synthetic_val: 2}\ninput: {size: 64}\n" +
		"train: {batch: 2, steps: 1, lr: {type: constant, base_lr: 0.01}}\n"
	if err := os.WriteFile(cfg, []byte(recipeText), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := runTrain(context.Background(), trainOptions{Config: cfg, Quiet: true}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "train.output") {
		t.Fatalf("no output anywhere: %v, want an error naming train.output", err)
	}
	out := filepath.Join(dir, "run")
	if err := runTrain(context.Background(), trainOptions{Config: cfg, Output: out, Quiet: true, Threads: 1}, &stdout, &stderr); err != nil {
		t.Fatalf("--output: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, train.WeightsFile)); err != nil {
		t.Errorf("no weights in the --output directory: %v", err)
	}
}

// train --init and --set fine-tune a trained 4-class detector into a
// 1-class one without a new recipe file; without the skip the error says
// which setting allows it.
func TestTrainInitAndSet(t *testing.T) {
	src := t.TempDir()
	const recipeFile = "../../recipe/testdata/shapes-tiny.yaml"
	var stdout, stderr bytes.Buffer
	if err := runTrain(context.Background(), trainOptions{Config: recipeFile, Output: src, Steps: 12, Quiet: true}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(src, train.WeightsFile)
	opt := trainOptions{Config: recipeFile, Output: t.TempDir(), Steps: 4, Quiet: true, Init: weights,
		Set: []string{"data.synthetic_classes=1", "data.synthetic_train=16", "data.synthetic_val=8"}}
	stderr.Reset()
	err := runTrain(context.Background(), opt, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "model.init_skip: [class_head]") || !strings.HasPrefix(err.Error(), recipeFile+": ") {
		t.Fatalf("another class count without init_skip: %v", err)
	}
	opt.Set = append(opt.Set, "model.init_skip=[class_head]", "train.freeze=[stem]")
	stderr.Reset()
	if err := runTrain(context.Background(), opt, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"initialised from " + weights, "2 re-initialised", "frozen (train.freeze: stem)"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}
