package tensor

import (
	"fmt"
	"slices"
)

// Pool recycles tensor buffers between steps of a training or inference loop.
//
// Get hands out tensors; Release returns every tensor handed out since the
// previous Release to free lists keyed by element count. A loop that asks for
// the same shapes each step therefore allocates nothing after the first step.
// Tensors obtained from Get must not be used after the Release that follows.
// A Pool is not safe for concurrent use.
type Pool struct {
	free      map[int][]*Tensor
	live      []*Tensor
	views     []*Tensor
	freeViews []*Tensor
}

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{free: make(map[int][]*Tensor)} }

// Get returns a tensor of the given shape whose contents are undefined.
func (p *Pool) Get(shape ...int) *Tensor {
	n := checkedSize("Pool.Get", shape)
	var t *Tensor
	if l := p.free[n]; len(l) > 0 {
		t = l[len(l)-1]
		p.free[n] = l[:len(l)-1]
		t.shape = append(t.shape[:0], shape...)
	} else {
		t = &Tensor{shape: append(make([]int, 0, 4), shape...), data: make([]float32, n)}
	}
	p.live = append(p.live, t)
	return t
}

// GetZeroed is Get followed by Zero.
func (p *Pool) GetZeroed(shape ...int) *Tensor {
	t := p.Get(shape...)
	t.Zero()
	return t
}

// GetLike returns a tensor shaped like t with undefined contents.
func (p *Pool) GetLike(t *Tensor) *Tensor { return p.Get(t.shape...) }

// View returns a pooled tensor header sharing t's storage with a new shape
// (which must hold the same number of elements). The header is recycled at
// Release; the storage stays t's.
func (p *Pool) View(t *Tensor, shape ...int) *Tensor {
	n := checkedSize("Pool.View", shape)
	if n != len(t.data) {
		panic(&ShapeError{Op: "Pool.View", Msg: fmt.Sprintf("cannot view %v as %v", t.shape, slices.Clone(shape))})
	}
	var v *Tensor
	if k := len(p.freeViews); k > 0 {
		v = p.freeViews[k-1]
		p.freeViews = p.freeViews[:k-1]
		v.shape = append(v.shape[:0], shape...)
	} else {
		v = &Tensor{shape: append(make([]int, 0, 4), shape...)}
	}
	v.data = t.data
	p.views = append(p.views, v)
	return v
}

// Release makes every tensor handed out since the last Release available again.
func (p *Pool) Release() {
	for i, t := range p.live {
		p.free[len(t.data)] = append(p.free[len(t.data)], t)
		p.live[i] = nil
	}
	p.live = p.live[:0]
	for i, v := range p.views {
		v.data = nil
		p.freeViews = append(p.freeViews, v)
		p.views[i] = nil
	}
	p.views = p.views[:0]
}
