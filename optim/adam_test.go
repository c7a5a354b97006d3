package optim_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/tensor"
)

// adamRef is Kingma & Ba's Algorithm 1 in float64, with ε̂ outside the bias
// correction (their Section 2's efficient form): one Param, given gradients.
func adamRef(w0 []float64, grads [][]float64, lr, b1, b2, eps float64) []float64 {
	w := append([]float64(nil), w0...)
	m, v := make([]float64, len(w)), make([]float64, len(w))
	for t, g := range grads {
		for j := range w {
			m[j] = b1*m[j] + (1-b1)*g[j]
			v[j] = b2*v[j] + (1-b2)*g[j]*g[j]
			mHat := m[j] / (1 - math.Pow(b1, float64(t+1)))
			vHat := v[j] / (1 - math.Pow(b2, float64(t+1)))
			// ε̂ = ε·sqrt(1−β2^t) makes Algorithm 1 equal the efficient form.
			w[j] -= lr * mHat / (math.Sqrt(vHat) + eps/math.Sqrt(1-math.Pow(b2, float64(t+1))))
		}
	}
	return w
}

// Eight steps against the float64 reference, with gradients of mixed signs
// and magnitudes (and a zero).
func TestAdamMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	w0 := []float32{0.5, -1.25, 2, 0, 1e-3}
	p := param("w/kernel", w0...)
	cfg := optim.DefaultAdamConfig()
	cfg.Epsilon = 1e-3 // large enough that ε matters
	opt, err := optim.NewAdam([]*autograd.Var{p}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tp := autograd.NewTape(1)
	var grads [][]float64
	for step := range 8 {
		g := make([]float32, len(w0))
		gg := make([]float64, len(w0))
		for j := range g {
			g[j] = float32(rng.NormFloat64() * math.Pow(10, float64(j%3-1)))
			if j == 3 && step%2 == 0 {
				g[j] = 0
			}
			gg[j] = float64(g[j])
		}
		grads = append(grads, gg)
		setGrads(t, tp, []*autograd.Var{p}, g)
		if _, err := opt.Step(0.01); err != nil {
			t.Fatal(err)
		}
		w064 := make([]float64, len(w0))
		for j, x := range w0 {
			w064[j] = float64(x)
		}
		want := adamRef(w064, grads, 0.01, cfg.Beta1, cfg.Beta2, cfg.Epsilon)
		for j, x := range p.Value.Data() {
			if math.Abs(float64(x)-want[j]) > 1e-6 {
				t.Fatalf("step %d, w[%d] = %.9g, want %.9g", step+1, j, x, want[j])
			}
		}
	}
	if opt.Steps() != 8 {
		t.Errorf("Steps %d, want 8", opt.Steps())
	}
}

// The first step moves each weight by about lr in the
// direction against its gradient, whatever the gradient's scale.
func TestAdamFirstStepIsSignLike(t *testing.T) {
	p := param("w", 1, 1, 1)
	opt, _ := optim.NewAdam([]*autograd.Var{p}, optim.DefaultAdamConfig())
	setGrads(t, autograd.NewTape(1), []*autograd.Var{p}, []float32{1e-2, -3, 250})
	if _, err := opt.Step(0.1); err != nil {
		t.Fatal(err)
	}
	// m = 0.1·g, v = 0.001·g², lr_t = lr·sqrt(0.001)/0.1: the step is
	// lr·g/(|g| + ε/sqrt(0.001)).
	var want []float64
	for _, g := range []float64{1e-2, -3, 250} {
		want = append(want, 1-0.1*g/(math.Abs(g)+1e-8/math.Sqrt(0.001)))
	}
	checkValues(t, "w", values(p), want)
}

