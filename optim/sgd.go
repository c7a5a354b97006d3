package optim

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/tensor"
)

// SGDConfig configures an SGD optimizer. DefaultSGDConfig gives the SpineNet
// detection recipe.
type SGDConfig struct {
	// Momentum is the momentum coefficient m in accum = m·accum + g, in [0, 1).
	// 0 gives plain SGD. SpineNet uses 0.9 (spec §5.2, §7).
	Momentum float64
	// Nesterov selects Nesterov momentum: w -= lr·(g + m·accum) with the
	// updated accum (TF MomentumOptimizer use_nesterov, PyTorch nesterov).
	Nesterov bool
	// WeightDecay is the L2 coefficient wd: the loss gains wd·Σw²/2 over the
	// Params DecayFilter accepts, so their gradient gains wd·w (spec §3.7:
	// TPU's wd·tf.nn.l2_loss, TF2's Keras l2(wd/2)). 0 disables decay.
	// SpineNet detection uses 4e-5 (3e-5 for the mobile models); ImageNet 1e-4.
	WeightDecay float64
	// DecayFilter selects the Params weight decay applies to. nil means
	// DefaultDecayFilter (conv and dense kernels only). It is evaluated once,
	// in NewSGD.
	DecayFilter func(*autograd.Var) bool
	// ClipNorm, when positive, clips the gradients by their global norm like
	// TF's clip_by_global_norm: every gradient is scaled by
	// ClipNorm/max(norm, ClipNorm). The norm includes the weight-decay term,
	// because in both references the L2 term is part of the loss whose
	// gradients are clipped. 0 disables clipping. The TPU SpineNet yamls use
	// 10; the TF2 yamls clip only SpineNet-143 (spec §7).
	ClipNorm float64
}

// DefaultSGDConfig returns the SpineNet RetinaNet recipe of the TPU
// reference (spec §7): momentum 0.9 (no Nesterov), weight decay 4e-5 on
// kernels (DefaultDecayFilter) and gradient clipping at global norm 10.
func DefaultSGDConfig() SGDConfig {
	return SGDConfig{
		Momentum:    0.9,
		WeightDecay: 4e-5,
		DecayFilter: DefaultDecayFilter,
		ClipNorm:    10,
	}
}

// DefaultDecayFilter reports whether weight decay applies to v: true when the
// last '/'-separated element of v.Name is "kernel" (conv and dense weights,
// Keras naming) or "weight" (PyTorch naming). This is the TPU reference's
// regularization regex `.*(kernel|weight):0$` restricted to whole name
// elements (spec §3.7); batch-norm gamma/beta and biases are excluded.
// Unlike the regex, it does not match Keras's "depthwise_kernel": name a
// depthwise weight ".../depthwise/kernel" to have it decayed.
func DefaultDecayFilter(v *autograd.Var) bool {
	last := v.Name[strings.LastIndexByte(v.Name, '/')+1:]
	return last == "kernel" || last == "weight"
}

// SettingError reports an invalid optimizer or schedule setting, naming the
// field (recipe.ConfigError wraps it with the recipe key).
type SettingError struct {
	Field  string // the offending field, e.g. "SGDConfig.Momentum" or "params[3]"
	Reason string // what is wrong with it
}

// Error formats the error as "optim: <field>: <reason>".
func (e *SettingError) Error() string { return "optim: " + e.Field + ": " + e.Reason }

// NonFiniteError is returned by Step when a gradient (with its weight-decay
// term) or the global gradient norm is NaN or ±Inf. Step then changes
// nothing: weights, momentum and gradients are left as they were.
type NonFiniteError struct {
	// Param is the name of the first Param, in the optimizer's order, whose
	// gradient holds a NaN or an infinity. It is empty only if every
	// gradient is finite but their global norm is not, which float64
	// accumulation of float32 squares makes unreachable in practice.
	Param string
}

// Error names the parameter whose gradient is not finite.
func (e *NonFiniteError) Error() string {
	if e.Param == "" {
		return "optim: global gradient norm is not finite"
	}
	return fmt.Sprintf("optim: non-finite gradient for %q", e.Param)
}

