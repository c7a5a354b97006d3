package tensor

import (
	"math"
	"testing"
)

// focalRef is the focal loss from its definition, in float64.
func focalRef(x, z, alpha, gamma float64) float64 {
	p := 1 / (1 + math.Exp(-x))
	pt, a := 1-p, 1-alpha
	if z == 1 {
		pt, a = p, alpha
	}
	return a * math.Pow(1-pt, gamma) * -math.Log(pt)
}

// The closed-form loss matches the definition and its derivative matches
// central differences of the definition, in float64.
func TestFocalTerms(t *testing.T) {
	for _, gamma := range []float64{0, 0.5, 1.5, 2} {
		for _, z := range []float64{0, 1} {
			for x := -8.0; x <= 8; x += 0.37 { // the reference cancels beyond ±8
				l, g := focalTerms(x, z, 0.25, gamma)
				if want := focalRef(x, z, 0.25, gamma); math.Abs(l-want) > 1e-9*math.Max(1, want) {
					t.Fatalf("γ %v z %v x %v: loss %v, want %v", gamma, z, x, l, want)
				}
				const h = 1e-6
				num := (focalRef(x+h, z, 0.25, gamma) - focalRef(x-h, z, 0.25, gamma)) / (2 * h)
				if math.Abs(g-num) > 1e-6*math.Max(1, math.Abs(num)) {
					t.Fatalf("γ %v z %v x %v: gradient %v, finite difference %v", gamma, z, x, g, num)
				}
			}
		}
	}
}

// Saturated logits give finite losses and gradients with the right limits.
func TestFocalSaturated(t *testing.T) {
	const alpha, gamma = 0.25, 1.5
	x, _ := FromSlice([]float32{100, 100, -100, -100, 1e4, -1e4}, 6)
	z, _ := FromSlice([]float32{0, 1, 0, 1, 0, 1}, 6)
	// Confidently wrong: loss ≈ a·|x|, gradient ≈ ±a. Confidently right: 0.
	wantLoss := []float64{0.75 * 100, 0, 0, 0.25 * 100, 0.75 * 1e4, 0.25 * 1e4}
	wantGrad := []float64{0.75, 0, 0, -0.25, 0.75, -0.25}
	dx := New(6)
	SigmoidFocalLossGrad(dx, x, z, nil, alpha, gamma, 1, false)
	for i := range 6 {
		xi, _ := FromSlice(x.data[i:i+1], 1)
		zi, _ := FromSlice(z.data[i:i+1], 1)
		l := SigmoidFocalLoss(xi, zi, nil, alpha, gamma)
		if math.Abs(l-wantLoss[i]) > 1e-6*math.Max(1, wantLoss[i]) || math.Abs(float64(dx.data[i])-wantGrad[i]) > 1e-6 {
			t.Errorf("x %v z %v: loss %v grad %v, want %v %v", x.data[i], z.data[i], l, dx.data[i], wantLoss[i], wantGrad[i])
		}
	}
}

