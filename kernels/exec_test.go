package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// execWork is a set of kernel calls covering every parallel path (GEMM,
// im2col, the strided backward scatter, Winograd, depthwise, pooling); run
// fills its outputs, which depend only on the inputs.
type execWork struct {
	conv, wino, dwp, pool ConvParams
	x, cw, ww, dww, dy    []float32
	out                   [][]float32
}

func newExecWork(seed uint64) *execWork {
	r := rand.New(rand.NewPCG(seed, 7))
	const n, h, w, c = 2, 29, 27, 32
	s := &execWork{
		conv: ConvParams{N: n, H: h, W: w, C: c, KH: 3, KW: 3, OC: 40, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1},
		wino: cvSame(n, h, w, c, 3, 1, 24),
		dwp:  cvSame(n, h, w, c, 5, 1, c),
		pool: ConvParams{N: n, H: h, W: w, C: c, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1},
	}
	s.x = winoRand(r, n*h*w*c)
	s.cw = winoRand(r, 9*c*s.conv.OC)
	s.ww = winoRand(r, 9*c*s.wino.OC)
	s.dww = winoRand(r, 25*c)
	s.dy = winoRand(r, n*h*w*c)
	return s
}

func (s *execWork) run(e *Exec) [][]float32 {
	conv, wino, dwp, pool := s.conv, s.wino, s.dwp, s.pool
	cy := make([]float32, conv.N*conv.OutH()*conv.OutW()*conv.OC)
	e.Conv2D(conv, s.x, s.cw, cy, nil)
	cdx := make([]float32, len(s.x))
	e.Conv2DBackwardData(conv, cy, s.cw, cdx, false)
	cdw := make([]float32, len(s.cw))
	e.Conv2DBackwardFilter(conv, s.x, cy, cdw, false)
	wy := make([]float32, wino.N*wino.H*wino.W*wino.OC)
	e.Conv2D(wino, s.x, s.ww, wy, &Epilogue{Act: ActSwish})
	wdx := make([]float32, len(s.x))
	e.Conv2DBackwardData(wino, wy, s.ww, wdx, false)
	gm := make([]float32, 300*200)
	e.Sgemm(false, true, 300, 200, 150, 1, s.x[:300*150], 150, s.dy[:200*150], 150, 0, gm, 200)
	dy := make([]float32, len(s.x))
	e.DepthwiseConv2D(dwp, s.x, s.dww, dy, nil)
	ddx := make([]float32, len(s.x))
	e.DepthwiseConv2DBackwardData(dwp, s.dy, s.dww, ddx, false)
	ddw := make([]float32, len(s.dww))
	e.DepthwiseConv2DBackwardFilter(dwp, s.x, s.dy, ddw, false)
	py := make([]float32, pool.N*pool.OutH()*pool.OutW()*pool.C)
	am := make([]int32, len(py))
	e.MaxPool2D(pool, s.x, py, am)
	pdx := make([]float32, len(s.x))
	e.MaxPool2DBackward(pool, py, am, pdx, false)
	return [][]float32{cy, cdx, cdw, wy, wdx, gm, dy, ddx, ddw, py, pdx}
}

var execWorkNames = []string{"conv", "conv dx", "conv dw", "winograd", "winograd dx", "sgemm",
	"depthwise", "depthwise dx", "depthwise dw", "maxpool", "maxpool dx"}

// sameBits fails t unless got and want are bitwise equal, output by output.
func sameBits(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	for k := range want {
		for i := range want[k] {
			if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
				t.Errorf("%s: %s[%d] = %v, want %v (bitwise)", what, execWorkNames[k], i, got[k][i], want[k][i])
				break
			}
		}
	}
}

// TestExecThreadsSameBits checks that every parallel kernel computes the
// same bits on one thread and on two or three: no result depends on the
// thread count (the depthwise filter gradient sums fixed blocks in order).
func TestExecThreadsSameBits(t *testing.T) {
	s := newExecWork(1)
	e1 := NewExec(1)
	defer e1.Close()
	want := s.run(e1)
	for _, threads := range []int{2, 3} {
		e := NewExec(threads)
		got := s.run(e)
		e.Close()
		sameBits(t, fmt.Sprintf("%d threads vs 1", threads), got, want)
	}
}

// TestExecConcurrent runs the kernels on two one-thread Execs at once
// (with -race, this also checks that they share no unguarded state) and on
// two two-thread Execs at once: every run gives the bits of a run alone.
func TestExecConcurrent(t *testing.T) {
	works := []*execWork{newExecWork(1), newExecWork(2)}
	alone := make([][][]float32, len(works))
	for i, s := range works {
		e := NewExec(1)
		alone[i] = s.run(e)
		e.Close()
	}
	for _, threads := range []int{1, 2} {
		execs := []*Exec{NewExec(threads), NewExec(threads)}
		got := make([][][]float32, len(works))
		var wg sync.WaitGroup
		for i, s := range works {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 2 {
					got[i] = s.run(execs[i])
				}
			}()
		}
		wg.Wait()
		for i := range works {
			sameBits(t, fmt.Sprintf("threads=%d, run %d beside another", threads, i), got[i], alone[i])
			if threads > 1 && execs[i].Wakeups() == 0 {
				// Each Exec has its own pools, so neither found them busy
				// and ran everything inline.
				t.Errorf("threads=%d: Exec %d woke no worker while the other ran", threads, i)
			}
			execs[i].Close()
		}
	}
}

// TestExecWakeups checks that a one-thread Exec hands no work to worker
// goroutines, while a two-thread one does.
func TestExecWakeups(t *testing.T) {
	s := newExecWork(3)
	e1 := NewExec(1)
	defer e1.Close()
	s.run(e1)
	if n := e1.Wakeups(); n != 0 {
		t.Errorf("one-thread Exec: %d wake-ups, want 0", n)
	}
	if e1.Threads() != 1 {
		t.Errorf("NewExec(1).Threads() = %d", e1.Threads())
	}
	e2 := NewExec(2)
	defer e2.Close()
	s.run(e2)
	if e2.Wakeups() == 0 {
		t.Error("two-thread Exec: no wake-ups")
	}
}

// TestExecClose checks that Close is idempotent and that an Exec keeps
// computing the same results (on the calling goroutine alone) after it.
func TestExecClose(t *testing.T) {
	s := newExecWork(4)
	e := NewExec(2)
	want := s.run(e)
	e.Close()
	e.Close()
	before := e.Wakeups()
	sameBits(t, "after Close", s.run(e), want)
	if e.Wakeups() != before {
		t.Errorf("closed Exec woke workers: %d → %d", before, e.Wakeups())
	}
	Default().Close() // ignored
	if got := Default().Threads(); got < 1 {
		t.Errorf("Default().Threads() = %d", got)
	}
}

// TestExecWinogradSwitch checks that SetWinograd affects only its Exec and
// reports the previous setting.
func TestExecWinogradSwitch(t *testing.T) {
	e := NewExec(1)
	defer e.Close()
	if prev := e.SetWinograd(false); !prev {
		t.Error("a new Exec should have Winograd on")
	}
	if !Default().Winograd() {
		t.Error("SetWinograd on one Exec changed Default()")
	}
	if prev := e.SetWinograd(true); prev || !e.Winograd() {
		t.Errorf("SetWinograd(true) returned %v, Winograd() = %v", prev, e.Winograd())
	}
}
