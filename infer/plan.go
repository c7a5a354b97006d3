package infer

import (
	"slices"

	"github.com/spinenet-go/spinenet/kernels"
	"github.com/spinenet-go/spinenet/tensor"
)

// plan is the buffer assignment for one input shape: which arena slot each
// value lives in and the resolved parameters of every step. It holds no
// buffers and is read-only once built, so every Arena shares it.
type plan struct {
	n, h, w   int
	shapes    map[int][]int        // value ID → shape
	slot      map[int]int          // value ID → arena slot
	slotSizes []int                // floats per slot
	params    []kernels.ConvParams // per step (conv and pool steps)
	macs      []int64              // per step: multiply-adds of conv and dense steps
}

// shapeOf returns the shape of a value; temporary IDs −(c+1) take node c's.
func (p *plan) shapeOf(id int) []int {
	if id < 0 {
		return p.shapes[-id-1]
	}
	return p.shapes[id]
}

// bytes is the memory an arena needs for the plan.
func (p *plan) bytes() int {
	n := 0
	for _, s := range p.slotSizes {
		n += s
	}
	return 4 * n
}

// planFor returns the plan for input [n,h,w,c], building it on first use.
// Safe for concurrent use.
func (m *Program) planFor(n, h, w int) (*plan, error) {
	key := [3]int{n, h, w}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.plans[key]; ok {
		return p, nil
	}
	p, err := m.newPlan(n, h, w)
	if err != nil {
		return nil, err
	}
	m.plans[key] = p
	return p, nil
}

func (m *Program) newPlan(n, h, w int) (*plan, error) {
	acc, err := m.g.Account(h, w)
	if err != nil {
		return nil, err
	}
	p := &plan{n: n, h: h, w: w, shapes: map[int][]int{}, slot: map[int]int{}}
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
		size := sizeOf(shape)
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
		p.slotSizes = append(p.slotSizes, s.size)
	}
	return p, nil
}

func sizeOf(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// ArenaBytes returns the memory an Arena needs for an n×h×w input: the
// intermediate values only (the weights are the Program's), planning the
// shape if needed.
func (m *Program) ArenaBytes(n, h, w int) (int, error) {
	p, err := m.planFor(n, h, w)
	if err != nil {
		return 0, err
	}
	return p.bytes(), nil
}
