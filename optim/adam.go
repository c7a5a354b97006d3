package optim

import (
	"fmt"
	"math"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/tensor"
)

// AdamConfig configures an Adam optimizer. DefaultAdamConfig gives
// TensorFlow's defaults.
type AdamConfig struct {
	// Beta1 and Beta2 are the decay rates of the first and second moment
	// estimates, each in [0, 1).
	Beta1, Beta2 float64
	// Epsilon is added to sqrt(v) in the denominator (TensorFlow's
	// "epsilon hat"; see Adam); it must be positive.
	Epsilon float64
}

// DefaultAdamConfig returns β1 = 0.9, β2 = 0.999, ε = 1e-8: Kingma & Ba's
// defaults, which tf.compat.v1.train.AdamOptimizer also uses.
func DefaultAdamConfig() AdamConfig { return AdamConfig{Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8} }

func (c *AdamConfig) validate() error {
	inUnit := func(v float64) bool { return v >= 0 && v < 1 }
	switch {
	case !inUnit(c.Beta1):
		return &SettingError{"AdamConfig.Beta1", fmt.Sprintf("%v is not in [0, 1)", c.Beta1)}
	case !inUnit(c.Beta2):
		return &SettingError{"AdamConfig.Beta2", fmt.Sprintf("%v is not in [0, 1)", c.Beta2)}
	case !(c.Epsilon > 0) || math.IsInf(c.Epsilon, 0):
		return &SettingError{"AdamConfig.Epsilon", fmt.Sprintf("%v is not a finite positive number", c.Epsilon)}
	}
	return nil
}

// Adam is the Adam optimizer (Kingma & Ba, ICLR 2015) in the form of their
// Section 2's last paragraph, which TensorFlow's ApplyAdam kernel computes:
// at step t = 1, 2, …
//
//	m    = β1·m + (1−β1)·g
//	v    = β2·v + (1−β2)·g²
//	lr_t = lr·sqrt(1−β2^t)/(1−β1^t)
//	w   -= lr_t·m/(sqrt(v) + ε)
//
// This is Algorithm 1 with ε moved outside the bias correction (PyTorch's
// Adam instead adds ε to sqrt(v̂) = sqrt(v/(1−β2^t)); the two differ only
// while sqrt(v) is near ε). No weight decay and no clipping: the policy
// networks it serves (the architecture-search controller, as in NASNet) use
// neither.
//
// An Adam keeps two float32 moment buffers per Param and the step count. It
// is not safe for concurrent use.
type Adam struct {
	cfg    AdamConfig
	params []*autograd.Var
	m, v   []*tensor.Tensor
	t      int64 // steps taken
}

// NewAdam returns an optimizer for params, each a distinct Param with a
// distinct, non-empty name (names key the state). It returns a
// *SettingError naming the field or the parameter when cfg or params are
// invalid.
func NewAdam(params []*autograd.Var, cfg AdamConfig) (*Adam, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkParams(params); err != nil {
		return nil, err
	}
	a := &Adam{cfg: cfg, params: append([]*autograd.Var(nil), params...),
		m: make([]*tensor.Tensor, len(params)), v: make([]*tensor.Tensor, len(params))}
	for i, p := range params {
		a.m[i] = tensor.New(p.Value.Shape()...)
		a.v[i] = tensor.New(p.Value.Shape()...)
	}
	return a, nil
}

// Config returns the configuration the optimizer was made with.
func (a *Adam) Config() AdamConfig { return a.cfg }

// Params returns the Params the optimizer updates, in its order. The slice
// must not be modified.
func (a *Adam) Params() []*autograd.Var { return a.params }

// Steps returns the number of steps taken (t of the last step).
func (a *Adam) Steps() int64 { return a.t }

