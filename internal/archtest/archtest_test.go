// Package archtest checks that the module's imports point one way, as
// docs/architecture.md draws them: every package has a rank, and a
// package imports only packages of lower rank. A new package must be
// given a rank here (and a place in the document) before its test passes.
package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/spinenet-go/spinenet"

// rank orders the packages from the kernels (low) to the command (high).
var rank = map[string]int{
	// Leaves: standard library only.
	"internal/cpu": 0, "detection/box": 0, "safetensors": 0, "internal/atomicfile": 0,
	"internal/sharedtest": 0, "internal/leaktest": 0, "internal/readlimit": 0, "internal/racebuild": 0, "internal/pgtest": 0, "internal/idxtest": 0, "internal/stats": 0, "configs": 0, "data/pipeline": 0,
	"cocoeval": 1, "internal/annotate": 1, "kernels": 1,
	"tensor":   2,
	"autograd": 3, "data/resample": 3,
	"optim": 4, "internal/gradcheck": 4, "data": 4,
	"nn": 5, "internal/toy": 5, "data/labeled": 5,
	"spinenet": 6, "infer": 6, "train": 6, "data/mosaic": 6,
	"detection": 7, "classify": 7, "search/space": 7,
	"maskrcnn": 8, "search/algo": 8,
	"models": 9, "search/replay": 9,
	"predict": 10,
	"recipe":  11, "internal/bench": 11,
	"search/proxy":      12,
	"search/engine":     13,
	"search/report":     14,
	"internal/cli":      15,
	"cmd/spinenet":      16,
	"internal/archtest": 17,
}

func TestImportsPointOneWay(t *testing.T) {
	root := filepath.Join("..", "..")
	imports := map[string]map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if imports[pkg] == nil {
			imports[pkg] = map[string]bool{}
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if dep, ok := strings.CutPrefix(p, module+"/"); ok {
				imports[pkg][dep] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil || len(imports) < 10 {
		t.Fatalf("did not find the module's packages under %s (%d found)", root, len(imports))
	}
	pkgs := make([]string, 0, len(imports))
	for p := range imports {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		r, ok := rank[p]
		if !ok {
			t.Errorf("package %s has no rank: place it in docs/architecture.md and in rank here", p)
			continue
		}
		for dep := range imports[p] {
			if dr, ok := rank[dep]; ok && dr >= r {
				t.Errorf("%s (rank %d) imports %s (rank %d): imports must point down", p, r, dep, dr)
			}
		}
	}
}
