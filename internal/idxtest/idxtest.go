// Package idxtest builds IDX files (the MNIST format) for tests.
package idxtest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
)

// Encode returns an IDX file: the magic number, the dimensions (big-endian
// uint32s) and the body.
func Encode(magic uint32, dims []uint32, body []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(body)
	return b.Bytes()
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}
