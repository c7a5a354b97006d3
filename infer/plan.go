package infer

import (
	"fmt"
	"slices"
	"time"

	"github.com/spinenet-go/spinenet/kernels"
	"github.com/spinenet-go/spinenet/tensor"
)

// plan is the buffer assignment for one input shape.
type plan struct {
	n, h, w int
	shapes  map[int][]int          // value ID → shape
	slot    map[int]int            // value ID → arena slot
	bufs    []*tensor.Tensor       // arena slots
	views   map[int]*tensor.Tensor // value ID → tensor over its slot
	params  []kernels.ConvParams   // per step (conv and pool steps)
	macs    []int64                // per step: multiply-adds of conv and dense steps
}

// shapeOf returns the shape of a value; temporary IDs −(c+1) take node c's.
func (p *plan) shapeOf(id int) []int {
	if id < 0 {
		return p.shapes[-id-1]
	}
	return p.shapes[id]
}

// planFor builds (or returns the cached) plan for input [n,h,w,c].
func (m *Model) planFor(n, h, w int) (*plan, error) {
	key := [3]int{n, h, w}
	if p, ok := m.plans[key]; ok {
		return p, nil
	}
	acc, err := m.g.Account(h, w)
	if err != nil {
		return nil, err
	}
	p := &plan{n: n, h: h, w: w, shapes: map[int][]int{}, slot: map[int]int{}, views: map[int]*tensor.Tensor{}}
	for id, c := range acc.Nodes {
		s := slices.Clone(c.Shape)
		s[0] = n
		p.shapes[id] = s
	}
	// Last reader of every value (outputs live to the end).
	last := map[int]int{}
	for i, st := range m.steps {
		for _, v := range st.in {
			last[v] = i
		}
		if st.residual != -1 {
			last[st.residual] = i
		}
	}
	for _, o := range m.outputs {
		last[o] = len(m.steps)
	}
	// Greedy slot assignment: a slot is free once its value's last reader
	// has run; slots are reused by exact element count, best fit otherwise.
	type slotInfo struct {
		size int
		free bool
	}
	var slots []slotInfo
	var releaseAt = map[int][]int{} // step index → slots to free after it
	p.params = make([]kernels.ConvParams, len(m.steps))
	p.macs = make([]int64, len(m.steps))
	for i, st := range m.steps {
		shape := p.shapeOf(st.out)
		size := 1
		for _, d := range shape {
			size *= d
		}
		best := -1
		for j, s := range slots {
			if s.free && s.size >= size && (best < 0 || s.size < slots[best].size) {
				best = j
			}
		}
		if best < 0 {
			slots = append(slots, slotInfo{size: size})
			best = len(slots) - 1
		}
		slots[best].free = false
		p.slot[st.out] = best
		if l, ok := last[st.out]; ok {
			releaseAt[l] = append(releaseAt[l], best)
		} else {
			releaseAt[i] = append(releaseAt[i], best) // never read: free at once
		}
		for _, s := range releaseAt[i] {
			slots[s].free = true
		}
		// conv and pool parameters
		inShape := p.shapeOf(st.in[0])
		switch st.kind {
		case stepConv:
			oc := shape[3]
			cp := kernels.ConvParams{N: inShape[0], H: inShape[1], W: inShape[2], C: inShape[3], KH: st.kh, KW: st.kw, OC: oc, StrideH: st.stride, StrideW: st.stride}
			cp.PadTop, cp.PadBottom, cp.PadLeft, cp.PadRight = st.pad.Resolve(cp.H, cp.W, st.kh, st.kw, st.stride, st.stride)
			p.params[i] = cp
			per := int64(cp.KH * cp.KW * cp.C)
			if !st.depthwise {
				per *= int64(cp.OC)
			}
			p.macs[i] = int64(cp.N*cp.OutH()*cp.OutW()) * per
		case stepDense:
			p.macs[i] = int64(sizeOf(inShape)) * int64(shape[len(shape)-1])
		case stepMaxPool:
			cp, err := tensor.PoolParams(inShape, st.pool.K, st.pool.Stride, st.pool.Pad)
			if err != nil {
				return nil, err
			}
			p.params[i] = cp
		}
	}
	for _, s := range slots {
		p.bufs = append(p.bufs, tensor.New(s.size))
	}
	for id, sl := range p.slot {
		shape := p.shapeOf(id)
		t, err := tensor.FromSlice(p.bufs[sl].Data()[:sizeOf(shape)], shape...)
		if err != nil {
			return nil, fmt.Errorf("infer: internal: %w", err)
		}
		p.views[id] = t
	}
	m.plans[key] = p
	return p, nil
}

