package maskrcnn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/tensor"
)

func testAnchors(t *testing.T) *detection.Anchors {
	t.Helper()
	a, err := detection.NewAnchors(Anchors(3, 4, 3), 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Proposals keeps the best-scored anchors of every level, decoded, clipped
// to the input and suppressed per level, best first.
func TestProposalGeneration(t *testing.T) {
	a := testAnchors(t)
	var cls, deltas []*tensor.Tensor
	for li, sz := range a.Sizes {
		c := tensor.New(2, sz[0], sz[1], 3)
		c.Fill(-10)
		cls = append(cls, c)
		deltas = append(deltas, tensor.New(2, sz[0], sz[1], 12))
		_ = li
	}
	// Image 1: level 3 anchors 0 and 1 (top-left, clipped), one apart
	// from them, and a level-4 anchor.
	cls[0].Data()[cls[0].Len()/2+0] = 3
	cls[0].Data()[cls[0].Len()/2+1] = 2
	far := (2*a.Sizes[0][1] + 5) * 3 // row 2, column 5: apart from the others
	cls[0].Data()[cls[0].Len()/2+far] = 1
	cls[1].Data()[cls[1].Len()/2+4] = 0.5
	got := Proposals(cls, deltas, 1, a, 64, 64, ProposalConfig{PreNMSTopK: 3, NMSIoU: 0.7, PostNMSTopK: 1000})
	if len(got) < 3 || got[0].Box != a.Boxes[0].Clip(64, 64) || got[0].Score < 0.95 || got[1].Box != a.Boxes[1].Clip(64, 64) || got[2].Box != a.Boxes[far] {
		t.Fatalf("proposals %+v", got[:min(len(got), 4)])
	}
	for i := 1; i < len(got); i++ {
		if got[i].Score > got[i-1].Score {
			t.Fatalf("not sorted at %d", i)
		}
		if got[i].Box.X2 > 64 || got[i].Box.Y2 > 64 || got[i].Box.X1 < 0 {
			t.Fatalf("not clipped: %v", got[i].Box)
		}
	}
	if n := len(Proposals(cls, deltas, 1, a, 64, 64, ProposalConfig{PreNMSTopK: 1000, NMSIoU: 0.7, PostNMSTopK: 5})); n != 5 {
		t.Errorf("PostNMSTopK 5 kept %d", n)
	}
}

// LabelAnchors marks the anchor equal to a box positive with zero deltas,
// regresses every matched anchor, and samples at most 256 anchors, at most
// half positive.
func TestLabelAnchors(t *testing.T) {
	a, err := detection.NewAnchors(Anchors(3, 4, 3), 256, 256)
	if err != nil {
		t.Fatal(err)
	}
	gts := []box.Box{a.Boxes[40], {X1: 2, Y1: 2, X2: 60, Y2: 62}}
	c := DefaultRPNTargets()
	tg, _, _ := c.LabelAnchors(a, gts, rand.New(rand.NewPCG(1, 2)), nil, nil)
	if tg.BoxWeight[40] != 1 || tg.Box[160] != 0 || tg.Box[163] != 0 {
		t.Errorf("anchor 40: weight %v, deltas %v", tg.BoxWeight[40], tg.Box[160:164])
	}
	sampled, pos, matched := 0, 0, 0
	for i := range tg.ObjWeight {
		if tg.ObjWeight[i] == 1 {
			sampled++
			if tg.Objectness[i] == 1 {
				pos++
				if tg.BoxWeight[i] != 1 {
					t.Errorf("a positive without box target at %d", i)
				}
			}
		}
		if tg.BoxWeight[i] == 1 {
			matched++
		}
	}
	if sampled != 256 || pos == 0 || pos > 128 || matched != tg.Matched || matched < pos {
		t.Errorf("%d sampled, %d positive, %d matched (%d)", sampled, pos, matched, tg.Matched)
	}
}

// Sample draws a fixed number of RoIs: foreground up to a quarter with the
// class + 1 and (10,10,5,5) deltas, background class 0, padding weight 0.
func TestSampleRoIs(t *testing.T) {
	gts := []box.Box{{X1: 10, Y1: 10, X2: 30, Y2: 30}, {X1: 40, Y1: 40, X2: 60, Y2: 50}}
	props := []box.Scored{{Box: box.Box{X1: 11, Y1: 10, X2: 31, Y2: 30}, Score: 0.9}, {Box: box.Box{X1: 0, Y1: 50, X2: 8, Y2: 60}, Score: 0.5}}
	c := DefaultRoISampler()
	s := c.Sample(props, gts, []int{4, 7}, rand.New(rand.NewPCG(3, 4)))
	if len(s.Boxes) != 512 || len(s.Foreground) != 3 { // the near proposal and both boxes
		t.Fatalf("%d RoIs, %d foreground", len(s.Boxes), len(s.Foreground))
	}
	real := 0
	for r := range s.Boxes {
		real += int(s.Weight[r])
	}
	if real != 4 {
		t.Errorf("%d real RoIs, want 4", real)
	}
	for _, r := range s.Foreground {
		g := s.GT[r]
		if s.Class[r] != int32([]int{4, 7}[g]+1) {
			t.Errorf("RoI %d: class %d for box %d", r, s.Class[r], g)
		}
		if s.Boxes[r] == gts[g] && (s.Deltas[4*r] != 0 || s.Deltas[4*r+3] != 0) {
			t.Errorf("a ground-truth RoI has deltas %v", s.Deltas[4*r:4*r+4])
		}
	}
	var d [4]float32
	boxCoder.Encode(d[:], gts[0], props[0].Box)
	if d[1] != 10*(-1.0/20) {
		t.Errorf("x delta %v, want 10·(−1/20)", d[1])
	}
	// Many candidates: at most 128 foreground.
	var many []box.Scored
	for i := range 900 {
		many = append(many, box.Scored{Box: box.Box{X1: 10 + float32(i%3)*0.1, Y1: 10, X2: 30, Y2: 30}})
	}
	if s := c.Sample(many, gts, []int{0, 1}, rand.New(rand.NewPCG(5, 6))); len(s.Foreground) != 128 {
		t.Errorf("%d foreground RoIs, want 128", len(s.Foreground))
	}
}

// The spec §15 vectors: an RoI equal to the box of an all-ones patch gives
// exactly 1 everywhere; shifted right by half its width, its right half
// reads the padding.
func TestMaskTarget(t *testing.T) {
	patch := make([]float32, MaskPatchSize*MaskPatchSize)
	for i := range patch {
		patch[i] = 1
	}
	gt := box.Box{X1: 10, Y1: 20, X2: 50, Y2: 44}
	dst := make([]float32, MaskSize*MaskSize)
	MaskTarget(dst, patch, gt, gt)
	for i, v := range dst {
		if v != 1 {
			t.Fatalf("RoI = box: target[%d] = %v", i, v)
		}
	}
	MaskTarget(dst, patch, gt, box.Box{X1: 30, Y1: 20, X2: 70, Y2: 44})
	for i := range MaskSize {
		for j := range MaskSize {
			v, want := dst[i*MaskSize+j], float32(1)
			if j >= MaskSize/2 {
				want = 0
			}
			if j != MaskSize/2-1 && j != MaskSize/2 && v != want {
				t.Fatalf("shifted RoI: target[%d][%d] = %v, want %v", i, j, v, want)
			}
		}
	}
}

// A mask of ones pasted at a box covers the box (enlarged by 30/28 and
// thresholded, the padding's ramp lands on the box edges), clipped to the
// image; an empty one pastes nothing.
func TestPasteMask(t *testing.T) {
	ones := make([]float32, MaskSize*MaskSize)
	for i := range ones {
		ones[i] = 1
	}
	r := PasteMask(ones, box.Box{X1: 10, Y1: 20, X2: 66, Y2: 48}, 100, 60)
	bb := r.ToBbox()
	if r.H != 60 || r.W != 100 || math.Abs(bb[0]-10) > 1.5 || math.Abs(bb[1]-20) > 1.5 || math.Abs(bb[2]-56) > 2.5 || math.Abs(bb[3]-28) > 2.5 {
		t.Errorf("pasted box %v, want about [10 20 56 28]", bb)
	}
	if a := r.Area(); math.Abs(float64(a)/(56*28)-1) > 0.1 {
		t.Errorf("area %d, want about %d", a, 56*28)
	}
	if r := PasteMask(ones, box.Box{X1: 90, Y1: 50, X2: 130, Y2: 80}, 100, 60); r.ToBbox()[0]+r.ToBbox()[2] > 100 {
		t.Errorf("not clipped: %v", r.ToBbox())
	}
	if r := PasteMask(make([]float32, MaskSize*MaskSize), box.Box{X1: 10, Y1: 10, X2: 50, Y2: 50}, 100, 60); r.Area() != 0 {
		t.Errorf("an empty mask pasted %d pixels", r.Area())
	}
}
