package kernels

import (
	"runtime"
	"sync/atomic"
)

// joinCounter lets the thread that ran its own share of a job wait for the
// worker goroutines: it spins briefly on the counter (most waits are a few
// microseconds), then blocks on a channel that the last worker to finish
// signals. Spinning only on runtime.Gosched hammers the scheduler's lock
// when the machine is busy, and blocking at once adds wake-up latency to
// every small GEMM.
type joinCounter struct {
	pending atomic.Int32
	done    chan struct{}
}

// start arms the counter for n workers.
func (c *joinCounter) start(n int) {
	if c.done == nil {
		c.done = make(chan struct{}, 1)
	}
	c.pending.Store(int32(n))
}

// finish is called by each worker when its share is done.
func (c *joinCounter) finish() {
	if c.pending.Add(-1) == 0 {
		c.done <- struct{}{}
	}
}

// wait returns when every worker has called finish; with no workers it
// returns at once.
func (c *joinCounter) wait(workers int) {
	if workers == 0 {
		return
	}
	for i := 0; i < 20000 && c.pending.Load() != 0; i++ {
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
