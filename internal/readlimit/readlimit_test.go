package readlimit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("12345"), 0o644)
	for _, c := range []struct {
		limit int64
		ok    bool
	}{{5, true}, {6, true}, {4, false}, {0, false}} {
		b, err := File(p, c.limit, "a test file")
		if c.ok != (err == nil) || (c.ok && string(b) != "12345") {
			t.Errorf("limit %d: %q, %v", c.limit, b, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "a test file")) {
			t.Errorf("limit %d: error %v should name the file and its kind", c.limit, err)
		}
	}
	if _, err := File(filepath.Join(dir, "missing"), 10, "x"); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}
