package kernels

import (
	"runtime"
	"sync/atomic"
)

// crew coordinates the helper threads of one parallel call on a machine
// that other processes share. The calling thread always does the whole job
// if it has to: work is claimed from atomic counters, so a helper that is
// slow to start (its OS thread is waiting for a core) simply finds nothing
// left. What must not happen is the caller then waiting for that helper to
// show up, which costs a scheduler time slice (milliseconds) per call. So a
// helper first enters the call; when the caller has finished its own share
// it closes the call, after which no helper may enter, and it waits only
// for the helpers that did enter (and are working).
//
// state packs the call's generation (high 32 bits; a helper's ticket must
// match it), the closed flag and the number of helpers inside.
type crew struct {
	state atomic.Uint64
	done  chan struct{} // the last helper out after close signals here
}

const (
	crewClosed = 1 << 31
	crewActive = crewClosed - 1
)

// open starts a new call and returns its ticket for the helpers.
func (c *crew) open() uint32 {
	if c.done == nil {
		c.done = make(chan struct{}, 1)
	}
	g := uint32(c.state.Load()>>32) + 1
	c.state.Store(uint64(g) << 32)
	return g
}

// enter lets a helper holding ticket gen join the call; it reports false if
// the call is over (closed, or a later call has opened).
func (c *crew) enter(gen uint32) bool {
	for {
		v := c.state.Load()
		if uint32(v>>32) != gen || v&crewClosed != 0 {
			return false
		}
		if c.state.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// leave is called by a helper that entered, when its work is done.
func (c *crew) leave() {
	if v := c.state.Add(^uint64(0)); v&(crewClosed|crewActive) == crewClosed {
		c.done <- struct{}{}
	}
}

// close bars further helpers and returns when every helper that entered has
// left: it spins briefly (most waits are a few microseconds), then blocks
// until the last one signals.
func (c *crew) close() {
	v := c.state.Add(crewClosed)
	if v&crewActive == 0 {
		return
	}
	for i := 0; i < 20000 && c.state.Load()&crewActive != 0; i++ {
	}
	<-c.done
}

// spinUntil waits for cond inside one job (threads that are all running):
// atomic polling, yielding to the scheduler only now and then.
func spinUntil(cond func() bool) {
	for spins := 0; !cond(); spins++ {
		if spins%4096 == 4095 {
			runtime.Gosched()
		}
	}
}