// StepStats describes one Step.
type StepStats struct {
	// GradNorm is the global L2 norm of the gradients Step used, weight-decay
	// terms included, before clipping (what clip_by_global_norm returns).
	GradNorm float64
	// Clipped reports whether the gradients were scaled down
	// (ClipNorm > 0 and GradNorm > ClipNorm).
	Clipped bool
	// Updated is the number of Params updated: those with a fresh gradient
	// that are not frozen.
	Updated int
}

// SGD is stochastic gradient descent with momentum in TensorFlow's
// convention (tf.compat.v1.train.MomentumOptimizer, used by the TPU
// reference; PyTorch's SGD is the same with dampening 0):
//
//	accum = m·accum + g
//	w    -= lr·accum               (or lr·(g + m·accum) with Nesterov)
//
// The learning rate multiplies the accumulated gradient when it is applied,
// so a changing learning rate rescales the whole accumulated step. (Keras's
// SGD in TF2 instead folds lr into the velocity, v = m·v − lr·g; the two agree
// only while lr is constant.)
//
// An SGD keeps one float32 momentum buffer per Param. It is not safe for
// concurrent use.
type SGD struct {
	cfg    SGDConfig
	params []*autograd.Var
	accum  []*tensor.Tensor // momentum buffer per param, Value's shape
	decay  []bool           // DecayFilter's verdict per param
}

// NewSGD returns an optimizer for params. Every element must be a distinct,
// non-nil Param (made by autograd.NewParam) with a distinct, non-empty name:
// the name keys the optimizer state and selects weight decay. It returns a
// *SettingError naming the field or the parameter when cfg or params are
// invalid.
func NewSGD(params []*autograd.Var, cfg SGDConfig) (*SGD, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.DecayFilter == nil {
		cfg.DecayFilter = DefaultDecayFilter
	}
	s := &SGD{
		cfg:    cfg,
		params: append([]*autograd.Var(nil), params...),
		accum:  make([]*tensor.Tensor, len(params)),
		decay:  make([]bool, len(params)),
	}
	if err := checkParams(params); err != nil {
		return nil, err
	}
	for i, p := range params {
		s.accum[i] = tensor.New(p.Value.Shape()...)
		s.decay[i] = cfg.WeightDecay > 0 && cfg.DecayFilter(p)
	}
	return s, nil
}

// checkParams checks that every element of params is a distinct, non-nil
// Param with a value and a distinct, non-empty name.
func checkParams(params []*autograd.Var) error {
	seen := make(map[*autograd.Var]int, len(params))
	names := make(map[string]int, len(params))
	for i, p := range params {
		field := fmt.Sprintf("params[%d]", i)
		switch {
		case p == nil:
			return &SettingError{field, "nil"}
		case !p.IsParam():
			return &SettingError{field, fmt.Sprintf("%q is not a Param (autograd.NewParam)", p.Name)}
		case p.Name == "":
			return &SettingError{field, "Param has no name (names key the optimizer state)"}
		case p.Value == nil:
			return &SettingError{field, fmt.Sprintf("%q has no value", p.Name)}
		}
		if j, dup := seen[p]; dup {
			return &SettingError{field, fmt.Sprintf("%q is the same Param as params[%d]", p.Name, j)}
		}
		if j, dup := names[p.Name]; dup {
			return &SettingError{field, fmt.Sprintf("name %q is also the name of params[%d]", p.Name, j)}
		}
		seen[p], names[p.Name] = i, i
	}
	return nil
}

func (c *SGDConfig) validate() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) || v < 0 }
	switch {
	case bad(c.Momentum) || c.Momentum >= 1:
		return &SettingError{"SGDConfig.Momentum", fmt.Sprintf("%v is not in [0, 1)", c.Momentum)}
	case bad(c.WeightDecay):
		return &SettingError{"SGDConfig.WeightDecay", fmt.Sprintf("%v is not a finite non-negative number", c.WeightDecay)}
	case bad(c.ClipNorm):
		return &SettingError{"SGDConfig.ClipNorm", fmt.Sprintf("%v is not a finite non-negative number (0 disables clipping)", c.ClipNorm)}
	}
	return nil
}

// Config returns the configuration the optimizer was made with (DecayFilter
// resolved to the filter in use).
func (s *SGD) Config() SGDConfig { return s.cfg }

// Params returns the Params the optimizer updates, in its order. The slice
// must not be modified.
func (s *SGD) Params() []*autograd.Var { return s.params }

