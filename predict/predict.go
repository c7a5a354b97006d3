// Package predict runs trained models on images: it loads a weights file
// (a RetinaNet detector or a classifier; the file's metadata rebuilds the
// model, no dataset or training config needed), compiles it once with
// package infer, and answers Detect or Classify calls with typed results.
//
// A Predictor is safe for concurrent use by many goroutines. The compiled
// program — folded weights, Winograd-transformed and packed filters, the
// step list — exists once and is shared; every concurrent call borrows its
// own activation arena and input buffer from a pool, so N callers cost N
// arenas, not N copies of the weights.
package predict

import (
	"cmp"
	"context"
	"fmt"
	"image"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/spinenet-go/spinenet/classify"
	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/data/labeled"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/infer"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// The tasks a Predictor runs, as spinenet.MetaTask names them.
const (
	TaskDetection      = "retinanet"
	TaskClassification = classify.Task
)

// Options configure a Predictor. Start from DefaultOptions.
type Options struct {
	// Post is the detection post-processing (score threshold, NMS, the
	// most detections per image).
	Post detection.PostConfig
	// Compile tunes the compiled program; its Device is where the
	// predictor runs (the zero value: every core).
	Compile infer.Options
	// TopK is the number of best classes Classify returns; 0 returns all.
	TopK int
}

// DefaultOptions are the SpineNet RetinaNet inference settings
// (detection.DefaultPost), every compiler optimisation, and all classes.
func DefaultOptions() Options {
	return Options{Post: detection.DefaultPost(), Compile: infer.DefaultOptions()}
}

// Detection is one detected object in original image pixels.
type Detection struct {
	// Box is [x1 y1 x2 y2] in the original image's pixels, clipped to it.
	Box   box.Box
	Class int    // index into the detector's classes
	Label string // the class name
	// CategoryID is the dataset category id of the class (COCO ids).
	CategoryID int
	Score      float32 // sigmoid score
}

// Scored returns the detections as scored boxes (for drawing and
// post-processing code that works on box.Scored).
func Scored(dets []Detection) []box.Scored {
	out := make([]box.Scored, len(dets))
	for i, d := range dets {
		out[i] = box.Scored{Box: d.Box, Score: d.Score, Class: d.Class}
	}
	return out
}

// ClassScore is one class of a classification, best first.
type ClassScore struct {
	Class int     // index into the classifier's classes, 0-based
	Label string  // the class name, or the index when the file names none
	Score float32 // softmax probability
}

// Predictor runs one compiled model; see the package documentation.
type Predictor struct {
	task string
	opt  Options
	prog *infer.Program

	det     *detection.Detector
	anchors *detection.Anchors
	detTr   data.Transform

	cls   *classify.Classifier
	clsTr labeled.Transform

	inShape []int     // network input [1,S,S,C]
	work    sync.Pool // *worker
}

// worker is the per-call state one goroutine borrows.
type worker struct {
	arena *infer.Arena
	input *tensor.Tensor
	rgb   data.RGB
	sc    labeled.Scratch
}

// Load reads a weights file, rebuilds the model its metadata describes (a
// RetinaNet detector or a classifier) and compiles it.
func Load(path string, opt Options) (*Predictor, error) {
	sd, meta, err := nn.ReadStateDict(path)
	if err != nil {
		return nil, err
	}
	switch task := meta[spinenet.MetaTask]; task {
	case TaskDetection:
		d, err := detection.DetectorFromStateDict(path, sd, meta)
		if err != nil {
			return nil, err
		}
		return NewDetector(d, opt)
	case TaskClassification:
		c, err := classify.ClassifierFromStateDict(path, sd, meta)
		if err != nil {
			return nil, err
		}
		return NewClassifier(c, opt)
	default:
		return nil, fmt.Errorf("predict: %s: metadata %s is %q, want %q or %q", path, spinenet.MetaTask, task, TaskDetection, TaskClassification)
	}
}

// NewDetector compiles d for inference at its training input size.
func NewDetector(d *detection.Detector, opt Options) (*Predictor, error) {
	prog, err := infer.Compile(d.Model.Graph(), opt.Compile)
	if err != nil {
		return nil, fmt.Errorf("predict: compiling the detector: %w", err)
	}
	a, err := detection.NewAnchors(d.Anchors, d.InputSize, d.InputSize)
	if err != nil {
		return nil, err
	}
	p := &Predictor{task: TaskDetection, opt: opt, prog: prog, det: d, anchors: a, detTr: data.DefaultTransform(d.InputSize),
		inShape: []int{1, d.InputSize, d.InputSize, 3}}
	p.work.New = p.newWorker
	return p, nil
}

// NewClassifier compiles c for inference at its input size. A classifier
// that does not compile is an error (there is no slower fallback that
// would hide the bug).
func NewClassifier(c *classify.Classifier, opt Options) (*Predictor, error) {
	tr := labeled.Transform{Size: c.Input.Size, Channels: c.Input.Channels, Mean: c.Input.Mean, Std: c.Input.Std}
	if err := tr.Check(); err != nil {
		return nil, fmt.Errorf("predict: classifier input: %w", err)
	}
	prog, err := infer.Compile(c.Model.Graph(), opt.Compile)
	if err != nil {
		return nil, fmt.Errorf("predict: compiling the classifier: %w", err)
	}
	p := &Predictor{task: TaskClassification, opt: opt, prog: prog, cls: c, clsTr: tr,
		inShape: []int{1, tr.Size, tr.Size, tr.Channels}}
	p.work.New = p.newWorker
	return p, nil
}

func (p *Predictor) newWorker() any {
	return &worker{arena: p.prog.NewArena(), input: tensor.New(p.inShape...)}
}

// Task returns TaskDetection or TaskClassification.
func (p *Predictor) Task() string { return p.task }

// Detector returns the detector p runs, or nil for a classifier.
func (p *Predictor) Detector() *detection.Detector { return p.det }

// Classifier returns the classifier p runs, or nil for a detector.
func (p *Predictor) Classifier() *classify.Classifier { return p.cls }

// Program returns the compiled program p shares between its callers.
func (p *Predictor) Program() *infer.Program { return p.prog }

// Transform returns a detector's evaluation transform (the long side to
// the input size, padded), to prepare inputs for DetectPrepared.
func (p *Predictor) Transform() data.Transform { return p.detTr }

// Detect finds objects in img and returns them in img's pixels, best
// first within each class as NMS keeps them.
func (p *Predictor) Detect(ctx context.Context, img image.Image) ([]Detection, error) {
	if p.det == nil {
		return nil, fmt.Errorf("predict: Detect on a %s model", p.task)
	}
	w := p.work.Get().(*worker)
	defer p.work.Put(w)
	data.ToRGB(&w.rgb, img)
	if w.rgb.Width < 1 || w.rgb.Height < 1 {
		return nil, fmt.Errorf("predict: empty %d×%d image", w.rgb.Width, w.rgb.Height)
	}
	_, pl := p.detTr.Eval(w.input.Data(), &w.rgb, nil, nil)
	return p.detect(ctx, w.arena, w.input, pl)
}

// DetectPrepared detects in one network input x [1,S,S,3] prepared with
// Transform (e.g. by a data.Loader), whose image sits at placement pl.
func (p *Predictor) DetectPrepared(ctx context.Context, x *tensor.Tensor, pl data.Placement) ([]Detection, error) {
	if p.det == nil {
		return nil, fmt.Errorf("predict: DetectPrepared on a %s model", p.task)
	}
	if !tensor.EqualShapes(x.Shape(), p.inShape) {
		return nil, &tensor.ShapeError{Op: "predict.DetectPrepared", Msg: fmt.Sprintf("input %v, want %v", x.Shape(), p.inShape)}
	}
	w := p.work.Get().(*worker)
	defer p.work.Put(w)
	return p.detect(ctx, w.arena, x, pl)
}

func (p *Predictor) detect(ctx context.Context, arena *infer.Arena, x *tensor.Tensor, pl data.Placement) ([]Detection, error) {
	outs, err := arena.RunContext(ctx, x)
	if err != nil {
		return nil, err
	}
	m := p.det.Model
	cls, boxes := m.OutputTensors(outs)
	dets := detection.Detect(cls, boxes, p.anchors, m.Config.NumClasses, [][2]float32{{float32(pl.Width), float32(pl.Height)}}, p.opt.Post)
	var found []Detection
	for _, d := range dets[0] {
		b := pl.ToOriginal(d.Box)
		if b.W() > 0 && b.H() > 0 {
			found = append(found, Detection{Box: b, Class: d.Class, Label: label(p.det.Classes, d.Class),
				CategoryID: p.det.CategoryIDs[d.Class], Score: d.Score})
		}
	}
	return found, nil
}

// Classify returns the classes of img by softmax probability, best first
// (the Options.TopK best, or all).
func (p *Predictor) Classify(ctx context.Context, img image.Image) ([]ClassScore, error) {
	if p.cls == nil {
		return nil, fmt.Errorf("predict: Classify on a %s model", p.task)
	}
	w := p.work.Get().(*worker)
	defer p.work.Put(w)
	data.ToRGB(&w.rgb, img)
	if err := p.clsTr.FillRGB(w.input.Data(), &w.rgb, &w.sc); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	outs, err := w.arena.RunContext(ctx, w.input)
	if err != nil {
		return nil, err
	}
	logits := outs[outputIndex(p.cls.Model.Graph(), p.cls.Model.Logits)].Data()
	scores := softmax(logits)
	res := make([]ClassScore, len(scores))
	for k, s := range scores {
		res[k] = ClassScore{Class: k, Label: label(p.cls.Classes, k), Score: s}
	}
	slices.SortStableFunc(res, func(a, b ClassScore) int { return cmp.Compare(b.Score, a.Score) })
	if p.opt.TopK > 0 && p.opt.TopK < len(res) {
		res = res[:p.opt.TopK]
	}
	return res, nil
}

// outputIndex is the position of node id among g's outputs.
func outputIndex(g *nn.Graph, id int) int {
	for i, o := range g.Outputs {
		if o == id {
			return i
		}
	}
	panic(fmt.Sprintf("predict: node %d is not an output", id))
}

// softmax returns the probabilities of logits, computed in float64.
func softmax(logits []float32) []float32 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	e := make([]float64, len(logits))
	for i, v := range logits {
		e[i] = math.Exp(float64(v) - mx)
		sum += e[i]
	}
	out := make([]float32, len(logits))
	for i := range e {
		out[i] = float32(e[i] / sum)
	}
	return out
}

// label names class k, or gives its index when names has none for it.
func label(names []string, k int) string {
	if k < len(names) && names[k] != "" {
		return names[k]
	}
	return strconv.Itoa(k)
}
