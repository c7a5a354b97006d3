package detection

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// Spec §7: SpineNet-49 at L3 has anchor sides 24, 30.2, 38.1 px.
func TestAnchors(t *testing.T) {
	arch, _ := spinenet.Lookup("49")
	a, err := NewAnchors(AnchorsFor(arch), 640, 600)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for l := 3; l <= 7; l++ {
		want += ((640 + (1 << l) - 1) >> l) * ((600 + (1 << l) - 1) >> l) * 9
	}
	if a.Len() != want {
		t.Errorf("%d anchors, want %d", a.Len(), want)
	}
	// First position of L3: centre (4, 4); ratio 1 anchors are index 1, 4, 7.
	for i, side := range []float32{24, 30.2, 38.1} {
		b := a.Boxes[3*i+1]
		if math.Abs(float64(b.W()-side)) > 0.06 || b.W() != b.H() {
			t.Errorf("scale %d: %v, want side %v", i, b, side)
		}
		if cx, cy := b.Center(); cx != 4 || cy != 4 {
			t.Errorf("centre (%v,%v)", cx, cy)
		}
	}
	if b := a.Boxes[0]; math.Abs(float64(b.W()/b.H()-0.5)) > 1e-5 {
		t.Errorf("first anchor %v, want aspect 0.5", b)
	}
}

func TestBoxCoderRoundTrip(t *testing.T) {
	c := DefaultBoxCoder()
	rng := rand.New(rand.NewPCG(1, 1))
	for range 100 {
		a := box.Box{X1: rng.Float32() * 100, Y1: rng.Float32() * 100}
		a.X2, a.Y2 = a.X1+1+rng.Float32()*50, a.Y1+1+rng.Float32()*50
		b := box.Box{X1: rng.Float32() * 100, Y1: rng.Float32() * 100}
		b.X2, b.Y2 = b.X1+1+rng.Float32()*50, b.Y1+1+rng.Float32()*50
		var d [4]float32
		c.Encode(d[:], b, a)
		got := c.Decode(d[:], a)
		if math.Abs(float64(got.X1-b.X1))+math.Abs(float64(got.Y2-b.Y2)) > 1e-3 {
			t.Fatalf("decode(encode(%v)) = %v", b, got)
		}
	}
}

func TestMatcher(t *testing.T) {
	anchors := []box.Box{box.XYXY(0, 0, 10, 10), box.XYXY(0, 0, 10, 20), box.XYXY(100, 100, 110, 110), box.XYXY(50, 50, 60, 60)}
	gts := []box.Box{box.XYXY(0, 0, 10, 10), box.XYXY(52, 52, 80, 80)}
	match := make([]int32, len(anchors))
	DefaultMatcher().Match(match, anchors, gts, nil)
	// anchor 0: IoU 1 → gt 0; anchor 1: IoU 0.5 → gt 0; anchor 2: nothing;
	// anchor 3: IoU 0.083 with gt 1, but forced as its best anchor.
	want := []int32{0, 0, MatchNegative, 1}
	for i := range want {
		if match[i] != want[i] {
			t.Errorf("match %v, want %v", match, want)
			break
		}
	}
	m := Matcher{PosIoU: 0.6, NegIoU: 0.4}
	m.Match(match, anchors, gts, nil)
	if match[1] != MatchIgnore || match[3] != MatchNegative {
		t.Errorf("thresholds 0.6/0.4: %v", match)
	}
}

// Targets and post-processing agree on the output layout: feeding the
// encoded targets back as head outputs recovers the ground truth.
func TestTargetsDecodeToGroundTruth(t *testing.T) {
	arch, _ := spinenet.Lookup("49S")
	arch.FilterSizeScale, arch.EndpointsNumFilters = 0.25, 16
	opt := spinenet.DefaultOptions()
	opt.SkipInit = true
	hc := HeadFor(arch, 3, opt.Activation)
	m, err := NewRetinaNet(arch, opt, hc)
	if err != nil {
		t.Fatal(err)
	}
	h, w := 96, 128
	anchors, _ := NewAnchors(AnchorsFor(arch), h, w)
	gts := []GroundTruth{
		{Boxes: []box.Box{box.XYXY(10, 12, 50, 40), box.XYXY(60, 30, 120, 90)}, Classes: []int{2, 0}},
		{Boxes: []box.Box{box.XYXY(5, 5, 30, 90)}, Classes: []int{1}},
	}
	na, k := anchors.Len(), 3
	tg := Targets{Class: make([]float32, 2*na*k), ClassWeight: make([]float32, 2*na), Box: make([]float32, 2*na*4), BoxWeight: make([]float32, 2*na)}
	m.assign(&tg, anchors, gts)
	if tg.Positives < 3 {
		t.Fatalf("%d positives", tg.Positives)
	}
	// Build per-level head outputs from the targets: logit +10 where the
	// target is 1, −10 elsewhere; deltas = targets.
	var cls, boxes []*tensor.Tensor
	for li, s := range anchors.Sizes {
		c := tensor.New(2, s[0], s[1], 9*k)
		b := tensor.New(2, s[0], s[1], 9*4)
		per := s[0] * s[1] * 9
		for i := range 2 {
			for a := range per {
				row := i*na + anchors.Offsets[li] + a
				for j := range k {
					v := float32(-10)
					if tg.Class[row*k+j] == 1 {
						v = 10
					}
					c.Data()[(i*per+a)*k+j] = v
				}
				copy(b.Data()[(i*per+a)*4:(i*per+a)*4+4], tg.Box[row*4:row*4+4])
			}
		}
		cls, boxes = append(cls, c), append(boxes, b)
	}
	dets := Detect(cls, boxes, anchors, k, [][2]float32{{float32(w), float32(h)}, {float32(w), float32(h)}}, DefaultPost())
	for i, gt := range gts {
		if len(dets[i]) != len(gt.Boxes) {
			t.Fatalf("image %d: %d detections, want %d: %v", i, len(dets[i]), len(gt.Boxes), dets[i])
		}
		for _, d := range dets[i] {
			found := false
			for g, b := range gt.Boxes {
				if gt.Classes[g] == d.Class && box.IoU(b, d.Box) > 0.999 {
					found = true
				}
			}
			if !found {
				t.Errorf("image %d: detection %v matches no ground truth", i, d)
			}
		}
	}
	// And the loss runs on the tape with these shapes.
	tp := autograd.NewTape(1)
	x := tensor.New(2, h, w, 3)
	outs := m.Graph().Forward(tp, tp.Constant(x))
	c, b := m.Outputs(outs)
	l, err := m.Loss(tp, c, b, anchors, gts, DefaultLoss())
	if err != nil {
		t.Fatal(err)
	}
	if l.Positives != tg.Positives || !(l.Total.Value.Data()[0] > 0) {
		t.Errorf("loss %v with %d positives", l.Total.Value, l.Positives)
	}
	if err := tp.Backward(l.Total); err != nil {
		t.Fatal(err)
	}
}
