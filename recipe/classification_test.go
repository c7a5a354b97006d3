package recipe

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spinenet-go/spinenet/data/labeled"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/train"
)

const fashionDir = "/usr/share/datasets/fashion-mnist"

// The tiny recipe on a Fashion-MNIST subset: the loss falls by a quarter
// and top-1 on 500 held-out images ends far above chance (10 %): at least
// 40 % after 5 epochs of 1,500 images (57 % on the development machine), in
// about 10 s. Skipped with -short (the pure-Go kernels are slower).
func TestClassificationTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s training run; skipped with -short")
	}
	if _, err := os.Stat(filepath.Join(fashionDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)")
	}
	c, err := Load("../configs/fashion-mnist-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Train.Output = t.TempDir()
	start := time.Now()
	var log bytes.Buffer
	sum, err := TrainClassification(context.Background(), c, false, nil, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%d steps in %s, %.0f images/s, final loss %.3f, eval %v", log.String(), sum.Steps, time.Since(start).Round(time.Millisecond), sum.ImagesPS, sum.FinalLoss, sum.Eval)
	ml, err := train.OpenMetricsLog(filepath.Join(c.Train.Output, train.MetricsFile), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Close()
	var losses []float64
	for _, r := range ml.Records() {
		if r.Kind == "train" {
			losses = append(losses, r.Values["loss"])
		}
	}
	if len(losses) < 4 || !(losses[len(losses)-1] < 0.75*losses[0]) {
		t.Errorf("loss did not fall: %v", losses)
	}
	top1, _ := sum.Eval.Value("top1")
	top5, _ := sum.Eval.Value("top5")
	if sum.Eval.Headline().Name != "top1" || top1 < 0.4 || top5 < top1 {
		t.Errorf("eval %v, want top1 ≥ 0.4 (chance 0.1)", sum.Eval)
	}
	for _, f := range []string{train.CheckpointFile, train.WeightsFile, train.PlotFile} {
		if _, err := os.Stat(filepath.Join(c.Train.Output, f)); err != nil {
			t.Error(err)
		}
	}
	// The weights file alone (with the config's data) reproduces the final
	// evaluation.
	ev, err := EvaluateClassification(context.Background(), c, filepath.Join(c.Train.Output, train.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != len(sum.Eval) {
		t.Errorf("EvaluateClassification %v, training run %v", ev, sum.Eval)
	}
	for i, m := range sum.Eval {
		if i < len(ev) && ev[i] != m {
			t.Errorf("EvaluateClassification %v, training run %v", ev[i], m)
		}
	}
}

// writeStripes writes an IDX pair of n 12×12 images: class 0 horizontal
// stripes, class 1 vertical stripes, with a per-image phase.
func writeStripes(t *testing.T, dir, prefix string, n int) (images, labels string) {
	t.Helper()
	const S = 12
	var img, lab bytes.Buffer
	binary.Write(&img, binary.BigEndian, []uint32{0x803, uint32(n), S, S})
	binary.Write(&lab, binary.BigEndian, []uint32{0x801, uint32(n)})
	for i := range n {
		cls := i % 2
		lab.WriteByte(byte(cls))
		for y := range S {
			for x := range S {
				v := y
				if cls == 1 {
					v = x
				}
				img.WriteByte(byte(255 * ((v + i/2) / 2 % 2)))
			}
		}
	}
	images, labels = filepath.Join(dir, prefix+"-images"), filepath.Join(dir, prefix+"-labels")
	os.WriteFile(images, img.Bytes(), 0o644)
	os.WriteFile(labels, lab.Bytes(), 0o644)
	return images, labels
}

func stripesConfig(t *testing.T, out string, steps int) *Config {
	t.Helper()
	dir := t.TempDir()
	ti, tl := writeStripes(t, dir, "train", 48)
	vi, vl := writeStripes(t, dir, "val", 20)
	yaml := `
task: classification
model: {id: "49", filter_size_scale: 0.125, resample_alpha: 0.25, endpoints_num_filters: 16, input_channels: 1, dropout: 0.2, stochastic_depth: 0.2}
data: {format: idx, train_images: ` + ti + `, train_annotations: ` + tl + `, val_images: ` + vi + `, val_annotations: ` + vl + `, classes: [horizontal, vertical]}
input: {size: 16, flip: true, crop_pad: 2}
train:
  batch: 16
  steps: ` + strconv.Itoa(steps) + `
  lr: {type: cosine, base_lr: 0.05, warmup_steps: 2, total_steps: 7}
  workers: 2
  checkpoint_every: 2
  output: ` + out + "\n"
	c, err := Parse([]byte(yaml), false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Interrupted after 4 steps (mid-epoch 1: 3 steps per epoch) and resumed to
// 7, a run ends with exactly the weights of an uninterrupted 7-step run:
// the loader gives the same batches and augmentations.
func TestClassificationResume(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	if _, err := TrainClassification(context.Background(), stripesConfig(t, dirA, 7), false, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := TrainClassification(context.Background(), stripesConfig(t, dirB, 4), false, nil, nil); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := TrainClassification(context.Background(), stripesConfig(t, dirB, 7), true, nil, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "resumed from") {
		t.Errorf("log %q", log.String())
	}
	ca, err := train.LoadCheckpoint(filepath.Join(dirA, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := train.LoadCheckpoint(filepath.Join(dirB, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(ca.Model) == 0 || len(ca.Model) != len(cb.Model) {
		t.Fatalf("%d vs %d tensors", len(ca.Model), len(cb.Model))
	}
	for name, ta := range ca.Model {
		for i, v := range ta.Data() {
			if got := cb.Model[name].Data()[i]; got != v {
				t.Fatalf("%s[%d]: resumed %v, uninterrupted %v", name, i, got, v)
			}
		}
	}
}

// An ImageFolder tree (PNG stripes in two class directories) trains
// through the same task with a 3-channel stem, and is evaluated on a
// separate folder with the training classes' order.
func TestClassificationImageFolder(t *testing.T) {
	root := t.TempDir()
	for _, split := range []string{"train", "val"} {
		for i := range 8 {
			cls := []string{"horizontal", "vertical"}[i%2]
			img := image.NewRGBA(image.Rect(0, 0, 20, 14))
			for y := range 14 {
				for x := range 20 {
					v := y
					if i%2 == 1 {
						v = x
					}
					img.Set(x, y, color.RGBA{uint8(200 * (v / 2 % 2)), 80, uint8(i * 20), 255})
				}
			}
			var b bytes.Buffer
			png.Encode(&b, img)
			os.MkdirAll(filepath.Join(root, split, cls), 0o755)
			os.WriteFile(filepath.Join(root, split, cls, fmt.Sprintf("%d.png", i)), b.Bytes(), 0o644)
		}
	}
	c, err := Parse([]byte(`
task: classification
model: {id: "49", filter_size_scale: 0.125, resample_alpha: 0.25, endpoints_num_filters: 16}
data: {format: imagefolder, train_images: train, val_images: val}
input: {size: 16, flip: true, crop_pad: 1}
train: {batch: 4, steps: 3, lr: {base_lr: 0.05}, output: out}
`), false)
	if err != nil {
		t.Fatal(err)
	}
	c.Dir = root
	c.Train.Output = filepath.Join(root, "out")
	task, err := NewClassificationTask(c)
	if err != nil {
		t.Fatal(err)
	}
	if task.Train.N != 8 || task.Val.N != 8 || task.Transform.Channels != 3 || task.Transform.Mean != labeled.ImageNetMean {
		t.Fatalf("train %d, val %d, transform %+v", task.Train.N, task.Val.N, task.Transform)
	}
	sum, err := TrainClassification(context.Background(), c, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	top1, ok1 := sum.Eval.Value("top1")
	top5, ok5 := sum.Eval.Value("top5")
	if sum.Steps != 3 || !ok1 || !ok5 || top1 < 0 || top5 != 1 {
		t.Errorf("summary %+v", sum)
	}
	_, meta, err := nn.ReadStateDict(filepath.Join(c.Train.Output, train.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if meta[MetaClasses] != `["horizontal","vertical"]` || meta[MetaNumClasses] != "2" || meta["spinenet.task"] != "classification" {
		t.Errorf("metadata %v", meta)
	}
}

func TestClassificationConfigErrors(t *testing.T) {
	dir := t.TempDir()
	c := stripesConfig(t, dir, 1)
	c.Data.TrainAnnotations = ""
	if _, err := NewClassificationTask(c); err == nil || !strings.Contains(err.Error(), "data.train_annotations") {
		t.Errorf("missing labels file: %v", err)
	}
	c = stripesConfig(t, dir, 1)
	c.Data.Classes = []string{"one"}
	if _, err := NewClassificationTask(c); err == nil || !strings.Contains(err.Error(), "data.classes") {
		t.Errorf("too few class names: %v", err)
	}
	c = stripesConfig(t, dir, 1)
	c.Train.Batch = 100
	if _, err := NewClassificationTask(c); err == nil || !strings.Contains(err.Error(), "train.batch") {
		t.Errorf("batch larger than the set: %v", err)
	}
	c = stripesConfig(t, dir, 1)
	c.Data.TrainImages = filepath.Join(dir, "absent")
	if _, err := NewClassificationTask(c); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("missing file: %v", err)
	}
}
