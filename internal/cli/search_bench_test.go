package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// `search bench-trial --proxy unit --json` runs one trial and reports it.
func TestSearchBenchTrial(t *testing.T) {
	out, errs, code := run(t, "search", "bench-trial", "--proxy", "unit", "--baseline", "resnet-order", "--threads", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r searchBenchTrialJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"proxy", "hash", "estimated_seconds", "ap", "ap50", "macs", "params", "train_seconds", "images_per_second"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("the JSON has no key %q: %s", k, out)
		}
	}
	if r.Proxy != "unit" || r.Hash == "" || r.MACs <= 0 || r.Params <= 0 || r.Steps <= 0 || !(r.AP >= 0 && r.AP <= 1) || !(r.EstimatedSeconds > 0) {
		t.Errorf("%+v", r)
	}
	if _, errs, code := run(t, "search", "bench-trial", "--proxy", "nope"); code != ExitUsage || !strings.Contains(errs, "--proxy") {
		t.Errorf("unknown preset: exit %d, %s", code, errs)
	}
	if _, _, code := run(t, "search", "bench-trial", "--model", "49", "--baseline", "resnet-order"); code != ExitUsage {
		t.Errorf("two architectures: exit %d", code)
	}
	if _, errs, code := run(t, "search", "bench-trial", "--proxy", "paper", "--model", "49"); code == 0 || !strings.Contains(errs, "DataDir") {
		t.Errorf("paper without data: exit %d, %s", code, errs)
	}
}