// Step applies one update with learning rate lr to every Param that has a
// fresh gradient and is not frozen, then marks every held Param's gradient
// consumed. The step count advances once per Step, for all Params together
// (as TensorFlow's beta powers do). If a gradient holds NaN or ±Inf it
// returns a *NonFiniteError and changes nothing; it also refuses, changing
// nothing, an lr that is negative or not finite and a Param whose value or
// gradient changed shape. StepStats.GradNorm is the global norm of the
// gradients; Clipped is always false.
func (a *Adam) Step(lr float64) (StepStats, error) {
	var st StepStats
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return st, fmt.Errorf("optim: learning rate %v is not a finite non-negative number", lr)
	}
	var sumSq float64
	for i, p := range a.params {
		if !active(p) {
			continue
		}
		if !tensor.SameShape(p.Grad, p.Value) || !tensor.SameShape(a.m[i], p.Value) {
			return StepStats{}, fmt.Errorf("optim: Param %q has value %v, gradient %v and moments %v: shapes changed since NewAdam",
				p.Name, p.Value.Shape(), p.Grad.Shape(), a.m[i].Shape())
		}
		ss := tensor.SumSquares(p.Grad)
		if math.IsNaN(ss) || math.IsInf(ss, 0) {
			return StepStats{}, &NonFiniteError{Param: p.Name}
		}
		sumSq += ss
		st.Updated++
	}
	st.GradNorm = math.Sqrt(sumSq)
	a.t++
	t := float64(a.t)
	lrT := float32(lr * math.Sqrt(1-math.Pow(a.cfg.Beta2, t)) / (1 - math.Pow(a.cfg.Beta1, t)))
	b1, b2, eps := float32(a.cfg.Beta1), float32(a.cfg.Beta2), float32(a.cfg.Epsilon)
	for i, p := range a.params {
		if !active(p) {
			if p.HasGrad() {
				p.ZeroGrad()
			}
			continue
		}
		adamUpdate(p.Value.Data(), p.Grad.Data(), a.m[i].Data(), a.v[i].Data(), b1, b2, eps, lrT)
		p.ZeroGrad()
	}
	return st, nil
}

// adamUpdate applies one Adam step to weights w with gradient g and
// moments m, v (equal lengths), in float32 in the order of TensorFlow's
// ApplyAdam kernel: m += (g−m)(1−β1), v += (g²−v)(1−β2),
// w -= lr_t·m/(sqrt(v)+ε).
func adamUpdate(w, g, m, v []float32, b1, b2, eps, lrT float32) {
	w, m, v = w[:len(g)], m[:len(g)], v[:len(g)]
	for j, gj := range g {
		m[j] += (gj - m[j]) * (1 - b1)
		v[j] += (gj*gj - v[j]) * (1 - b2)
		w[j] -= lrT * m[j] / (float32(math.Sqrt(float64(v[j]))) + eps)
	}
}

// ZeroGrad marks the gradients of all the optimizer's Params consumed.
func (a *Adam) ZeroGrad() {
	for _, p := range a.params {
		p.ZeroGrad()
	}
}

// AdamState is an Adam optimizer's state for a checkpoint.
type AdamState struct {
	// Steps is the number of steps taken.
	Steps int64
	// M and V are each Param's first and second moments (shape of its
	// value), keyed by Param name.
	M, V map[string]*tensor.Tensor
}

// State returns a copy of the optimizer state. Steps taken after State do
// not change it.
func (a *Adam) State() AdamState {
	st := AdamState{Steps: a.t, M: make(map[string]*tensor.Tensor, len(a.params)), V: make(map[string]*tensor.Tensor, len(a.params))}
	for i, p := range a.params {
		st.M[p.Name] = a.m[i].Clone()
		st.V[p.Name] = a.v[i].Clone()
	}
	return st
}

// LoadState restores a state saved by State, copying the values. It needs a
// non-negative step count and exactly one first and one second moment per
// Param, keyed by name and shaped like its value, with no negative second
// moment; otherwise it returns an error naming every problem and changes
// nothing.
func (a *Adam) LoadState(st AdamState) error {
	if st.Steps < 0 {
		return fmt.Errorf("optim: Adam LoadState: steps %d, want ≥ 0", st.Steps)
	}
	if err := checkState("Adam LoadState (first moments)", a.params, st.M); err != nil {
		return err
	}
	if err := checkState("Adam LoadState (second moments)", a.params, st.V); err != nil {
		return err
	}
	for _, p := range a.params {
		for _, x := range st.V[p.Name].Data() {
			if x < 0 {
				return fmt.Errorf("optim: Adam LoadState: second moment of %q holds %v, want ≥ 0", p.Name, x)
			}
		}
	}
	for i, p := range a.params {
		if !tensor.SameShape(a.m[i], p.Value) {
			a.m[i], a.v[i] = tensor.New(p.Value.Shape()...), tensor.New(p.Value.Shape()...)
		}
		a.m[i].CopyFrom(st.M[p.Name])
		a.v[i].CopyFrom(st.V[p.Name])
	}
	a.t = st.Steps
	return nil
}
