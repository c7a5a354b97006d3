package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteKeepsOldFileOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.txt")
	if err := Write(path, func(w io.Writer) error { _, err := w.Write([]byte("one")); return err }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := Write(path, func(w io.Writer) error { w.Write([]byte("tw")); return boom }); err != boom {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Errorf("file %q after a failed write", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("%d files left, want 1", len(ents))
	}
}
