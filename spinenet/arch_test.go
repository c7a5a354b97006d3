package spinenet

import (
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBuiltinsValidateAndCount(t *testing.T) {
	for _, id := range List() {
		a, err := Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Validate(); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	a, _ := Lookup("spinenet-49")
	counts := map[int]int{}
	var residual int
	for _, b := range a.Blocks {
		counts[b.Level]++
		if b.Type == Residual {
			residual++
		}
	}
	// PAPER Table 1: {L2..L7} = {1,2,4,4,2,2}; rows 1, 4, 6, 7 are residual.
	if want := map[int]int{2: 1, 3: 2, 4: 4, 5: 4, 6: 2, 7: 2}; !reflect.DeepEqual(counts, want) || residual != 4 {
		t.Errorf("level counts %v, %d residual", counts, residual)
	}
	if _, err := Lookup("50"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("Lookup(50) = %v", err)
	}
}

func TestLookupReturnsCopies(t *testing.T) {
	a, _ := Lookup("49")
	a.Blocks[0].Level = 9
	b, _ := Lookup("49")
	if b.Blocks[0].Level != 2 {
		t.Fatal("Lookup shares its block table")
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(a *Arch)
		want string
	}{
		{"future parent", func(a *Arch) { a.Blocks[2].Inputs[1] = 4 }, "block row 2: input 1 is feature 4, which does not exist yet"},
		{"negative parent", func(a *Arch) { a.Blocks[0].Inputs[0] = -1 }, "block row 0: input 0 is feature -1"},
		{"two outputs", func(a *Arch) { a.Blocks[9].Output = true }, "block row 12: second output on level 5 (row 9 is already its output)"},
		{"missing level", func(a *Arch) { a.Blocks[13].Output = false }, "no output block on level 7"},
		{"bad type", func(a *Arch) { a.Blocks[3].Type = "mbconv" }, `block row 3: block type "mbconv"`},
		{"alpha", func(a *Arch) { a.ResampleAlpha = 0 }, "resample_alpha 0"},
		{"repeats", func(a *Arch) { a.BlockRepeats = 0 }, "block_repeats 0"},
		{"same parents", func(a *Arch) { a.Blocks[5].Inputs = [2]int{3, 3} }, "both inputs are feature 3"},
		{"NaN scale", func(a *Arch) { a.FilterSizeScale = math.NaN() }, "filter_size_scale NaN"},
		{"infinite scale", func(a *Arch) { a.FilterSizeScale = math.Inf(1) }, "filter_size_scale +Inf"},
		{"huge scale", func(a *Arch) { a.FilterSizeScale = 1e6 }, "want a number in (0, 16]"},
		{"NaN alpha", func(a *Arch) { a.ResampleAlpha = math.NaN() }, "resample_alpha NaN"},
		{"huge repeats", func(a *Arch) { a.BlockRepeats = 1000 }, "block_repeats 1000, want 1..64"},
		{"huge endpoints", func(a *Arch) { a.EndpointsNumFilters = 1 << 30 }, "endpoints_num_filters 1073741824"},
	}
	for _, c := range cases {
		a, _ := Lookup("49")
		c.edit(a)
		err := a.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestArchFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"49S", "mobile-49"} {
		a, _ := Lookup(id)
		a.Blocks = append(a.Blocks, BlockSpec{Level: 3, Type: a.Blocks[0].Type, Inputs: [2]int{4, 7}})
		for _, ext := range []string{".json", ".yaml"} {
			path := filepath.Join(dir, id+ext)
			if err := a.Write(path); err != nil {
				t.Fatal(err)
			}
			b, err := ReadArch(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s%s round trip:\n%+v\n%+v", id, ext, a, b)
			}
		}
	}
}

func TestParseArchRejects(t *testing.T) {
	if _, err := ParseArch([]byte(`{"name":"x","familly":"spinenet"}`), JSON); err == nil || !strings.Contains(err.Error(), "familly") {
		t.Errorf("unknown JSON field: %v", err)
	}
	if _, err := ParseArch([]byte("name: x\nblokcs: []\n"), YAML); err == nil || !strings.Contains(err.Error(), "blokcs") {
		t.Errorf("unknown YAML field: %v", err)
	}
	if _, err := ReadArch("arch.txt"); err == nil || !strings.Contains(err.Error(), "arch.txt") {
		t.Errorf("bad extension: %v", err)
	}
}
