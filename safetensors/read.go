package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// maxHeaderSize is the largest header accepted, as in the reference
// implementation (100 MB).
const maxHeaderSize = 100_000_000

// metadataKey is the reserved header key holding the string→string metadata.
const metadataKey = "__metadata__"

// ReadFile reads and validates the safetensors file at path. Errors name the
// file.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := read(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return f, nil
}

// Read reads and validates a safetensors file from r, consuming r to EOF.
// The returned tensors' Data slices share one buffer.
func Read(r io.Reader) (*File, error) {
	f, err := read(r, -1)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// tensorInfo is one tensor's header entry. Pointers distinguish missing
// fields from zero values.
type tensorInfo struct {
	DType       *DType   `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// entry is a decoded and checked header entry.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end int64
}

// read parses a safetensors stream; size is the total stream size, or -1 if
// unknown.
func read(r io.Reader, size int64) (*File, error) {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeaderSize {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte limit", n, maxHeaderSize)
	}
	if size >= 0 && n > uint64(size-8) {
		return nil, fmt.Errorf("header length %d exceeds the file size %d", n, size)
	}
	header, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	if uint64(len(header)) != n {
		return nil, fmt.Errorf("header length %d exceeds the file size %d", n, 8+len(header))
	}
	meta, entries, err := parseHeader(header)
	if err != nil {
		return nil, err
	}

	var data []byte
	if size >= 0 {
		// Refuse offsets beyond the file before allocating its data.
		dataSize := size - 8 - int64(n)
		for _, e := range entries {
			if e.end > dataSize {
				return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] out of range: data buffer is %d bytes", e.name, e.begin, e.end, dataSize)
			}
		}
		data = make([]byte, dataSize)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("reading data: %w", err)
		}
	} else if data, err = io.ReadAll(r); err != nil {
		return nil, fmt.Errorf("reading data: %w", err)
	}

	// The tensors must tile the data buffer exactly: no overlaps, no holes.
	byOffset := slices.Clone(entries)
	slices.SortStableFunc(byOffset, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end))
	})
	var pos int64
	var prev string
	for _, e := range byOffset {
		switch {
		case e.begin < pos:
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q ending at %d", e.name, e.begin, e.end, prev, pos)
		case e.begin > pos:
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a hole at bytes [%d, %d) of the data buffer", e.name, e.begin, e.end, pos, e.begin)
		case e.end > int64(len(data)):
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] out of range: data buffer is %d bytes", e.name, e.begin, e.end, len(data))
		}
		pos, prev = e.end, e.name
	}
	if pos != int64(len(data)) {
		return nil, fmt.Errorf("data buffer is %d bytes but tensors cover only %d (trailing bytes)", len(data), pos)
	}

	f := &File{Metadata: meta, Tensors: make([]Tensor, len(entries))}
	for i, e := range entries {
		f.Tensors[i] = Tensor{Name: e.name, DType: e.dtype, Shape: e.shape, Data: data[e.begin:e.end:e.end]}
	}
	return f, nil
}

// parseHeader decodes the JSON header, rejecting duplicate names and checking
// every entry on its own (dtype, shape, offsets consistent with both).
func parseHeader(header []byte) (map[string]string, []entry, error) {
	if len(header) == 0 || header[0] != '{' {
		return nil, nil, errors.New("invalid header: JSON object must start at the first byte")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("invalid header JSON: %w", err)
	}
	var meta map[string]string
	var entries []entry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid header JSON: %w", err)
		}
		name := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, nil, fmt.Errorf("duplicate header key %q", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("invalid header JSON at key %q: %w", name, err)
		}
		if name == metadataKey {
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, fmt.Errorf("%s: must be an object of strings: %w", metadataKey, err)
			}
			continue
		}
		e, err := parseEntry(name, raw)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // closing brace
		return nil, nil, fmt.Errorf("invalid header JSON: %w", err)
	}
	if len(bytes.TrimRight(header[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, nil, errors.New("invalid header JSON: trailing data after the object")
	}
	return meta, entries, nil
}

// parseEntry decodes and checks one tensor's header entry.
func parseEntry(name string, raw json.RawMessage) (entry, error) {
	var info tensorInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return entry{}, err
	}
	switch {
	case info.DType == nil:
		return entry{}, errors.New(`missing field "dtype"`)
	case info.Shape == nil:
		return entry{}, errors.New(`missing field "shape"`)
	case info.DataOffsets == nil:
		return entry{}, errors.New(`missing field "data_offsets"`)
	case len(*info.DataOffsets) != 2:
		return entry{}, fmt.Errorf("data_offsets %v: want [begin, end]", *info.DataOffsets)
	}
	shape := make([]int, len(*info.Shape))
	for i, d := range *info.Shape {
		if d < 0 {
			return entry{}, fmt.Errorf("shape %v: negative dimension %d at index %d", *info.Shape, d, i)
		}
		shape[i] = int(d)
		if int64(shape[i]) != d {
			return entry{}, fmt.Errorf("shape %v: dimension %d overflows int", *info.Shape, d)
		}
	}
	n, err := byteSize(*info.DType, shape)
	if err != nil {
		return entry{}, err
	}
	begin, end := (*info.DataOffsets)[0], (*info.DataOffsets)[1]
	if begin < 0 || end < begin {
		return entry{}, fmt.Errorf("data_offsets [%d, %d] out of range", begin, end)
	}
	if end-begin != int64(n) {
		return entry{}, fmt.Errorf("data_offsets [%d, %d] span %d bytes, dtype %s shape %v needs %d", begin, end, end-begin, *info.DType, shape, n)
	}
	return entry{name: name, dtype: *info.DType, shape: shape, begin: begin, end: end}, nil
}
