package algo

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/spinenet"
)

func newController(t *testing.T, name string, sp *space.Space, cfg Config) *Controller {
	t.Helper()
	a, err := NewController(name, sp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// smallCfg is the default configuration with a small LSTM, for speed.
func smallCfg(seed uint64) Config {
	cfg := DefaultConfig()
	cfg.Seed, cfg.LSTMUnits = seed, 16
	return cfg
}

// logProbs recomputes each decision list's log-probability under the
// current policy by replaying it.
func logProbs(t *testing.T, a *Controller, ds ...space.Decisions) []float64 {
	t.Helper()
	acts := make([][]int32, len(ds))
	for i, d := range ds {
		var err error
		if acts[i], err = a.net.actions(d); err != nil {
			t.Fatal(err)
		}
	}
	tp := autograd.NewInferenceTape()
	logp, _ := a.net.run(tp, len(ds), replay(acts))
	out := make([]float64, len(ds))
	for i := range out {
		out[i] = float64(logp.Value.Data()[i])
	}
	return out
}

// enumerate lists every action sequence the policy's masks allow.
func enumerate(p *policy) [][]int32 {
	var out [][]int32
	acts := make([]int32, len(p.steps))
	var rec func(i int, st rowState)
	rec = func(i int, st rowState) {
		if i == len(p.steps) {
			out = append(out, append([]int32(nil), acts...))
			return
		}
		s := p.steps[i]
		legal := make([]bool, p.width[s.kind])
		p.allowed(s, &st, legal)
		for a, ok := range legal {
			if !ok {
				continue
			}
			next := rowState{left: map[int]int{}, outLeft: map[int]bool{}, base: st.base, first: st.first}
			for k, v := range st.left {
				next.left[k] = v
			}
			for k, v := range st.outLeft {
				next.outLeft[k] = v
			}
			p.take(s, &next, a)
			acts[i] = int32(a)
			rec(i+1, next)
		}
	}
	st := rowState{left: map[int]int{}, outLeft: map[int]bool{}}
	for l, c := range p.sp.Intermediate {
		st.left[l] = c
	}
	for _, l := range p.sp.OutputLevels {
		st.outLeft[l] = true
	}
	rec(0, st)
	return out
}

// Over a space small enough to list, the controller's action sequences are
// exactly the space's members (each decodes, all distinct, as many as
// Counts says), their probabilities sum to 1, samples come with the
// frequencies and the LogProb that replaying them gives. LogProb is thus
// the log-probability of the decisions themselves, each drawn in exactly
// one way.
func TestControllerProbabilitiesSumToOne(t *testing.T) {
	sp := tinySpace()
	sp.Shifts = []int{0, 1}
	members := sp.Counts().Decisions.Int64()
	a := newController(t, NamePPO, sp, smallCfg(3))
	// Perturb the weights so the policy is far from uniform.
	rng := rand.New(rand.NewPCG(8, 8))
	for _, p := range a.net.params {
		for i := range p.Value.Data() {
			p.Value.Data()[i] = float32(0.5 * rng.NormFloat64())
		}
	}
	all := enumerate(a.net)
	if int64(len(all)) != members {
		t.Fatalf("the controller can make %d action sequences, the space has %d members", len(all), members)
	}
	var ds []space.Decisions
	index := map[string]int{}
	for i, acts := range all {
		d := a.net.decisions(acts)
		if _, err := sp.Decode(d); err != nil {
			t.Fatalf("sequence %d: %v", i, err)
		}
		b, _ := json.Marshal(d)
		if _, dup := index[string(b)]; dup {
			t.Fatalf("two action sequences give %s", b)
		}
		index[string(b)] = i
		ds = append(ds, d)
	}
	logp := logProbs(t, a, ds...)
	var sum float64
	for _, lp := range logp {
		sum += math.Exp(lp)
	}
	if math.Abs(sum-1) > 1e-4 {
		t.Errorf("probabilities of all %d members sum to %v, want 1", members, sum)
	}
	const n = 20000
	freq := make([]int, len(all))
	for _, p := range propose(t, a, n) {
		b, _ := json.Marshal(p.Decisions)
		i, ok := index[string(b)]
		if !ok {
			t.Fatalf("seq %d: a sample outside the list", p.Seq)
		}
		freq[i]++
		if math.Abs(p.LogProb-logp[i]) > 1e-4 {
			t.Fatalf("seq %d: LogProb %v, replay %v", p.Seq, p.LogProb, logp[i])
		}
	}
	checked := 0
	for i, lp := range logp {
		if e := math.Exp(lp) * n; e >= 100 {
			checked++
			if math.Abs(float64(freq[i])-e) > 5*math.Sqrt(e) {
				t.Errorf("member %d: %d draws, expected %.0f", i, freq[i], e)
			}
		}
	}
	if checked < 5 {
		t.Errorf("only %d members are frequent enough to check", checked)
	}
}

// Every sample is a member in spaces with and without shifts and types,
// with a window and without.
func TestControllerSamplesDecode(t *testing.T) {
	noWindow := named(t, "spinenet49")
	noWindow.Window = space.NoWindow
	oneType := named(t, "spinenet49")
	oneType.Types = []spinenet.BlockType{spinenet.Residual}
	for _, sp := range []*space.Space{named(t, "spinenet49"), named(t, "r35-sp18"), named(t, "r14-sp39"), noWindow, oneType, tinySpace()} {
		a := newController(t, NameReinforce, sp, smallCfg(1))
		for _, p := range propose(t, a, 200) {
			arch, err := sp.Decode(p.Decisions)
			if err != nil {
				t.Fatalf("%s seq %d: %v", sp.Name, p.Seq, err)
			}
			if p.Hash != space.HashArch(arch) || p.Origin != OriginController || p.PolicyVersion != 1 || p.LogProb > 0 {
				t.Fatalf("%s: proposal %+v", sp.Name, p)
			}
			if sp == oneType && p.Decisions.Blocks[0].Type != spinenet.Residual {
				t.Fatal("a one-type space's type not used")
			}
		}
	}
}

// One update makes a rewarded sample more likely and an unrewarded one less
// likely, under both algorithms.
func TestControllerUpdateMovesTowardReward(t *testing.T) {
	sp := named(t, "spinenet49")
	for _, name := range []string{NamePPO, NameReinforce} {
		cfg := smallCfg(2)
		cfg.UpdateBatch, cfg.LearningRate = 2, 0.01
		a := newController(t, name, sp, cfg)
		ps := propose(t, a, 2)
		before := logProbs(t, a, ps[0].Decisions, ps[1].Decisions)
		observe(t, a, Result{Seq: ps[0].Seq, Reward: 1}, Result{Seq: ps[1].Seq, Reward: 0})
		if a.PolicyVersion() != 2 {
			t.Fatalf("%s: policy version %d after one update, want 2", name, a.PolicyVersion())
		}
		after := logProbs(t, a, ps[0].Decisions, ps[1].Decisions)
		if !(after[0] > before[0]+0.1 && after[1] < before[1]-0.1) {
			t.Errorf("%s: log-probabilities %v → %v, want the first up and the second down", name, before, after)
		}
		if st := a.ControllerStats(); st.Last.Used != 2 || st.Last.Baseline != 0.5 || math.Abs(st.Baseline-0.49875) > 1e-12 {
			t.Errorf("%s: stats %+v, want 2 used, baseline 0.5 (the first batch's mean) then 0.95·(0.95·0.5 + 0.05·1) + 0.05·0", name, st)
		}
		// New samples carry the new version.
		if p := propose(t, a, 1)[0]; p.PolicyVersion != 2 {
			t.Errorf("%s: new sample has policy version %d, want 2", name, p.PolicyVersion)
		}
	}
}

// Updates happen at every B-th successful result wherever it falls in the
// Observe batches: observing one result at a time and all at once give the
// same state. Failures are buffered with the failure reward (0 before any
// success, then the lowest reward so far) but do not count towards B.
func TestControllerUpdateTiming(t *testing.T) {
	sp := named(t, "spinenet49")
	cfg := smallCfg(4)
	cfg.UpdateBatch = 3
	one, all := newController(t, NamePPO, sp, cfg), newController(t, NamePPO, sp, cfg)
	ps := propose(t, one, 10)
	propose(t, all, 10)
	rs := []Result{{Seq: ps[0].Seq, Failed: true}}
	for i, p := range ps[1:] {
		rs = append(rs, Result{Seq: p.Seq, Reward: 0.5 + 0.1*float64(i%3)})
	}
	rs[5] = Result{Seq: ps[5].Seq, Failed: true} // after successes 0.5, 0.6, 0.7, 0.5
	for i, r := range rs {
		observe(t, one, r)
		switch i {
		case 0:
			if len(one.buffer) != 1 || one.buffer[0].Reward != 0 || !one.buffer[0].Failed {
				t.Fatalf("buffer %+v, want the failure with reward 0", one.buffer)
			}
		case 3: // the third success
			if one.PolicyVersion() != 2 || len(one.buffer) != 0 {
				t.Fatalf("after 3 successes: version %d, buffer %d; want an update", one.PolicyVersion(), len(one.buffer))
			}
		case 5:
			if one.buffer[1].Reward != 0.5 || !one.buffer[1].Failed {
				t.Fatalf("failure reward %v, want the lowest so far, 0.5", one.buffer[1].Reward)
			}
		}
	}
	observe(t, all, rs...)
	if one.PolicyVersion() != 3 || one.ControllerStats().Last.Samples != 4 || len(one.buffer) != 2 {
		t.Errorf("version %d, last update %+v, %d buffered; want 3 (updates at successes 3 and 6, the second with a failure), 2 buffered",
			one.PolicyVersion(), one.ControllerStats().Last, len(one.buffer))
	}
	sa, _ := one.MarshalState()
	sb, _ := all.MarshalState()
	if !bytes.Equal(sa, sb) {
		t.Error("observing one at a time and all at once give different states")
	}
}

// Samples more than K versions old are left out of an update; baselines
// are proposed first, with no policy fields, and never buffered.
func TestControllerStalenessAndBaselines(t *testing.T) {
	sp := named(t, "spinenet49")
	cfg := smallCfg(5)
	cfg.UpdateBatch, cfg.MaxStaleness, cfg.Baselines = 2, 0, true
	a := newController(t, NameReinforce, sp, cfg)
	ps := propose(t, a, 6) // 2 baselines, 4 samples of version 1
	for i, p := range ps {
		if (i < 2) != (p.Origin == OriginBaseline) || (i < 2) != (p.PolicyVersion == 0) {
			t.Fatalf("proposal %d: origin %q, version %d", i, p.Origin, p.PolicyVersion)
		}
	}
	observe(t, a, Result{Seq: ps[0].Seq, Reward: 0.2}, Result{Seq: ps[1].Seq, Reward: 0.3})
	if len(a.buffer) != 0 || a.PolicyVersion() != 1 {
		t.Fatalf("baseline results buffered (%d) or trained on", len(a.buffer))
	}
	observe(t, a, Result{Seq: ps[2].Seq, Reward: 0.4}, Result{Seq: ps[3].Seq, Reward: 0.5}) // update → version 2
	fresh := propose(t, a, 1)[0]
	observe(t, a, Result{Seq: ps[4].Seq, Reward: 0.6}, Result{Seq: fresh.Seq, Reward: 0.7}) // ps[4] is 1 version old
	st := a.ControllerStats()
	if st.PolicyVersion != 3 || st.Dropped != 1 || st.Last.Used != 1 || st.Last.Samples != 2 {
		t.Errorf("stats %+v, want version 3 with 1 of 2 samples used, 1 dropped", st)
	}
}

// Restore refuses controller states that do not fit.
func TestControllerRestoreRefuses(t *testing.T) {
	sp := named(t, "spinenet49")
	cfg := smallCfg(6)
	cfg.UpdateBatch = 2
	a := newController(t, NamePPO, sp, cfg)
	ps := propose(t, a, 5)
	observe(t, a, Result{Seq: ps[0].Seq, Reward: 1}, Result{Seq: ps[1].Seq, Reward: 2}, Result{Seq: ps[2].Seq, Reward: 3})
	state, _ := a.MarshalState()
	if _, err := Restore(sp, state); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(ctl map[string]any, m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(state, &m); err != nil {
			t.Fatal(err)
		}
		f(m["controller"].(map[string]any), m)
		b, _ := json.Marshal(m)
		return b
	}
	bigger := cfg
	bigger.LSTMUnits = 20
	for _, c := range []struct {
		name  string
		state []byte
		want  string
	}{
		{"no controller", edit(func(_, m map[string]any) { delete(m, "controller") }), "controller"},
		{"version", edit(func(c, _ map[string]any) { c["updates"] = 5 }), "policy_version"},
		{"weights missing", edit(func(c, _ map[string]any) { delete(c["weights"].(map[string]any), "controller/lstm/kernel") }), "weights"},
		{"weights bytes", edit(func(c, _ map[string]any) {
			c["weights"].(map[string]any)["controller/start"].(map[string]any)["data"] = "AAAA"
		}), "controller/start"},
		{"other units", edit(func(_, m map[string]any) { m["config"].(map[string]any)["lstm_units"] = 20 }), "shape"},
		{"buffer hash", edit(func(c, _ map[string]any) {
			c["buffer"].([]any)[0].(map[string]any)["hash"] = strings.Repeat("0", 64)
		}), "buffer"},
		{"buffer full", edit(func(c, m map[string]any) { m["config"].(map[string]any)["update_batch"] = 1 }), "buffer"},
		{"pending version", edit(func(_, m map[string]any) {
			m["pending"].([]any)[0].(map[string]any)["policy_version"] = 9
		}), "pending"},
		{"adam", edit(func(c, _ map[string]any) { c["adam_steps"] = -1 }), "adam"},
	} {
		if _, err := Restore(sp, c.state); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
