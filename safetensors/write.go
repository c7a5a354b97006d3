package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Write encodes f to w. Every tensor is checked first (known dtype,
// non-negative shape, data length equal to dtype size × element count,
// unique non-reserved names), so nothing is written if f is invalid. Tensors
// appear in the header sorted by name and are laid out in that order; the
// header is padded with spaces to a multiple of 8 bytes; metadata, if any,
// comes first in the header.
func Write(w io.Writer, f *File) error {
	header, order, err := encodeHeader(f)
	if err == nil {
		err = writeEncoded(w, header, order)
	}
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// writeEncoded writes the length prefix, the header and the tensor data.
func writeEncoded(w io.Writer, header []byte, order []Tensor) error {
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, t := range order {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("writing tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// encodeHeader validates f and returns the padded JSON header and the
// tensors in layout (name) order.
func encodeHeader(f *File) ([]byte, []Tensor, error) {
	order := slices.Clone(f.Tensors)
	slices.SortStableFunc(order, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	var b []byte
	b = append(b, '{')
	if len(f.Metadata) > 0 {
		b = appendString(b, metadataKey)
		b = append(b, ":{"...)
		for i, k := range slices.Sorted(maps.Keys(f.Metadata)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, f.Metadata[k])
		}
		b = append(b, '}')
	}
	var offset int
	for i, t := range order {
		switch {
		case t.Name == metadataKey:
			return nil, nil, fmt.Errorf("tensor name %q is reserved", metadataKey)
		case i > 0 && t.Name == order[i-1].Name:
			return nil, nil, fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		if err := t.check(); err != nil {
			return nil, nil, err
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendString(b, t.Name)
		b = append(b, `:{"dtype":`...)
		b = appendString(b, string(t.DType))
		b = append(b, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, int64(offset), 10)
		b = append(b, ',')
		offset += len(t.Data)
		b = strconv.AppendInt(b, int64(offset), 10)
		b = append(b, "]}"...)
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	return b, order, nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // marshaling a string cannot fail
	return append(b, q...)
}

// WriteFile writes f to path crash-safely: the file is written to a
// temporary file in the same directory, synced, renamed over path, and the
// directory is synced. On error the temporary file is removed and any
// existing file at path is left untouched. The file gets mode 0666 minus the
// umask, as with os.Create; the mode of a replaced file is not kept.
func WriteFile(path string, f *File) (err error) {
	header, order, err := encodeHeader(f)
	if err != nil { // fail before touching the disk
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := createTemp(dir, "."+base+".tmp")
	if err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("safetensors: %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := writeEncoded(bw, header, order); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// createTemp creates a new file in dir whose name starts with prefix. Unlike
// os.CreateTemp it uses mode 0666 (before umask), as os.Create would.
func createTemp(dir, prefix string) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("cannot create a temporary file in %s", dir)
}

// syncDir fsyncs a directory so that a rename inside it is durable.
// Windows cannot sync directories; there it is a no-op.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
