package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `search space --json` prints the paper's factors for SpineNet-49 (issue 10).
func TestSearchSpaceJSON(t *testing.T) {
	out, errs, code := run(t, "search", "space", "--space", "spinenet49", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got map[string]json.Number
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		t.Fatal(err)
	}
	got = map[string]json.Number{}
	for k, v := range raw {
		if n, ok := v.(json.Number); ok {
			got[k] = n
		}
	}
	for k, want := range map[string]string{
		"labelled_orders": "435456000", "level_sequences": "604800", "level_shifts": "1048576", "block_types": "32768",
		"connections": "834966920275488000000", "connections_windowed": "1062485424000000000",
	} {
		if got[k].String() != want {
			t.Errorf("%s = %q, want %s", k, got[k], want)
		}
	}
	if raw["space"] != "spinenet49" {
		t.Errorf("space %v", raw["space"])
	}
	if out, _, code := run(t, "search", "space", "--space", "r0-sp53"); code != 0 || !strings.Contains(out, "604,800") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
	if _, errs, code := run(t, "search", "space", "--space", "nope"); code != ExitUsage || !strings.Contains(errs, "--space") {
		t.Errorf("unknown space: exit %d: %s", code, errs)
	}
}

// A sampled architecture file is one `info --arch` accepts, and the same
// seed draws the same architecture.
func TestSearchSampleWritesArch(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "arch.yaml")
	dj := filepath.Join(dir, "d.json")
	out, errs, code := run(t, "search", "sample", "--space", "spinenet49", "--seed", "7", "--output", arch, "--decisions", dj)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "hash ") {
		t.Errorf("summary: %s", out)
	}
	if _, errs, code := run(t, "info", "--arch", arch, "--head", "retinanet", "--size", "256", "--json"); code != 0 {
		t.Fatalf("info --arch: exit %d: %s", code, errs)
	}
	again, _, _ := run(t, "search", "sample", "--space", "spinenet49", "--seed", "7")
	first, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	if again != string(first) {
		t.Errorf("seed 7 drew another architecture on stdout:\n%s\nvs file\n%s", again, first)
	}
	other, _, _ := run(t, "search", "sample", "--space", "spinenet49", "--seed", "8")
	if other == again {
		t.Error("seeds 7 and 8 drew the same architecture")
	}
	if d, err := os.ReadFile(dj); err != nil || !strings.Contains(string(d), `"space": "spinenet49"`) {
		t.Errorf("decisions file: %v\n%s", err, d)
	}
	// The file's architecture is a member of the space.
	if out, errs, code := run(t, "search", "encode", "--space", "spinenet49", "--arch", arch); code != 0 || !strings.Contains(out, "is a member of spinenet49") {
		t.Errorf("encode: exit %d: %s%s", code, out, errs)
	}
	if _, errs, code := run(t, "search", "sample", "--output", filepath.Join(dir, "x.txt")); code != ExitUsage {
		t.Errorf("bad --output extension: exit %d: %s", code, errs)
	}
}

func TestSearchEncode(t *testing.T) {
	out, errs, code := run(t, "search", "encode", "--model", "49", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Hash      string `json:"hash"`
		Decisions struct {
			Blocks []struct {
				Shift int `json:"shift"`
			} `json:"blocks"`
		} `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Hash != "808d76dfd2a54101d5149ecc331df03344e55a4be8c53b0992f46fa10afb16a9" || len(got.Decisions.Blocks) != 15 {
		t.Errorf("encode 49: %s", out)
	}
	_, errs, code = run(t, "search", "encode", "--model", "49", "--space", "r0-sp53")
	if code != ExitFailure || !strings.Contains(errs, "no level shifts") {
		t.Errorf("49 in r0-sp53: exit %d: %s", code, errs)
	}
	if _, _, code := run(t, "search", "encode"); code != ExitUsage {
		t.Errorf("no --arch or --model: exit %d", code)
	}
	if _, _, code := run(t, "search", "encode", "--arch", "../../configs/arch/r0-sp53-resnet-order.yaml", "--space", "r0-sp53"); code != 0 {
		t.Errorf("r0-sp53 file: exit %d", code)
	}
}
