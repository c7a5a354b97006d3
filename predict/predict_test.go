package predict_test

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/classify"
	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/data/labeled"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/predict"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

func smallArch(t *testing.T, id string) *spinenet.Arch {
	t.Helper()
	a, err := spinenet.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	a.FilterSizeScale = 0.25
	return a
}

// randomize gives batch norms non-trivial statistics so that outputs
// depend on every weight.
func randomize(g *nn.Graph, rng *rand.Rand) {
	for _, s := range g.BatchNormStats() {
		for i := range s.Stats.Mean.Data() {
			s.Stats.Mean.Data()[i] = float32(rng.NormFloat64() * 0.1)
			s.Stats.Var.Data()[i] = float32(0.5 + rng.Float64())
		}
	}
}

func noise(w, h int, seed uint64) image.Image {
	rng := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
		}
	}
	return img
}

// smallDetector builds a randomly initialised 3-class detector and writes
// it to a weights file.
func smallDetector(t *testing.T) (*detection.Detector, string) {
	t.Helper()
	opt := spinenet.DefaultOptions()
	arch := smallArch(t, "49S")
	hc := detection.HeadFor(arch, 3, opt.Activation)
	hc.Filters = 16
	m, err := detection.NewRetinaNet(arch, opt, hc)
	if err != nil {
		t.Fatal(err)
	}
	randomize(m.Graph(), rand.New(rand.NewPCG(7, 7)))
	d := &detection.Detector{Model: m, Anchors: detection.AnchorsFor(arch), Classes: []string{"cat", "dog", "owl"},
		CategoryIDs: []int{17, 18, 90}, InputSize: 64}
	meta, err := d.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "det.safetensors")
	if err := m.Graph().SaveWeights(path, meta); err != nil {
		t.Fatal(err)
	}
	return d, path
}

// lowThreshold keeps the near-prior scores of an untrained head.
func lowThreshold() predict.Options {
	o := predict.DefaultOptions()
	o.Post.ScoreThreshold = 1e-4
	o.Post.MaxDetections = 20
	return o
}

