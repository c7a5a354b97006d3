package data

import (
	"fmt"
	"image"
	"sync"
)

// ImageSource supplies the pixels of a sample. Implementations must be safe
// for concurrent use: a Loader calls Open from several goroutines.
type ImageSource interface {
	// Open returns the sample's image. dst is a buffer the caller owns and
	// that Open may reuse (see ToRGB); the result is valid until the caller
	// passes the same buffer again.
	Open(s *Sample, dst *RGB) (*RGB, error)
}

// FileSource decodes Sample.Path (JPEG or PNG). It is the Loader's default.
type FileSource struct{}

// Open implements ImageSource.
func (FileSource) Open(s *Sample, dst *RGB) (*RGB, error) { return DecodeFile(dst, s.Path) }

// MemorySource holds images in memory, keyed by Sample.ID. GenerateShapes
// returns one; the zero value is empty and ready to use.
type MemorySource struct {
	mu     sync.RWMutex
	images map[int64]image.Image
}

// Add stores img as the image of the sample with the given id.
func (m *MemorySource) Add(id int64, img image.Image) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.images == nil {
		m.images = map[int64]image.Image{}
	}
	m.images[id] = img
}

// Image returns the stored image of a sample id, or nil.
func (m *MemorySource) Image(id int64) image.Image {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.images[id]
}

// Open implements ImageSource.
func (m *MemorySource) Open(s *Sample, dst *RGB) (*RGB, error) {
	img := m.Image(s.ID)
	if img == nil {
		return nil, fmt.Errorf("no in-memory image for sample id %d", s.ID)
	}
	return ToRGB(dst, img), nil
}
