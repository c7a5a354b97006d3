// Package sharedtest locates the project's shared data checkout — real
// datasets and golden files too large for the repository, kept in a
// directory named shared beside the repository (../shared from the
// module root) — for tests. A test that needs it calls Path, which skips
// the test with a message naming the missing file when the checkout is
// absent, so `go test ./...` passes on a plain clone. The product never
// reads it.
package sharedtest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// EnvVar overrides where the shared checkout is (default: ../shared
// beside the module root).
const EnvVar = "SPINENET_SHARED"

var root = sync.OnceValue(func() string {
	if dir := os.Getenv(EnvVar); dir != "" {
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
})

// Path returns the path of rel (slash-separated, e.g.
// "golden/cocoeval-coco128/expected_stats.json") inside the shared
// checkout. If it or any of also (more files the test needs, relative to
// the same root) is missing, the test is skipped, saying which file and
// where it was looked for.
func Path(t testing.TB, rel string, also ...string) string {
	t.Helper()
	base := root()
	for _, r := range append([]string{rel}, also...) {
		p := filepath.Join(base, filepath.FromSlash(r))
		if _, err := os.Stat(p); err != nil {
			t.Skipf("needs the shared data checkout: %s is absent (set %s to its directory; default ../shared beside the repository)", p, EnvVar)
		}
	}
	return filepath.Join(base, filepath.FromSlash(rel))
}
