package kernels

import (
	"sync"
	"time"
)

// MeasurePeakGFLOPS measures the float32 fused-multiply-add throughput of the
// processor: it runs a loop of independent register-only FMAs (AVX-512, else
// AVX2+FMA, else pure Go) on threads goroutines at once for about d and
// returns their combined rate in GFLOP/s, counting 2 flops per FMA lane. It is
// the 100 % against which kernel speeds are reported.
func MeasurePeakGFLOPS(threads int, d time.Duration) float64 {
	if threads < 1 {
		threads = 1
	}
	loop, lanes := peakLoop()
	// Size a chunk to roughly 100 µs so the deadline is checked often.
	const chunk = 10000
	loop(chunk) // warm up (and page in) the loop
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		iters = make([]int64, threads*8) // padded against false sharing
	)
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			<-start
			deadline := time.Now().Add(d)
			var n int64
			for {
				loop(chunk)
				n += chunk
				if !time.Now().Before(deadline) {
					break
				}
			}
			iters[t*8] = n
		}(t)
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0).Seconds()
	var total int64
	for t := 0; t < threads; t++ {
		total += iters[t*8]
	}
	return float64(total) * float64(lanes) * 2 / elapsed / 1e9
}

// peakGoLanes is the number of multiply-adds one peakFMAGo iteration does.
const peakGoLanes = 8

// peakSink keeps peakFMAGo's result alive.
var peakSink float32

// peakFMAGo is the pure-Go throughput loop: 8 independent multiply-add chains.
func peakFMAGo(n int) {
	x0, x1, x2, x3 := float32(0), float32(1), float32(2), float32(3)
	x4, x5, x6, x7 := float32(4), float32(5), float32(6), float32(7)
	const m, c = 0.999, 0.001
	for i := 0; i < n; i++ {
		x0 = x0*m + c
		x1 = x1*m + c
		x2 = x2*m + c
		x3 = x3*m + c
		x4 = x4*m + c
		x5 = x5*m + c
		x6 = x6*m + c
		x7 = x7*m + c
	}
	peakSink = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7
}