// Frozen Params and Params without a gradient are left alone; every
// gradient is consumed; a non-finite gradient changes nothing.
func TestAdamSkipsAndRefuses(t *testing.T) {
	a, b, c := param("a", 1, 2), param("b", 3), param("c", 4)
	b.SetRequiresGrad(false)
	opt, _ := optim.NewAdam([]*autograd.Var{a, b, c}, optim.DefaultAdamConfig())
	tp := autograd.NewTape(1)
	b.SetRequiresGrad(true)
	setGrads(t, tp, []*autograd.Var{a, b}, []float32{1, 1}, []float32{1})
	b.SetRequiresGrad(false)
	st, err := opt.Step(0.5)
	if err != nil || st.Updated != 1 {
		t.Fatalf("Step: %+v, %v; want 1 updated", st, err)
	}
	if values(b)[0] != 3 || values(c)[0] != 4 || a.HasGrad() || b.HasGrad() {
		t.Errorf("b %v c %v, grads a %v b %v", values(b), values(c), a.HasGrad(), b.HasGrad())
	}
	before := opt.State()
	wa := values(a)
	setGrads(t, tp, []*autograd.Var{a}, []float32{float32(math.NaN()), 1})
	var nf *optim.NonFiniteError
	if _, err := opt.Step(0.5); !errors.As(err, &nf) || nf.Param != "a" {
		t.Fatalf("NaN gradient: %v", err)
	}
	after := opt.State()
	if after.Steps != before.Steps || values(a)[0] != wa[0] || after.M["a"].Data()[0] != before.M["a"].Data()[0] {
		t.Error("a refused step changed the state")
	}
	if _, err := opt.Step(-1); err == nil {
		t.Error("negative learning rate accepted")
	}
}

// A run restored from State continues bit for bit.
func TestAdamStateRoundTrip(t *testing.T) {
	run := func(steps int, restoreAt int) []float32 {
		p := param("w", 0.3, -0.7, 1.1)
		opt, _ := optim.NewAdam([]*autograd.Var{p}, optim.DefaultAdamConfig())
		rng := rand.New(rand.NewPCG(1, 1))
		tp := autograd.NewTape(1)
		for s := range steps {
			if s == restoreAt {
				st := opt.State()
				w := values(p)
				p = param("w", w...)
				opt, _ = optim.NewAdam([]*autograd.Var{p}, optim.DefaultAdamConfig())
				if err := opt.LoadState(st); err != nil {
					t.Fatal(err)
				}
			}
			g := []float32{float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())}
			setGrads(t, tp, []*autograd.Var{p}, g)
			if _, err := opt.Step(0.05); err != nil {
				t.Fatal(err)
			}
		}
		return values(p)
	}
	a, b := run(10, -1), run(10, 4)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("restored run %v, uninterrupted %v", b, a)
		}
	}
}

func TestAdamSettingErrors(t *testing.T) {
	p := param("w", 1)
	for _, c := range []struct {
		edit  func(*optim.AdamConfig)
		field string
	}{
		{func(c *optim.AdamConfig) { c.Beta1 = 1 }, "Beta1"},
		{func(c *optim.AdamConfig) { c.Beta2 = -0.1 }, "Beta2"},
		{func(c *optim.AdamConfig) { c.Epsilon = 0 }, "Epsilon"},
		{func(c *optim.AdamConfig) { c.Epsilon = math.NaN() }, "Epsilon"},
	} {
		cfg := optim.DefaultAdamConfig()
		c.edit(&cfg)
		var se *optim.SettingError
		if _, err := optim.NewAdam([]*autograd.Var{p}, cfg); !errors.As(err, &se) || !strings.Contains(se.Field, c.field) {
			t.Errorf("%+v: %v, want a SettingError naming %s", cfg, err, c.field)
		}
	}
	if _, err := optim.NewAdam([]*autograd.Var{p, p}, optim.DefaultAdamConfig()); err == nil {
		t.Error("the same Param twice accepted")
	}
	opt, _ := optim.NewAdam([]*autograd.Var{p}, optim.DefaultAdamConfig())
	st := opt.State()
	st.V["w"] = tensor.New(1)
	st.V["w"].Data()[0] = -1
	if err := opt.LoadState(st); err == nil || !strings.Contains(err.Error(), "second moment") {
		t.Errorf("negative second moment: %v", err)
	}
	delete(st.M, "w")
	if err := opt.LoadState(st); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing moment: %v", err)
	}
}
