package maskrcnn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// tinyModel is a width-reduced SpineNet-49S Mask R-CNN for tests.
func tinyModel(t *testing.T, classes int) *Model {
	t.Helper()
	a, err := spinenet.Lookup("49S")
	if err != nil {
		t.Fatal(err)
	}
	a.FilterSizeScale, a.EndpointsNumFilters = 0.25, 16
	opt := spinenet.DefaultOptions()
	opt.Activation = tensor.ActReLU
	m, err := New(a, opt, Config{NumClasses: classes + 1, NumAnchors: 3, RPNConvs: 1, RPNFilters: 16, BoxConvs: 1, BoxFilters: 16,
		BoxFCs: 1, BoxFCDim: 32, MaskConvs: 1, MaskFilters: 16, Activation: tensor.ActReLU, AnchorSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// shapeBatches are synthetic shapes with masks, as Mask R-CNN batches:
// images and ground truth with 112² mask patches.
func shapeBatches(t *testing.T, n, size, batch int) ([]*tensor.Tensor, [][]GroundTruth) {
	t.Helper()
	ds, src, err := data.GenerateShapesWith(data.ShapesConfig{N: n, Size: size, Seed: 3, Classes: 2})
	if err != nil {
		t.Fatal(err)
	}
	tr := data.DefaultTransform(size)
	tr.ScaleMin, tr.ScaleMax, tr.Flip, tr.MaskPatch = 1, 1, true, MaskPatchSize
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: batch, Workers: 1, Epochs: 1, Train: true, Transform: tr, Source: src, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var imgs []*tensor.Tensor
	var gts [][]GroundTruth
	for b, err := range l.All() {
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, b.Images)
		var g []GroundTruth
		for _, objs := range b.Objects {
			var gt GroundTruth
			for _, o := range objs {
				if o.MaskPatch == nil {
					t.Fatal("a synthetic object without a mask patch")
				}
				gt.Boxes, gt.Classes, gt.Patches = append(gt.Boxes, o.Box), append(gt.Classes, o.Class), append(gt.Patches, o.MaskPatch)
			}
			g = append(g, gt)
		}
		gts = append(gts, g)
	}
	return imgs, gts
}

// One training step's loss has every part finite and positive, reaches
// every parameter of the RPN and both heads, and SGD on a few batches
// lowers it.
func TestLossTrains(t *testing.T) {
	m := tinyModel(t, 2)
	imgs, gts := shapeBatches(t, 8, 64, 4)
	cfg := DefaultLoss()
	cfg.Sampler.RoIs, cfg.Sampler.MaskRoIs = 64, 16
	cfg.Proposals = ProposalConfig{PreNMSTopK: 200, NMSIoU: 0.7, PostNMSTopK: 100}
	sgd, err := optim.NewSGD(m.Graph().Params(), optim.DefaultSGDConfig())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tp := autograd.NewTape(1)
	var first, last float64
	for step := range 48 {
		i := step % len(imgs)
		ls, err := m.Loss(tp, tp.Constant(imgs[i]), gts[i], cfg, rng)
		if err != nil {
			t.Fatal(err)
		}
		parts := map[string]*autograd.Var{"rpn class": ls.RPNClass, "rpn box": ls.RPNBox, "class": ls.Class, "box": ls.Box, "mask": ls.Mask}
		for name, p := range parts {
			if v := float64(p.Value.Data()[0]); math.IsNaN(v) || math.IsInf(v, 0) || (step == 0 && v <= 0) {
				t.Fatalf("step %d: %s loss %v", step, name, v)
			}
		}
		if step == 0 && (ls.Foreground == 0 || ls.Masks == 0 || ls.Matched == 0) {
			t.Fatalf("no foreground: %+v", ls)
		}
		if err := tp.Backward(ls.Total); err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			for _, p := range m.Graph().Params() {
				if !p.HasGrad() {
					t.Errorf("%s got no gradient", p.Name)
				}
			}
		}
		if step%8 == 0 || step == 47 {
			t.Logf("step %d: rpn %.3f %.3f class %.3f box %.3f mask %.3f; fg %d masks %d", step, ls.RPNClass.Value.Data()[0], ls.RPNBox.Value.Data()[0],
				ls.Class.Value.Data()[0], ls.Box.Value.Data()[0], ls.Mask.Value.Data()[0], ls.Foreground, ls.Masks)
		}
		v := float64(ls.Total.Value.Data()[0])
		if step < len(imgs) {
			first += v
		}
		if step >= 48-len(imgs) {
			last += v
		}
		if _, err := sgd.Step(0.08); err != nil {
			t.Fatal(err)
		}
		tp.Reset()
	}
	t.Logf("mean loss of the first pass %.4f, of the last %.4f", first/float64(len(imgs)), last/float64(len(imgs)))
	if last >= 0.8*first {
		t.Errorf("loss did not fall by 20 %%: %.4f → %.4f", first/float64(len(imgs)), last/float64(len(imgs)))
	}
}

// Detect returns, per image, at most MaxDetections boxes inside the clip,
// best first, with classes in range and 28×28 mask probabilities.
func TestDetectShapes(t *testing.T) {
	m := tinyModel(t, 2)
	imgs, _ := shapeBatches(t, 4, 64, 2)
	tp := autograd.NewInferenceTape()
	post := DefaultPost()
	post.MaxDetections = 20
	dets, err := m.Detect(tp, tp.Constant(imgs[0]), [][2]float32{{64, 64}, {50, 40}}, post)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 2 || len(dets[0]) == 0 {
		t.Fatalf("detections per image: %d", len(dets))
	}
	for i, ds := range dets {
		if len(ds) > 20 {
			t.Errorf("image %d: %d detections", i, len(ds))
		}
		for j, d := range ds {
			clip := [][2]float32{{64, 64}, {50, 40}}[i]
			if d.Box.X1 < 0 || d.Box.Y1 < 0 || d.Box.X2 > clip[0] || d.Box.Y2 > clip[1] || d.Class < 0 || d.Class > 1 || len(d.Mask) != MaskSize*MaskSize {
				t.Fatalf("image %d detection %d: %+v (mask %d)", i, j, d.Scored, len(d.Mask))
			}
			if j > 0 && d.Score > ds[j-1].Score {
				t.Fatalf("image %d: not sorted at %d", i, j)
			}
			for _, v := range d.Mask {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("mask probability %v", v)
				}
			}
		}
	}
}
