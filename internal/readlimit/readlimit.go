// Package readlimit reads small files whole, refusing one larger than a
// limit before reading it, so a path that names the wrong file (a dataset,
// a device) fails fast with a clear error instead of exhausting memory.
package readlimit

import (
	"fmt"
	"io"
	"os"
)

// File reads path, or fails naming the path and the limit when it holds
// more than limit bytes. what names the kind of file for the message
// ("a recipe file").
func File(path string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes; is it %s?", path, limit, what)
	}
	return data, nil
}
