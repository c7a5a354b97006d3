package recipe

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds recipe files to Parse in both formats. A recipe that
// parses is valid, resolves its model or reports a ConfigError naming the
// key, and re-parses unchanged from its JSON encoding. Seeds: every
// shipped recipe and the test recipes.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"../configs/*.yaml", "testdata/*.yaml", "testdata/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, filepath.Ext(p) == ".json")
			}
		}
	}
	f.Add([]byte(`{"task":"detection","model":{"id":"49S","activation":"gelu"},"train":{"batch":-1}}`), true)
	f.Add([]byte("task: classification\nmodel: {arch: missing.yaml, id: 49}\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		c, err := Parse(data, isJSON)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid recipe: %v", err)
		}
		if c.Model.Arch == "" { // an arch file would be read from disk
			if _, err := c.Resolve(); err != nil {
				if _, ok := err.(*ConfigError); !ok {
					t.Fatalf("Resolve: %T %v, want a *ConfigError", err, err)
				}
			}
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := Parse(b, true)
		if err != nil {
			t.Fatalf("the JSON encoding of a valid recipe does not parse: %v\n%s", err, b)
		}
		b2, _ := json.Marshal(back)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed the recipe:\n%s\n%s", b, b2)
		}
	})
}

// FuzzSet applies --set settings to a recipe: a setting is applied or
// refused with an error (a *ConfigError naming the key when the key is
// bad), never a panic, and an applied one leaves a recipe that parses as
// Parse would parse it.
func FuzzSet(f *testing.F) {
	base, err := os.ReadFile("testdata/shapes-tiny.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"train.lr.base_lr=0.01", "model.init_skip=[class_head]", "train.freeze=[stem, 'blocks<6']",
		"trian.x=1", "train.batch.size=2", "train.batch", "x=[1", "model=5", "=", "a.b.c.d=e", "train.finetune.lr_scale=0.5"} {
		f.Add(base, s)
	}
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		c, err := ParseWith(data, false, Overrides{Set: []string{set}})
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("an applied setting left an invalid recipe: %v", err)
		}
	})
}
