package models

import (
	"strings"
	"testing"
)

// Part names pick the tensors their doc comment says, for each head; bad
// names and empty picks are errors naming the part.
func TestSelect(t *testing.T) {
	d, err := Resolve(Request{ID: "49S", FilterSizeScale: 0.25, EndpointsNumFilters: 16, HeadFilters: 16})
	if err != nil {
		t.Fatal(err)
	}
	count := func(head HeadKind, parts ...string) (int, error) {
		t.Helper()
		b, err := d.Build(head, 3)
		if err != nil {
			t.Fatal(err)
		}
		sel, err := d.Select(head, b.Graph, parts)
		return sel.Len(), err
	}
	tests := []struct {
		head  HeadKind
		parts []string
		want  func(name string) bool
	}{
		{RetinaNetHead, []string{"stem"}, func(n string) bool { return strings.HasPrefix(n, "stem/") }},
		{RetinaNetHead, []string{"blocks<4"}, func(n string) bool { return strings.HasPrefix(n, "blocks/2/") || strings.HasPrefix(n, "blocks/3/") }},
		{RetinaNetHead, []string{"blocks>=15"}, func(n string) bool { return strings.HasPrefix(n, "blocks/15/") || strings.HasPrefix(n, "blocks/16/") }},
		{RetinaNetHead, []string{"blocks=5"}, func(n string) bool { return strings.HasPrefix(n, "blocks/5/") }},
		{RetinaNetHead, []string{"backbone"}, func(n string) bool { return !strings.HasPrefix(n, "head/") }},
		{RetinaNetHead, []string{"class_head"}, func(n string) bool { return strings.HasPrefix(n, "head/class/predict/") }},
		{RetinaNetHead, []string{"box_tower", "class_tower"}, func(n string) bool {
			return strings.HasPrefix(n, "head/class/conv") || strings.HasPrefix(n, "head/box/conv")
		}},
		{RetinaNetHead, []string{"bn"}, func(n string) bool {
			return strings.HasSuffix(n, "/gamma") || strings.HasSuffix(n, "/beta") || strings.Contains(n, "/moving_")
		}},
		{Classification, []string{"class_head"}, func(n string) bool { return strings.HasPrefix(n, "head/dense/") }},
		{Classification, []string{"head"}, func(n string) bool { return strings.HasPrefix(n, "head/") }},
	}
	for _, tc := range tests {
		b, err := d.Build(tc.head, 3)
		if err != nil {
			t.Fatal(err)
		}
		sel, err := d.Select(tc.head, b.Graph, tc.parts)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.head, tc.parts, err)
		}
		n := 0
		for name := range b.Graph.StateDict() {
			if sel.Has(name) != tc.want(name) {
				t.Errorf("%s %v: %s selected %v", tc.head, tc.parts, name, sel.Has(name))
			}
			if sel.Has(name) {
				n++
			}
		}
		if n == 0 || n != sel.Len() {
			t.Errorf("%s %v: %d selected, Len %d", tc.head, tc.parts, n, sel.Len())
		}
	}
	for _, tc := range []struct {
		head  HeadKind
		part  string
		error string
	}{
		{RetinaNetHead, "stems", "unknown part"},
		{Classification, "box_head", "unknown part"},
		{RetinaNetHead, "blocks<2", "the model's blocks are 2…16"},
		{RetinaNetHead, "blocks>16", "the model's blocks are 2…16"},
		{RetinaNetHead, "blocks~3", "want blocks, or blocks followed by"},
	} {
		if _, err := count(tc.head, tc.part); err == nil || !strings.Contains(err.Error(), tc.error) || !strings.Contains(err.Error(), tc.part) {
			t.Errorf("%s %q: %v", tc.head, tc.part, err)
		}
	}
}
