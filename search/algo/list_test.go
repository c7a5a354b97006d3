package algo

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/search/space"
)

// The list algorithm proposes its list in order, survives a checkpoint
// mid-way, stops when the list ends and refuses bad configurations.
func TestList(t *testing.T) {
	sp, _ := space.Named("spinenet49")
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := DefaultConfig()
	for range 5 {
		cfg.List = append(cfg.List, sp.Sample(rng))
	}
	a, err := New(NameList, sp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := a.Propose(2)
	if err != nil || len(ps) != 2 {
		t.Fatalf("%d proposals, %v", len(ps), err)
	}
	if err := a.Observe([]Result{{Seq: 1, Reward: 0.5}, {Seq: 2, Failed: true, Reason: "x"}}); err != nil {
		t.Fatal(err)
	}
	b, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(sp, b)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := r.Propose(10)
	if err != nil || len(rest) != 3 {
		t.Fatalf("after restore: %d proposals, %v; want the 3 left", len(rest), err)
	}
	for i, p := range append(ps, rest...) {
		h, _ := sp.Hash(cfg.List[i])
		if p.Hash != h || p.Origin != OriginList || p.Seq != int64(i+1) {
			t.Errorf("proposal %d: hash %.12s origin %s seq %d, want list entry %d (%.12s)", i, p.Hash, p.Origin, p.Seq, i, h)
		}
	}
	if more, err := r.Propose(1); err != nil || len(more) != 0 {
		t.Errorf("past the list's end: %d proposals, %v", len(more), err)
	}

	var ce *ConfigError
	for _, c := range []struct {
		name string
		cfg  func(Config) Config
		alg  string
	}{
		{"empty", func(c Config) Config { c.List = nil; return c }, NameList},
		{"baselines", func(c Config) Config { c.Baselines = true; return c }, NameList},
		{"not a member", func(c Config) Config {
			c.List = []space.Decisions{{Blocks: cfg.List[0].Blocks[:3]}}
			return c
		}, NameList},
		{"a list for random search", func(c Config) Config { return c }, NameRandom},
	} {
		if _, err := New(c.alg, sp, c.cfg(cfg)); !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a ConfigError", c.name, err)
		}
	}
}
