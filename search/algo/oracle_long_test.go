package algo

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// envFloat reads a number from the environment, or returns def.
func envFloat(t *testing.T, key string, def float64) float64 {
	s := os.Getenv(key)
	if s == "" {
		return def
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, s, err)
	}
	return v
}

// TestOracleLong is the long oracle experiment of docs/search.md, run only
// when ORACLE_LONG names an algorithm (random, evolution, ppo, reinforce):
//
//	ORACLE_LONG=ppo ORACLE_LR=0.01 ORACLE_ENTROPY=0.001 ORACLE_BUDGET=3000 \
//	  ORACLE_SEEDS=3 ORACLE_THRESHOLD=63 go test -run TestOracleLong -v -timeout 30m ./search/algo
//
// It runs the algorithm on the oracle of TestEvolutionBeatsRandomOnOracle
// for ORACLE_BUDGET evaluations per seed (default 3000) and logs the mean
// evaluations to ORACLE_THRESHOLD of 70 components (default 63, 90 % of
// the optimum), how many seeds reached it, and the mean best score; it
// fails unless the mean best score beats random search's over the same
// seeds and budget. ORACLE_UNITS (32), ORACLE_LR (0.03), ORACLE_ENTROPY
// (1e-5), ORACLE_BATCH (B, 8) and ORACLE_EPOCHS (4) set the controller.
func TestOracleLong(t *testing.T) {
	name := os.Getenv("ORACLE_LONG")
	if name == "" {
		t.Skip("set ORACLE_LONG=ppo (or reinforce, evolution, random) to run")
	}
	sp := named(t, "spinenet49")
	budget := int(envFloat(t, "ORACLE_BUDGET", 3000))
	seeds := int(envFloat(t, "ORACLE_SEEDS", 3))
	thr := envFloat(t, "ORACLE_THRESHOLD", 63)/70 - 1e-9
	cfgFor := func(seed uint64) Config {
		cfg := rlOracleCfg(seed)
		cfg.LSTMUnits = int(envFloat(t, "ORACLE_UNITS", 32))
		cfg.LearningRate = envFloat(t, "ORACLE_LR", 0.03)
		cfg.EntropyWeight = envFloat(t, "ORACLE_ENTROPY", 1e-5)
		cfg.UpdateBatch = int(envFloat(t, "ORACLE_BATCH", 8))
		cfg.PPOEpochs = int(envFloat(t, "ORACLE_EPOCHS", 4))
		return cfg
	}
	run := func(name string) (meanHit, meanBest float64, reached int) {
		start := time.Now()
		for seed := uint64(1); seed <= uint64(seeds); seed++ {
			hit, best, err := evalsTo(newAlg(t, name, sp, cfgFor(seed)), newOracle(sp, seed, 0.005), budget, 2, thr)
			if err != nil {
				t.Fatal(err)
			}
			meanHit += float64(hit) / float64(seeds)
			meanBest += best / float64(seeds)
			if hit <= budget {
				reached++
			}
		}
		t.Logf("%s: mean evaluations to %.0f/70 %.1f (%d = not reached), reached %d of %d seeds, mean best %.3f; %.1f s",
			name, thr*70, meanHit, budget+1, reached, seeds, meanBest, time.Since(start).Seconds())
		return meanHit, meanBest, reached
	}
	_, rsBest, _ := run(NameRandom)
	if name == NameRandom {
		return
	}
	if _, best, _ := run(name); best <= rsBest {
		t.Errorf("%s's mean best %.3f does not beat random search's %.3f", name, best, rsBest)
	}
}