// Decays reports whether weight decay applies to p (false for a Param the
// optimizer does not hold).
func (s *SGD) Decays(p *autograd.Var) bool {
	for i, q := range s.params {
		if q == p {
			return s.decay[i]
		}
	}
	return false
}

// active reports whether Step updates p now.
func active(p *autograd.Var) bool { return p.RequiresGrad() && p.HasGrad() }

// Step applies one update with learning rate lr to every Param that has a
// fresh gradient (HasGrad) and is not frozen (RequiresGrad); others are left
// alone. In order, it
//
//  1. adds the weight-decay gradient wd·w to the gradients of the Params
//     DecayFilter accepted (g' = g + wd·w; the Grad buffers are not written);
//  2. computes the global norm of all g' and, if ClipNorm > 0 and the norm
//     exceeds it, scales every g' by ClipNorm/norm;
//  3. updates accum and w (see SGD);
//  4. marks every held Param's gradient consumed (ZeroGrad), frozen ones
//     included, so the next Backward overwrites rather than accumulates.
//
// If any g' or the global norm is NaN or ±Inf, Step returns a
// *NonFiniteError before changing anything (weights, momentum, gradients);
// the caller may report the step and call ZeroGrad to drop the batch. It
// also returns an error, changing nothing, for an lr that is negative or not
// finite and for a Param whose value or gradient changed shape.
//
// Step allocates nothing unless it returns an error.
func (s *SGD) Step(lr float64) (StepStats, error) {
	var st StepStats
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return st, fmt.Errorf("optim: learning rate %v is not a finite non-negative number", lr)
	}
	wd := float32(s.cfg.WeightDecay)

	// Pass 1: check shapes and finiteness, accumulate Σ g'² in float64. A NaN
	// or Inf anywhere in g' makes its parameter's sum NaN or +Inf (squares
	// cannot cancel), and finite float32 squares cannot overflow a float64
	// sum, so the per-Param sum is the finiteness check.
	var sumSq float64
	for i, p := range s.params {
		if !active(p) {
			continue
		}
		if !tensor.SameShape(p.Grad, p.Value) || !tensor.SameShape(s.accum[i], p.Value) {
			return StepStats{}, fmt.Errorf("optim: Param %q has value %v, gradient %v and momentum %v: shapes changed since NewSGD",
				p.Name, p.Value.Shape(), p.Grad.Shape(), s.accum[i].Shape())
		}
		var ss float64
		g := p.Grad.Data()
		if s.decay[i] {
			w := p.Value.Data()[:len(g)]
			for j, gj := range g {
				gj += wd * w[j]
				ss += float64(gj) * float64(gj)
			}
		} else {
			for _, gj := range g {
				ss += float64(gj) * float64(gj)
			}
		}
		if math.IsNaN(ss) || math.IsInf(ss, 0) {
			return StepStats{}, &NonFiniteError{Param: p.Name}
		}
		sumSq += ss
		st.Updated++
	}
	st.GradNorm = math.Sqrt(sumSq)
	if math.IsNaN(st.GradNorm) || math.IsInf(st.GradNorm, 0) {
		return StepStats{}, &NonFiniteError{}
	}

	// Clipping factor (tf.clip_by_global_norm).
	scale := float32(1)
	if c := s.cfg.ClipNorm; c > 0 && st.GradNorm > c {
		scale = float32(c / st.GradNorm)
		st.Clipped = true
	}

	// Pass 2: the update, in float32 like TF's ApplyMomentum kernel.
	m, lr32 := float32(s.cfg.Momentum), float32(lr)
	for i, p := range s.params {
		if !active(p) {
			if p.HasGrad() {
				p.ZeroGrad() // frozen after its Backward: drop the gradient
			}
			continue
		}
		var wdi float32 // wd for decayed Params
		if s.decay[i] {
			wdi = wd
		}
		update(p.Value.Data(), p.Grad.Data(), s.accum[i].Data(), wdi, scale, m, lr32, s.cfg.Nesterov)
		p.ZeroGrad()
	}
	return st, nil
}

