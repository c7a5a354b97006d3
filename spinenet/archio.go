package spinenet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/spinenet-go/spinenet/internal/readlimit"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Format is an Arch file format.
type Format int

// The formats ReadArch and Write understand.
const (
	JSON Format = iota
	YAML
)

// FormatOf picks the format from a file name: .json is JSON, .yaml and .yml
// are YAML.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return JSON, nil
	case ".yaml", ".yml":
		return YAML, nil
	}
	return 0, fmt.Errorf("spinenet: %s: unknown architecture file type, want .json, .yaml or .yml", path)
}

// ParseArch decodes an Arch in the given format, rejecting unknown fields,
// and validates it.
func ParseArch(data []byte, f Format) (*Arch, error) {
	var a Arch
	switch f {
	case JSON:
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			return nil, err
		}
	case YAML:
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&a); err != nil && err != io.EOF {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("spinenet: unknown format %d", f)
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// MaxArchBytes bounds the size of an architecture file ReadArch reads; a
// 15-block Arch is about 1 KB.
const MaxArchBytes = 1 << 20

// ReadArch reads and validates an Arch from a .json, .yaml or .yml file.
// Errors name the file.
func ReadArch(path string) (*Arch, error) {
	f, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	data, err := readlimit.File(path, MaxArchBytes, "an architecture file")
	if err != nil {
		return nil, err
	}
	a, err := ParseArch(data, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Marshal encodes the Arch in the given format.
func (a *Arch) Marshal(f Format) ([]byte, error) {
	switch f {
	case JSON:
		b, err := json.MarshalIndent(a, "", "  ")
		return append(b, '\n'), err
	case YAML:
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(a); err != nil {
			return nil, err
		}
		return buf.Bytes(), enc.Close()
	}
	return nil, fmt.Errorf("spinenet: unknown format %d", f)
}

// Write stores the Arch in path, in the format its extension names.
func (a *Arch) Write(path string) error {
	f, err := FormatOf(path)
	if err != nil {
		return err
	}
	data, err := a.Marshal(f)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
