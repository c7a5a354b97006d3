package recipe

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// applySets applies "key=value" settings (Overrides.Set) to the recipe
// text and returns it as YAML. A key is a dotted path of recipe keys
// (train.lr.base_lr); a value is YAML as it would be written in the file
// (0.01, [class_head], {type: cosine}, a string). Paths are those of
// Config's yaml tags; an unknown key is a *ConfigError naming it and the
// keys it could have been.
func applySets(data []byte, sets []string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	if doc.Kind == 0 { // an empty file
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("recipe: the file is not a mapping of keys")
	}
	for _, kv := range sets {
		key, value, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, &ConfigError{Key: kv, Reason: "set: a setting is key=value (e.g. train.lr.base_lr=0.01)"}
		}
		path := strings.Split(key, ".")
		if err := checkKey(reflect.TypeFor[Config](), path, key); err != nil {
			return nil, err
		}
		var v yaml.Node
		if err := yaml.Unmarshal([]byte(value), &v); err != nil {
			return nil, &ConfigError{Key: key, Reason: fmt.Sprintf("set: value %q is not YAML: %v", value, err), Err: err}
		}
		val := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
		if v.Kind == yaml.DocumentNode && len(v.Content) > 0 {
			val = v.Content[0]
		}
		setPath(root, path, val)
	}
	return yaml.Marshal(&doc)
}

// checkKey walks path through the yaml tags of t.
func checkKey(t reflect.Type, path []string, key string) error {
	for i, name := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return &ConfigError{Key: key, Reason: fmt.Sprintf("set: %s holds a value, not keys", strings.Join(path[:i], "."))}
		}
		var known []string
		var next reflect.Type
		for j := range t.NumField() {
			f := t.Field(j)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			known = append(known, tag)
			if tag == name {
				next = f.Type
			}
		}
		if next == nil {
			where := "the recipe"
			if i > 0 {
				where = strings.Join(path[:i], ".")
			}
			slices.Sort(known)
			return &ConfigError{Key: key, Reason: fmt.Sprintf("set: unknown key %q in %s; want one of %s", name, where, strings.Join(known, ", "))}
		}
		t = next
	}
	return nil
}

// setPath sets the value at path in the mapping m, creating mappings on
// the way and replacing what was there.
func setPath(m *yaml.Node, path []string, val *yaml.Node) {
	for i, name := range path {
		at := -1
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].Value == name {
				at = j + 1
			}
		}
		if at < 0 {
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, nil)
			at = len(m.Content) - 1
		}
		if i == len(path)-1 {
			m.Content[at] = val
			return
		}
		if c := m.Content[at]; c == nil || c.Kind != yaml.MappingNode {
			m.Content[at] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		m = m.Content[at]
	}
}
