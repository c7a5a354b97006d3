package algo

import (
	"fmt"
	"testing"
)

// BenchmarkControllerPropose times Propose(n) of a fresh policy on
// spinenet49 (70 decisions per architecture; n rows unrolled together).
func BenchmarkControllerPropose(b *testing.B) {
	sp := named(b, "spinenet49")
	for _, units := range []int{100, 32} {
		for _, n := range []int{1, 8} {
			b.Run(fmt.Sprintf("units%d/n%d", units, n), func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.LSTMUnits = units
				a, err := NewController(NamePPO, sp, cfg)
				if err != nil {
					b.Fatal(err)
				}
				for range b.N {
					ps, err := a.Propose(n)
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					rs := make([]Result, len(ps))
					for i, p := range ps {
						rs[i] = Result{Seq: p.Seq, Failed: true} // failures never trigger an update
					}
					if err := a.Observe(rs); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkControllerUpdate times the Observe call that brings the B-th
// (default 8) successful result and so runs one policy update: PPO's 4
// Adam steps or REINFORCE's one, each a forward and backward pass over the
// 8 samples.
func BenchmarkControllerUpdate(b *testing.B) {
	sp := named(b, "spinenet49")
	for _, name := range []string{NamePPO, NameReinforce} {
		for _, units := range []int{100, 32} {
			b.Run(fmt.Sprintf("%s/units%d", name, units), func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.LSTMUnits = units
				a, err := NewController(name, sp, cfg)
				if err != nil {
					b.Fatal(err)
				}
				for range b.N {
					b.StopTimer()
					ps, err := a.Propose(cfg.UpdateBatch)
					if err != nil {
						b.Fatal(err)
					}
					rs := make([]Result, len(ps))
					for i, p := range ps {
						rs[i] = Result{Seq: p.Seq, Reward: float64(i%3) * 0.1}
					}
					before := a.PolicyVersion()
					b.StartTimer()
					if err := a.Observe(rs); err != nil {
						b.Fatal(err)
					}
					if a.PolicyVersion() != before+1 {
						b.Fatal("no update")
					}
				}
			})
		}
	}
}