func sizeOf(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// ArenaBytes returns the memory the plan for an n×h×w input uses for
// intermediate values, planning it if needed.
func (m *Model) ArenaBytes(n, h, w int) (int, error) {
	p, err := m.planFor(n, h, w)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, b := range p.bufs {
		total += 4 * b.Len()
	}
	return total, nil
}

// Run computes the graph's outputs for x [N,H,W,C]. The returned tensors
// are views of the model's arena, valid until the next Run. A Model is not
// safe for concurrent use.
func (m *Model) Run(x *tensor.Tensor) ([]*tensor.Tensor, error) { return m.run(x, nil) }

// StepTime is the time one compiled step took in RunProfiled.
type StepTime struct {
	Name string // the graph node the step starts at
	Kind string // conv, winograd, depthwise, dense, add, maxpool, resize, …
	MACs int64  // multiply-adds of convolutions and dense layers
	Time time.Duration
}

// RunProfiled is Run that also times every step.
func (m *Model) RunProfiled(x *tensor.Tensor) ([]*tensor.Tensor, []StepTime, error) {
	times := make([]StepTime, len(m.steps))
	outs, err := m.run(x, times)
	return outs, times, err
}

func (m *Model) run(x *tensor.Tensor, times []StepTime) ([]*tensor.Tensor, error) {
	in := m.g.Nodes[m.g.Inputs[0]]
	if x.Rank() != 4 || x.Dim(3) != in.Channels {
		return nil, &tensor.ShapeError{Op: "infer.Run", Msg: fmt.Sprintf("input %v, want [N,H,W,%d]", x.Shape(), in.Channels)}
	}
	p, err := m.planFor(x.Dim(0), x.Dim(1), x.Dim(2))
	if err != nil {
		return nil, err
	}
	p.views[m.g.Inputs[0]] = x
	val := func(id int) *tensor.Tensor { return p.views[id] }
	var t0 time.Time
	for i := range m.steps {
		st := &m.steps[i]
		y := val(st.out)
		x := val(st.in[0])
		if times != nil {
			t0 = time.Now()
		}
		kind := stepNames[st.kind]
		switch st.kind {
		case stepConv:
			cp := p.params[i]
			ep := &kernels.Epilogue{Bias: st.bias, Act: st.act}
			if st.residual != -1 {
				ep.Residual, ep.LdResidual = val(st.residual).Data(), cp.OC
			}
			switch {
			case st.depthwise:
				kind = "depthwise"
				kernels.DepthwiseConv2D(cp, x.Data(), st.weights, y.Data(), ep)
			case st.wino != nil && kernels.WinogradFaster(cp):
				kind = "winograd"
				kernels.Conv2DWinogradPre(cp, x.Data(), st.wino, y.Data(), ep)
			case st.packed != nil:
				kernels.Conv2DPre(cp, x.Data(), st.packed, y.Data(), ep)
			default:
				kernels.Conv2D(cp, x.Data(), st.weights, y.Data(), ep)
			}
		case stepDense:
			in, out := x.Dim(-1), y.Dim(-1)
			rows := x.Len() / in
			kernels.GemmEx(rows, out, in, kernels.Matrix{Data: x.Data(), Stride: in}, kernels.Matrix{Data: st.weights, Stride: out},
				y.Data(), out, false, &kernels.Epilogue{Bias: st.bias, Act: st.act})
		case stepAffine:
			c := len(st.scale)
			xd, yd := x.Data(), y.Data()
			for j := range yd {
				yd[j] = xd[j]*st.scale[j%c] + st.shift[j%c]
			}
		case stepAct:
			tensor.Activate(y, x, st.act)
		case stepAdd:
			if x != y {
				y.CopyFrom(x)
			}
			for _, id := range st.in[1:] {
				tensor.AddInto(y, val(id))
			}
			kernels.ApplyActivation(st.act, y.Data())
		case stepMaxPool:
			tensor.MaxPool2D(y, x, p.params[i], nil)
		case stepResize:
			if tensor.SameShape(x, y) {
				y.CopyFrom(x)
			} else {
				tensor.UpsampleNearest(y, x)
			}
		case stepGlobalAvgPool:
			tensor.GlobalAvgPool(y, x)
		case stepScaleChannels:
			tensor.ScaleChannels(y, x, val(st.in[1]))
		case stepScale:
			tensor.Scale(y, st.factor, x)
		}
		if times != nil {
			times[i] = StepTime{Name: st.name, Kind: kind, MACs: p.macs[i], Time: time.Since(t0)}
		}
	}
	outs := make([]*tensor.Tensor, len(m.outputs))
	for i, o := range m.outputs {
		outs[i] = val(o)
	}
	return outs, nil
}