// Per-anchor weights broadcast over the last axis; zero weights drop
// elements; mismatched weights panic.
func TestLossWeights(t *testing.T) {
	x, _ := FromSlice([]float32{0.5, -0.2, 1, 0.3, 2, -1}, 3, 2)
	y := New(3, 2)
	wAnchor, _ := FromSlice([]float32{1, 0, 2}, 3)
	wElem, _ := FromSlice([]float32{1, 1, 0, 0, 2, 2}, 3, 2)
	if a, b := HuberLoss(x, y, wAnchor, 0.4), HuberLoss(x, y, wElem, 0.4); math.Abs(a-b) > 1e-12 {
		t.Fatalf("per-anchor %v != per-element %v", a, b)
	}
	// Rows 0 and 2: h(0.5)=0.4·0.3, h(-0.2)=0.02, h(2)=0.4·1.8, h(-1)=0.4·0.8.
	if got, want := HuberLoss(x, y, wAnchor, 0.4), 0.12+0.02+2*(0.72+0.32); math.Abs(got-want) > 1e-7 {
		t.Fatalf("Huber %v, want %v", got, want)
	}
	dx := New(3, 2)
	HuberLossGrad(dx, x, y, wAnchor, 0.4, 2, false)
	want := []float32{0.8, -0.4, 0, 0, 1.6, -1.6}
	for i, v := range dx.data {
		if math.Abs(float64(v-want[i])) > 1e-6 {
			t.Fatalf("Huber grad %v, want %v", dx.data, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("mismatched weights did not panic")
		}
	}()
	HuberLoss(x, y, New(4), 1)
}

func TestSoftmax(t *testing.T) {
	x, _ := FromSlice([]float32{1e4, 0, -1e4, 1, 2, 3}, 2, 3)
	Softmax(x, x) // in place
	for r := range 2 {
		var s float64
		for _, v := range x.data[r*3 : r*3+3] {
			if math.IsNaN(float64(v)) {
				t.Fatalf("softmax NaN: %v", x.data)
			}
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-6 {
			t.Fatalf("row %d sums to %v", r, s)
		}
	}
	if x.data[0] != 1 || x.data[5] < x.data[4] {
		t.Fatalf("softmax %v", x.data)
	}
}

func TestTopKCorrect(t *testing.T) {
	nan := float32(math.NaN())
	x, _ := FromSlice([]float32{1, nan, 0, nan, 1, 0, 3, 2, 1}, 3, 3)
	// Row 0: a NaN competitor is ignored; row 1: a NaN label never counts.
	if got := TopKCorrect(x, []int32{0, 0, 2}, 1); got != 1 {
		t.Fatalf("top-1 correct %d, want 1", got)
	}
	if got := TopKCorrect(x, []int32{0, 0, 2}, 3); got != 2 {
		t.Fatalf("top-3 correct %d, want 2", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("out-of-range label did not panic")
		}
	}()
	TopKCorrect(x, []int32{0, 3, 1}, 1)
}

// A soft target z in (0, 1) uses the unified form
// a·exp(−γ·z·x − γ·softplus(−x))·CE, with the derivative of that expression.
func TestFocalSoftTarget(t *testing.T) {
	const alpha, gamma, z = 0.25, 1.5, 0.3
	ref := func(x float64) float64 {
		sp := func(v float64) float64 { return math.Log1p(math.Exp(v)) }
		return (1 - alpha) * math.Exp(-gamma*z*x-gamma*sp(-x)) * (sp(x) - x*z)
	}
	for x := -6.0; x <= 6; x += 0.41 {
		l, g := focalTerms(x, z, alpha, gamma)
		const h = 1e-6
		num := (ref(x+h) - ref(x-h)) / (2 * h)
		if math.Abs(l-ref(x)) > 1e-12 || math.Abs(g-num) > 1e-6 {
			t.Fatalf("x %v: loss %v grad %v, want %v %v", x, l, g, ref(x), num)
		}
	}
}

// The parallel focal loss over many chunks equals the serial sum, and is
// bit-identical on one and on two threads.
func TestFocalParallelDeterministic(t *testing.T) {
	const n = 5*lossChunk + 123
	x, z, w := New(n/3, 3), New(n/3, 3), New(n/3)
	for i := range x.data {
		x.data[i] = float32(math.Sin(float64(i)) * 6)
		if i%17 == 0 {
			z.data[i] = 1
		}
	}
	for i := range w.data {
		w.data[i] = float32(i % 3) // some rows ignored
	}
	var serial float64
	for i, v := range x.data {
		if wi := float64(w.data[i/3]); wi != 0 {
			l, _ := focalTerms(float64(v), float64(z.data[i]), 0.25, 1.5)
			serial += wi * l
		}
	}
	d1, d2 := NewCPU(1), NewCPU(2)
	defer d1.Close()
	defer d2.Close()
	one := d1.SigmoidFocalLoss(x, z, w, 0.25, 1.5)
	g1 := New(n/3, 3)
	d1.SigmoidFocalLossGrad(g1, x, z, w, 0.25, 1.5, 0.5, false)
	two := d2.SigmoidFocalLoss(x, z, w, 0.25, 1.5)
	g2 := New(n/3, 3)
	d2.SigmoidFocalLossGrad(g2, x, z, w, 0.25, 1.5, 0.5, false)
	if one != two || math.Abs(one-serial) > 1e-9*serial {
		t.Errorf("loss: one thread %v, two %v, serial %v", one, two, serial)
	}
	for i := range g1.data {
		if g1.data[i] != g2.data[i] {
			t.Fatalf("gradient %d: %v on one thread, %v on two", i, g1.data[i], g2.data[i])
		}
	}
}

// BenchmarkSigmoidFocalLoss times the loss and its gradient over the class
// logits of a 49S RetinaNet at 384×384 with 80 classes (one image).
func BenchmarkSigmoidFocalLoss(b *testing.B) {
	const anchors = (48*48 + 24*24 + 12*12 + 6*6 + 3*3) * 9
	x, z, dx := New(anchors, 80), New(anchors, 80), New(anchors, 80)
	for i := range x.data {
		x.data[i] = float32(math.Sin(float64(i))*4 - 3)
		if i%997 == 0 {
			z.data[i] = 1
		}
	}
	b.ReportAllocs()
	for range b.N {
		SigmoidFocalLoss(x, z, nil, 0.25, 1.5)
		SigmoidFocalLossGrad(dx, x, z, nil, 0.25, 1.5, 1, false)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*len(x.data)), "ns/elem")
}

// log1pUnit agrees with math.Log1p on [0, 1], tiny arguments included.
func TestLog1pUnit(t *testing.T) {
	check := func(e float64) {
		got, want := log1pUnit(e), math.Log1p(e)
		if math.Abs(got-want) > 5e-16*math.Abs(want) { // within two ulps
			t.Fatalf("log1pUnit(%v) = %v, want %v", e, got, want)
		}
	}
	for i := 0; i <= 100000; i++ {
		check(float64(i) / 100000)
	}
	for e := 1e-300; e < 1; e *= 1.37 {
		check(e)
	}
	check(math.Sqrt2 - 1)
	check(math.Nextafter(math.Sqrt2-1, 1))
}
