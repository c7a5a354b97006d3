package infer

import (
	"context"
	"fmt"
	"time"

	"github.com/spinenet-go/spinenet/kernels"
	"github.com/spinenet-go/spinenet/tensor"
)

// stepKind is the kind of a compiled step, an index into stepKinds.
type stepKind uint8

const (
	stepConv          stepKind = iota // (depthwise) conv with folded BN and fused epilogue
	stepDense                         // dense with bias/act epilogue
	stepAffine                        // standalone batch norm: y = x·scale + shift per channel
	stepAct                           // standalone activation
	stepAdd                           // sum of inputs
	stepMaxPool                       // max-pool
	stepResize                        // nearest resize to a level's size
	stepGlobalAvgPool                 // spatial mean
	stepScaleChannels                 // SE gate
	stepScale                         // constant factor
	stepDepthToSpace                  // block-2 depth to space with bias or folded BN and activation
)

// stepRun computes step i (st) into y from its main input x; it returns
// the name of the kernel used, for profiles.
type stepRun func(r *runState, i int, st *step, x, y *tensor.Tensor) string

// stepKinds defines how every step kind runs.
var stepKinds = [...]stepRun{
	stepConv: func(r *runState, i int, st *step, x, y *tensor.Tensor) string {
		cp := r.plan.params[i]
		ep := &kernels.Epilogue{Bias: st.bias, Act: st.act}
		if st.residual != -1 {
			ep.Residual, ep.LdResidual = r.val(st.residual).Data(), cp.OC
		}
		e := r.dev.Exec()
		switch {
		case st.depthwise:
			e.DepthwiseConv2D(cp, x.Data(), st.weights, y.Data(), ep)
			return "depthwise"
		case st.wino != nil && kernels.WinogradFaster(cp):
			e.Conv2DWinogradPre(cp, x.Data(), st.wino, y.Data(), ep)
			return "winograd"
		case st.packed != nil:
			e.Conv2DPre(cp, x.Data(), st.packed, y.Data(), ep)
		default:
			e.Conv2D(cp, x.Data(), st.weights, y.Data(), ep)
		}
		return "conv"
	},
	stepDense: func(r *runState, _ int, st *step, x, y *tensor.Tensor) string {
		in, out := x.Dim(-1), y.Dim(-1)
		rows := x.Len() / in
		r.dev.Exec().GemmEx(rows, out, in, kernels.Matrix{Data: x.Data(), Stride: in}, kernels.Matrix{Data: st.weights, Stride: out},
			y.Data(), out, false, &kernels.Epilogue{Bias: st.bias, Act: st.act})
		return "dense"
	},
	stepAffine: func(_ *runState, _ int, st *step, x, y *tensor.Tensor) string {
		c := len(st.scale)
		xd, yd := x.Data(), y.Data()
		for j := range yd {
			yd[j] = xd[j]*st.scale[j%c] + st.shift[j%c]
		}
		return "affine"
	},
	stepAct: func(_ *runState, _ int, st *step, x, y *tensor.Tensor) string {
		tensor.Activate(y, x, st.act)
		return "act"
	},
	stepAdd: func(r *runState, _ int, st *step, x, y *tensor.Tensor) string {
		if x != y {
			y.CopyFrom(x)
		}
		for _, id := range st.in[1:] {
			tensor.AddInto(y, r.val(id))
		}
		kernels.ApplyActivation(st.act, y.Data())
		return "add"
	},
	stepMaxPool: func(r *runState, i int, _ *step, x, y *tensor.Tensor) string {
		r.dev.MaxPool2D(y, x, r.plan.params[i], nil)
		return "maxpool"
	},
	stepResize: func(r *runState, _ int, _ *step, x, y *tensor.Tensor) string {
		if tensor.SameShape(x, y) {
			y.CopyFrom(x)
		} else {
			r.dev.UpsampleNearest(y, x)
		}
		return "resize"
	},
	stepGlobalAvgPool: func(r *runState, _ int, _ *step, x, y *tensor.Tensor) string {
		r.dev.GlobalAvgPool(y, x)
		return "global_avg_pool"
	},
	stepScaleChannels: func(r *runState, _ int, st *step, x, y *tensor.Tensor) string {
		tensor.ScaleChannels(y, x, r.val(st.in[1]))
		return "scale_channels"
	},
	stepScale: func(_ *runState, _ int, st *step, x, y *tensor.Tensor) string {
		tensor.Scale(y, st.factor, x)
		return "scale"
	},
	stepDepthToSpace: func(r *runState, _ int, st *step, x, y *tensor.Tensor) string {
		r.dev.DepthToSpace(y, x, 2)
		yd, c := y.Data(), y.Dim(-1)
		if st.scale != nil && c > 0 {
			for j := 0; j < len(yd); j += c {
				px := yd[j : j+c]
				for k := range px {
					px[k] = px[k]*st.scale[k] + st.shift[k]
				}
			}
			kernels.ApplyActivation(st.act, yd)
		} else {
			kernels.EpilogueRows(st.act, yd, c, len(yd)/max(c, 1), c, st.bias, nil, 0)
		}
		return "depth_to_space"
	},
}

