package recipe

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/spinenet-go/spinenet/configs"
)

// Every shipped recipe parses and validates.
func TestShippedConfigsParse(t *testing.T) {
	names, err := fs.Glob(configs.FS, "*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, name := range names {
		if _, err := Load(filepath.Join("../configs", name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
