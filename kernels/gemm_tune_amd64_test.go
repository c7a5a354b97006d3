//go:build amd64 && !noasm && !purego

package kernels

import (
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGemmTune compares blocking configurations, interleaving their runs so
// machine noise hits all alike. kern picks the kernel of every path (the
// default and the wide one), kc and mc its blocking; direct=on reads A in
// place whatever the width of B, off always packs A. It runs only with
// GEMM_TUNE set, e.g.
//
//	GEMM_TUNE="kern=12x32,14x32 kc=192,256 mc=144" go test -run GemmTune -v ./kernels/
func TestGemmTune(t *testing.T) {
	spec := os.Getenv("GEMM_TUNE")
	if spec == "" {
		t.Skip("GEMM_TUNE not set")
	}
	if v := os.Getenv("GEMM_MAXB"); v != "" {
		prev := gemmMaxPackedB
		gemmMaxPackedB, _ = strconv.Atoi(v)
		defer func() { gemmMaxPackedB = prev }()
	}
	if v := os.Getenv("GEMM_ITEMS"); v != "" {
		prev := gemmItemsPerThread
		gemmItemsPerThread, _ = strconv.Atoi(v)
		defer func() { gemmItemsPerThread = prev }()
	}
	opts := map[string][]string{"kern": {"default"}, "kc": {"0"}, "mc": {"0"}, "direct": {"auto"}, "threads": {"0"}}
	for _, f := range strings.Fields(spec) {
		kv := strings.SplitN(f, "=", 2)
		opts[kv[0]] = strings.Split(kv[1], ",")
	}
	reps := 7
	if r := os.Getenv("GEMM_TUNE_REPS"); r != "" {
		reps, _ = strconv.Atoi(r)
	}
	kernels := tuneKernels()

	type config struct {
		kern            string
		kc, mc, threads int
		direct          string
	}
	var configs []config
	for _, kn := range opts["kern"] {
		for _, kc := range opts["kc"] {
			for _, mc := range opts["mc"] {
				for _, d := range opts["direct"] {
					for _, th := range opts["threads"] {
						a, _ := strconv.Atoi(kc)
						b, _ := strconv.Atoi(mc)
						e, _ := strconv.Atoi(th)
						configs = append(configs, config{kn, a, b, e, d})
					}
				}
			}
		}
	}
	shapes := gemmBenchShapes
	if v := os.Getenv("GEMM_SHAPES"); v != "" {
		shapes = shapes[:0:0]
		for _, f := range strings.Split(v, ";") {
			x := strings.Split(f, ",")
			m, _ := strconv.Atoi(x[0])
			n, _ := strconv.Atoi(x[1])
			k, _ := strconv.Atoi(x[2])
			shapes = append(shapes, struct {
				m, n, k        int
				transA, transB bool
			}{m, n, k, len(x) > 3, false})
		}
	}
	for _, sh := range shapes {
		rng := rand.New(rand.NewPCG(1, 1))
		m, n, k := sh.m, sh.n, sh.k
		a, bb, c := gemmRandSlice(rng, m*k), gemmRandSlice(rng, k*n), make([]float32, m*n)
		lda := k
		if sh.transA {
			lda = m
		}
		flops := 2 * float64(m) * float64(n) * float64(k)
		results := make([][]float64, len(configs))
		for r := 0; r < reps; r++ {
			for ci, cf := range configs {
				saveK, saveW := avx512Default, avx512Wide
				if kp, ok := kernels[cf.kern]; ok {
					avx512Default, avx512Wide = kp, kp
				}
				kern := *avx512Default
				orig := *avx512Default
				if cf.kc > 0 {
					kern.kc, kern.kcDirect = cf.kc, cf.kc
				}
				if cf.mc > 0 {
					kern.mc = cf.mc
				}
				*avx512Default = kern
				saveD, saveWD := gemmDirectMaxN, gemmWideDirect
				switch cf.direct {
				case "on":
					gemmDirectMaxN = 1 << 30
				case "off":
					gemmDirectMaxN, gemmWideDirect = -1, false
				}
				e := NewExec(cf.threads)
				e.Sgemm(sh.transA, false, m, n, k, 1, a, lda, bb, n, 0, c, n)
				iters := max(1, int(2e9/flops))
				t0 := time.Now()
				for i := 0; i < iters; i++ {
					e.Sgemm(sh.transA, false, m, n, k, 1, a, lda, bb, n, 0, c, n)
				}
				results[ci] = append(results[ci], flops*float64(iters)/time.Since(t0).Seconds()/1e9)
				e.Close()
				gemmDirectMaxN, gemmWideDirect = saveD, saveWD
				*avx512Default = orig
				avx512Default, avx512Wide = saveK, saveW
			}
		}
		for ci, cf := range configs {
			s := results[ci]
			slices.Sort(s)
			t.Logf("m=%d n=%d k=%d tA=%v %+v: median %.1f max %.1f GFLOP/s", m, n, k, sh.transA, cf, s[len(s)/2], s[len(s)-1])
		}
	}
}