// A detector loaded from its weights file alone predicts exactly what the
// in-memory detector does, with labels, category ids and boxes inside the
// original image.
func TestLoadDetector(t *testing.T) {
	d, path := smallDetector(t)
	loaded, err := predict.Load(path, lowThreshold())
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Task() != predict.TaskDetection || loaded.Classifier() != nil {
		t.Fatalf("task %q", loaded.Task())
	}
	direct, err := predict.NewDetector(d, lowThreshold())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	img := noise(90, 70, 1)
	got, err := loaded.Detect(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	want, err := direct.Detect(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) > 20 {
		t.Fatalf("%d detections, want 1…20", len(got))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loaded detector differs from the in-memory one:\n%v\n%v", got, want)
	}
	for _, f := range got {
		if f.Label != d.Classes[f.Class] || f.CategoryID != d.CategoryIDs[f.Class] {
			t.Errorf("class %d: label %q, category %d", f.Class, f.Label, f.CategoryID)
		}
		if f.Box.X1 < 0 || f.Box.Y1 < 0 || f.Box.X2 > 90.01 || f.Box.Y2 > 70.01 || f.Box.W() <= 0 || f.Box.H() <= 0 {
			t.Errorf("box %v outside the 90×70 image", f.Box)
		}
	}
	if _, err := loaded.Classify(ctx, img); err == nil {
		t.Error("Classify on a detector did not fail")
	}
}

// Many goroutines detecting with one Predictor get what one goroutine
// gets, image by image.
func TestConcurrentDetect(t *testing.T) {
	_, path := smallDetector(t)
	p, err := predict.Load(path, lowThreshold())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const images, workers, rounds = 4, 6, 2
	imgs := make([]image.Image, images)
	want := make([][]predict.Detection, images)
	for i := range imgs {
		imgs[i] = noise(40+17*i, 90-11*i, uint64(i+10))
		if want[i], err = p.Detect(ctx, imgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*images)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds * images {
				i := (w + r) % images
				got, err := p.Detect(ctx, imgs[i])
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(got, want[i]) {
					errs <- errors.New("concurrent detections differ from the serial ones")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A cancelled context stops a prediction.
func TestDetectCancelled(t *testing.T) {
	_, path := smallDetector(t)
	p, err := predict.Load(path, predict.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Detect(ctx, noise(20, 20, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Detect with a cancelled context: %v", err)
	}
}

func smallClassifier(t *testing.T) *classify.Classifier {
	t.Helper()
	m, err := classify.NewClassifier(smallArch(t, "49"), spinenet.DefaultOptions(), classify.HeadConfig{NumClasses: 4})
	if err != nil {
		t.Fatal(err)
	}
	randomize(m.Graph(), rand.New(rand.NewPCG(8, 8)))
	return &classify.Classifier{Model: m, Classes: []string{"t-shirt", "trouser", "pullover"}, // class 3 unnamed
		Input: classify.Input{Size: 48, Channels: 3, Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}}}
}

// A classifier loaded from its weights file gives the softmax of the
// logits the graph computes on the evaluation transform of the image,
// best first.
func TestLoadClassifier(t *testing.T) {
	c := smallClassifier(t)
	meta, err := c.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cls.safetensors")
	if err := c.Model.Graph().SaveWeights(path, meta); err != nil {
		t.Fatal(err)
	}
	p, err := predict.Load(path, predict.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if p.Task() != predict.TaskClassification {
		t.Fatalf("task %q", p.Task())
	}
	img := noise(60, 50, 3)
	got, err := p.Classify(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	// Reference: the tape on the same preprocessing.
	tr := labeled.Transform{Size: 48, Channels: 3, Mean: c.Input.Mean, Std: c.Input.Std}
	x := tensor.New(1, 48, 48, 3)
	if err := tr.FillRGB(x.Data(), data.ToRGB(nil, img), nil); err != nil {
		t.Fatal(err)
	}
	g := c.Model.Graph()
	li, _ := g.Output("logits")
	var logits []float32
	for i, out := range g.Forward(autograd.NewInferenceTape(), autograd.NewConstant(x)) {
		if g.Outputs[i] == li {
			logits = out.Value.Data()
		}
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v))
	}
	if len(got) != 4 {
		t.Fatalf("%d scores, want 4", len(got))
	}
	var total float32
	for i, s := range got {
		want := math.Exp(float64(logits[s.Class])) / sum
		if math.Abs(float64(s.Score)-want) > 1e-4 {
			t.Errorf("class %d: score %v, want %v", s.Class, s.Score, want)
		}
		if i > 0 && s.Score > got[i-1].Score {
			t.Errorf("scores not best first: %v", got)
		}
		wantLabel := "3"
		if s.Class < 3 {
			wantLabel = c.Classes[s.Class]
		}
		if s.Label != wantLabel {
			t.Errorf("class %d: label %q, want %q", s.Class, s.Label, wantLabel)
		}
		total += s.Score
	}
	if math.Abs(float64(total)-1) > 1e-5 {
		t.Errorf("probabilities sum to %v", total)
	}
	top := predict.DefaultOptions()
	top.TopK = 2
	p2, err := predict.Load(path, top)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := p2.Classify(context.Background(), img)
	if err != nil || !reflect.DeepEqual(got2, got[:2]) {
		t.Errorf("TopK 2: %v, %v; want %v", got2, err, got[:2])
	}
	if _, err := p.Detect(context.Background(), img); err == nil {
		t.Error("Detect on a classifier did not fail")
	}
}

// A classifier that does not compile is an error, not a silent fallback
// to the slower tape.
func TestClassifierCompileFailure(t *testing.T) {
	c := smallClassifier(t)
	g := c.Model.Graph()
	bad := g.AddNode(&nn.Node{Op: nn.Op(250), Inputs: []int{c.Model.Logits}, Name: "head/mystery", Channels: 4, Level: -1})
	g.MarkOutput(bad, "mystery")
	_, err := predict.NewClassifier(c, predict.DefaultOptions())
	var oe *nn.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("NewClassifier with an uncompilable graph: %v, want an *nn.OpError", err)
	}
}

// A weights file of another task is refused by name.
func TestLoadWrongTask(t *testing.T) {
	bb, err := spinenet.Build(smallArch(t, "49S"), spinenet.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	meta, err := bb.Metadata("backbone")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bb.safetensors")
	if err := bb.Graph.SaveWeights(path, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := predict.Load(path, predict.DefaultOptions()); err == nil {
		t.Error("Load of a backbone weights file did not fail")
	}
}
