package spinenet

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseArch feeds architecture files to ParseArch in both formats.
// Whatever parses must be valid, build shape-only, and survive a
// Marshal/Parse round trip unchanged. Seeds: the shipped architecture
// files and every built-in Arch in both formats.
func FuzzParseArch(f *testing.F) {
	files, _ := filepath.Glob("../configs/arch/*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, p[len(p)-5:] == ".json")
		}
	}
	for _, id := range []string{"49S", "190", "mobile-49"} {
		a, _ := Lookup(id)
		for _, fm := range []Format{JSON, YAML} {
			b, _ := a.Marshal(fm)
			f.Add(b, fm == JSON)
		}
	}
	f.Add([]byte("name: x\nblocks: [{level: 99, type: bottleneck, inputs: [0, 0]}]\n"), false)
	f.Add([]byte(`{"name":"x","blocks":[{"level":3,"inputs":[-1,5]}]}`), true)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		fm := YAML
		if isJSON {
			fm = JSON
		}
		a, err := ParseArch(data, fm)
		if err != nil {
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("ParseArch accepted an invalid Arch: %v", err)
		}
		if len(a.Blocks) <= 64 && a.BlockRepeats <= 8 && a.FilterSizeScale <= 4 && a.EndpointsNumFilters <= 4096 {
			opt := DefaultOptions()
			opt.ShapeOnly = true
			if bb, err := Build(a, opt); err == nil {
				if _, err := bb.Graph.Account(64, 64); err != nil && a.MaxLevel <= 6 {
					t.Logf("accounting at 64×64: %v", err) // small inputs may not fit deep levels
				}
			}
		}
		for _, out := range []Format{JSON, YAML} {
			b, err := a.Marshal(out)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			back, err := ParseArch(b, out)
			if err != nil {
				t.Fatalf("round trip through format %d: %v\n%s", out, err, b)
			}
			b2, _ := back.Marshal(out)
			if !bytes.Equal(b, b2) {
				t.Fatalf("round trip changed the Arch:\n%s\n%s", b, b2)
			}
		}
	})
}