// update applies one momentum step to weights w with gradient g and
// momentum buffer a (equal lengths): g' = (g + wd·w)·scale (the wd term only
// when wd != 0), a = m·a + g', w -= lr·a or, with nesterov, w -= lr·g' +
// lr·m·a (the order of TF's ApplyMomentum kernel).
func update(w, g, a []float32, wd, scale, m, lr float32, nesterov bool) {
	w, a = w[:len(g)], a[:len(g)]
	switch {
	case wd != 0 && !nesterov:
		for j, gj := range g {
			gj = (gj + wd*w[j]) * scale
			a[j] = a[j]*m + gj
			w[j] -= a[j] * lr
		}
	case wd == 0 && !nesterov:
		for j, gj := range g {
			gj *= scale
			a[j] = a[j]*m + gj
			w[j] -= a[j] * lr
		}
	case wd != 0 && nesterov:
		for j, gj := range g {
			gj = (gj + wd*w[j]) * scale
			a[j] = a[j]*m + gj
			w[j] -= gj*lr + a[j]*m*lr
		}
	default:
		for j, gj := range g {
			gj *= scale
			a[j] = a[j]*m + gj
			w[j] -= gj*lr + a[j]*m*lr
		}
	}
}

// ZeroGrad marks the gradients of all the optimizer's Params consumed, e.g.
// to drop a batch whose Step returned a *NonFiniteError.
func (s *SGD) ZeroGrad() {
	for _, p := range s.params {
		p.ZeroGrad()
	}
}

// State returns a copy of the optimizer state for a checkpoint: each Param's
// momentum buffer (shape of its value), keyed by Param name. Steps taken
// after State do not change the returned tensors.
func (s *SGD) State() map[string]*tensor.Tensor {
	st := make(map[string]*tensor.Tensor, len(s.params))
	for i, p := range s.params {
		st[p.Name] = s.accum[i].Clone()
	}
	return st
}

// LoadState restores momentum buffers saved by State, copying the values. It
// needs exactly one entry per Param, keyed by name and shaped like the
// Param's value; otherwise it returns an error naming every missing,
// mis-shaped or unknown entry (sorted) and changes nothing.
func (s *SGD) LoadState(state map[string]*tensor.Tensor) error {
	if err := checkState("LoadState", s.params, state); err != nil {
		return err
	}
	for i, p := range s.params {
		if !tensor.SameShape(s.accum[i], p.Value) {
			s.accum[i] = tensor.New(p.Value.Shape()...)
		}
		s.accum[i].CopyFrom(state[p.Name])
	}
	return nil
}

// checkState reports every entry of state, one per Param keyed by name and
// shaped like its value, that is missing, nil, mis-shaped, not finite or
// matches no Param (sorted, in one error), or nil when there is none.
func checkState(op string, params []*autograd.Var, state map[string]*tensor.Tensor) error {
	var problems []string
	matched := 0
	for _, p := range params {
		t, ok := state[p.Name]
		if ok {
			matched++
		}
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%q missing", p.Name))
		case t == nil:
			problems = append(problems, fmt.Sprintf("%q is nil", p.Name))
		case !tensor.EqualShapes(t.Shape(), p.Value.Shape()):
			problems = append(problems, fmt.Sprintf("%q has shape %v, want %v", p.Name, t.Shape(), p.Value.Shape()))
		case !tensor.AllFinite(t):
			problems = append(problems, fmt.Sprintf("%q holds NaN or Inf", p.Name))
		}
	}
	if len(state) > matched {
		names := make(map[string]bool, len(params))
		for _, p := range params {
			names[p.Name] = true
		}
		for k := range state {
			if !names[k] {
				problems = append(problems, fmt.Sprintf("%q matches no Param", k))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("optim: %s: %s", op, strings.Join(problems, "; "))
	}
	return nil
}

// GlobalNorm returns sqrt(Σ‖grad‖²) over the params that have a fresh
// gradient and are not frozen, accumulated in float64: the norm
// tf.clip_by_global_norm computes. It sees the raw gradients only (no
// weight-decay term; Step's StepStats.GradNorm includes it). The result is
// NaN or +Inf if a gradient holds NaN or Inf.
func GlobalNorm(params []*autograd.Var) float64 {
	var s float64
	for _, p := range params {
		if p != nil && active(p) {
			s += tensor.SumSquares(p.Grad)
		}
	}
	return math.Sqrt(s)
}