// Arena is one caller's activation memory for a Program: a buffer per plan
// slot and a view per value, per input shape seen. It holds no weights.
// An Arena is not safe for concurrent use; give each goroutine its own
// (Program.NewArena), or keep them in a pool. Each arena runs on its own
// device (SetDevice), so callers sharing one Program choose their thread
// budgets independently.
type Arena struct {
	prog  *Program
	dev   tensor.CPU
	state map[[3]int]*runState
}

// runState is an arena's buffers for one plan.
type runState struct {
	plan  *plan
	dev   tensor.CPU             // the arena's device, during a run
	bufs  []*tensor.Tensor       // one per plan slot
	views map[int]*tensor.Tensor // value ID → tensor over its slot
}

func (r *runState) val(id int) *tensor.Tensor { return r.views[id] }

// NewArena returns an empty arena for p, on the device of p's Options;
// buffers are allocated on the first run at each input shape.
func (m *Program) NewArena() *Arena {
	return &Arena{prog: m, dev: m.opt.Device, state: map[[3]int]*runState{}}
}

// SetDevice makes the arena's runs execute on d. Results do not depend on
// the device's thread count.
func (a *Arena) SetDevice(d tensor.CPU) { a.dev = d }

// Device returns the device the arena runs on.
func (a *Arena) Device() tensor.CPU { return a.dev }

// Bytes returns the memory the arena's buffers take, over every input
// shape it has run.
func (a *Arena) Bytes() int {
	n := 0
	for _, r := range a.state {
		for _, b := range r.bufs {
			n += 4 * b.Len()
		}
	}
	return n
}

// stateFor returns the arena's buffers for input [n,h,w], allocating them
// on first use.
func (a *Arena) stateFor(n, h, w int) (*runState, error) {
	key := [3]int{n, h, w}
	if r, ok := a.state[key]; ok {
		return r, nil
	}
	p, err := a.prog.planFor(n, h, w)
	if err != nil {
		return nil, err
	}
	r := &runState{plan: p, views: make(map[int]*tensor.Tensor, len(p.slot)+1)}
	for _, size := range p.slotSizes {
		r.bufs = append(r.bufs, tensor.New(size))
	}
	for id, sl := range p.slot {
		shape := p.shapeOf(id)
		t, err := tensor.FromSlice(r.bufs[sl].Data()[:sizeOf(shape)], shape...)
		if err != nil {
			return nil, fmt.Errorf("infer: internal: %w", err)
		}
		r.views[id] = t
	}
	a.state[key] = r
	return r, nil
}

// Run computes the graph's outputs for x [N,H,W,C]. The returned tensors
// are views of the arena, valid until its next run.
func (a *Arena) Run(x *tensor.Tensor) ([]*tensor.Tensor, error) { return a.run(nil, x, nil) }

// RunContext is Run that stops between steps, returning ctx.Err(), once
// ctx is done.
func (a *Arena) RunContext(ctx context.Context, x *tensor.Tensor) ([]*tensor.Tensor, error) {
	return a.run(ctx, x, nil)
}

// StepTime is the time one compiled step took in RunProfiled.
type StepTime struct {
	Name string // the graph node the step starts at
	Kind string // conv, winograd, depthwise, dense, add, maxpool, resize, …
	MACs int64  // multiply-adds of convolutions and dense layers
	Time time.Duration
}

// RunProfiled is Run that also times every step.
func (a *Arena) RunProfiled(x *tensor.Tensor) ([]*tensor.Tensor, []StepTime, error) {
	times := make([]StepTime, len(a.prog.steps))
	outs, err := a.run(nil, x, times)
	return outs, times, err
}

func (a *Arena) run(ctx context.Context, x *tensor.Tensor, times []StepTime) ([]*tensor.Tensor, error) {
	m := a.prog
	in := m.g.Nodes[m.g.Inputs[0]]
	if x.Rank() != 4 || x.Dim(3) != in.Channels {
		return nil, &tensor.ShapeError{Op: "infer.Run", Msg: fmt.Sprintf("input %v, want [N,H,W,%d]", x.Shape(), in.Channels)}
	}
	r, err := a.stateFor(x.Dim(0), x.Dim(1), x.Dim(2))
	if err != nil {
		return nil, err
	}
	r.views[m.g.Inputs[0]] = x
	r.dev = a.dev
	var t0 time.Time
	for i := range m.steps {
		if ctx != nil {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		st := &m.steps[i]
		if times != nil {
			t0 = time.Now()
		}
		kind := stepKinds[st.kind](r, i, st, r.val(st.in[0]), r.val(st.out))
		if times != nil {
			times[i] = StepTime{Name: st.name, Kind: kind, MACs: r.plan.macs[i], Time: time.Since(t0)}
		}
	}
	outs := make([]*tensor.Tensor, len(m.outputs))
	for i, o := range m.outputs {
		outs[i] = r.val(o)
	}
	return outs, nil
}
