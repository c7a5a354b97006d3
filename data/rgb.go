package data

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io"
	"os"
)

// RGB is an 8-bit RGB image with interleaved samples: pixel (x, y) is
// Pix[3*(y*Width+x) : 3*(y*Width+x)+3]. Transforms read RGB images; ToRGB
// converts any image.Image.
type RGB struct {
	// Width and Height are the image size in pixels.
	Width, Height int
	// Pix holds 3·Width·Height bytes, R, G, B per pixel, rows top to
	// bottom.
	Pix []uint8
}

// resize makes dst w×h, reusing its buffer when large enough.
func (dst *RGB) resize(w, h int) {
	n := 3 * w * h
	if cap(dst.Pix) < n {
		dst.Pix = make([]uint8, n)
	}
	dst.Pix = dst.Pix[:n]
	dst.Width, dst.Height = w, h
}

// ToRGB converts img to RGB, writing into dst (which may be nil) and reusing
// its buffer when it is large enough; it returns dst. The image's bounds are
// translated so that its top-left corner becomes (0, 0).
//
// JPEG (YCbCr with any chroma subsampling, grayscale, CMYK), PNG (gray, RGB,
// RGBA, paletted) and in-memory RGBA images take fast paths. Alpha is dropped:
// NRGBA colours are used as stored, and premultiplied RGBA colours as stored,
// which is the image composited over black.
func ToRGB(dst *RGB, img image.Image) *RGB {
	if dst == nil {
		dst = new(RGB)
	}
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	dst.resize(w, h)
	out := dst.Pix
	switch m := img.(type) {
	case *image.YCbCr:
		ycbcrToRGB(out, m)
	case *image.Gray:
		for y := range h {
			src := m.Pix[(y)*m.Stride : y*m.Stride+w]
			o := out[3*w*y : 3*w*(y+1)]
			for x, v := range src {
				o[3*x], o[3*x+1], o[3*x+2] = v, v, v
			}
		}
	case *image.RGBA:
		rgbaToRGB(out, m.Pix, m.Stride, w, h)
	case *image.NRGBA:
		rgbaToRGB(out, m.Pix, m.Stride, w, h)
	case *image.CMYK:
		for y := range h {
			src := m.Pix[y*m.Stride : y*m.Stride+4*w]
			o := out[3*w*y : 3*w*(y+1)]
			for x := range w {
				s := src[4*x : 4*x+4 : 4*x+4]
				o[3*x], o[3*x+1], o[3*x+2] = color.CMYKToRGB(s[0], s[1], s[2], s[3])
			}
		}
	case *image.Paletted:
		var lut [256][3]uint8
		for i, c := range m.Palette {
			rr, gg, bb, _ := c.RGBA()
			lut[i] = [3]uint8{uint8(rr >> 8), uint8(gg >> 8), uint8(bb >> 8)}
		}
		for y := range h {
			src := m.Pix[y*m.Stride : y*m.Stride+w]
			o := out[3*w*y : 3*w*(y+1)]
			for x, v := range src {
				c := lut[v]
				o[3*x], o[3*x+1], o[3*x+2] = c[0], c[1], c[2]
			}
		}
	default:
		i := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
				out[i], out[i+1], out[i+2] = c.R, c.G, c.B
				i += 3
			}
		}
	}
	return dst
}

func rgbaToRGB(out, pix []uint8, stride, w, h int) {
	for y := range h {
		src := pix[y*stride : y*stride+4*w]
		o := out[3*w*y : 3*w*(y+1)]
		for x := range w {
			s := src[4*x : 4*x+3 : 4*x+3]
			d := o[3*x : 3*x+3 : 3*x+3]
			d[0], d[1], d[2] = s[0], s[1], s[2]
		}
	}
}

// ycbcrToRGB converts with the same 16.16 fixed-point arithmetic as
// color.YCbCrToRGB (JFIF full-range BT.601), so results match the standard
// library bit for bit.
func ycbcrToRGB(out []uint8, m *image.YCbCr) {
	r := m.Rect
	w := r.Dx()
	var hs, vs uint // chroma subsampling shifts
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs = 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio440:
		vs = 1
	case image.YCbCrSubsampleRatio411:
		hs = 2
	case image.YCbCrSubsampleRatio410:
		hs, vs = 2, 1
	}
	cx0 := r.Min.X >> hs
	for y := r.Min.Y; y < r.Max.Y; y++ {
		yrow := m.Y[(y-r.Min.Y)*m.YStride:]
		crow := (y>>vs - r.Min.Y>>vs) * m.CStride
		cb := m.Cb[crow:]
		cr := m.Cr[crow:]
		o := out[3*w*(y-r.Min.Y) : 3*w*(y-r.Min.Y+1)]
		for i := range w {
			x := r.Min.X + i
			ci := x>>hs - cx0
			yy1 := int32(yrow[i]) * 0x10101
			cb1 := int32(cb[ci]) - 128
			cr1 := int32(cr[ci]) - 128
			rr := yy1 + 91881*cr1
			gg := yy1 - 22554*cb1 - 46802*cr1
			bb := yy1 + 116130*cb1
			d := o[3*i : 3*i+3 : 3*i+3]
			d[0], d[1], d[2] = clampFixed(rr), clampFixed(gg), clampFixed(bb)
		}
	}
}

func clampFixed(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// MaxImagePixels is the largest image, in pixels (width × height), that
// DecodeFile and Decode accept: 64 MPixel by default. Larger images are
// refused from their header, before any pixel memory is allocated; set it
// higher to load bigger images.
var MaxImagePixels = 64 << 20

// DecodeFile decodes a JPEG or PNG file into dst (see ToRGB). Errors name
// the file.
func DecodeFile(dst *RGB, path string) (*RGB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := Decode(dst, bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return img, nil
}

// Decode decodes a JPEG or PNG stream into dst (see ToRGB). The header is
// read first; an empty image (a zero width or height) and one of more than
// MaxImagePixels pixels are refused.
func Decode(dst *RGB, r io.Reader) (*RGB, error) {
	img, err := DecodeImage(r)
	if err != nil {
		return nil, err
	}
	return ToRGB(dst, img), nil
}

// DecodeImage decodes a JPEG or PNG stream as an image.Image, reading the
// header first and refusing an image of more than MaxImagePixels pixels
// before decoding it.
func DecodeImage(r io.Reader) (image.Image, error) {
	var head bytes.Buffer
	cfg, _, err := image.DecodeConfig(io.TeeReader(r, &head))
	if err != nil {
		return nil, fmt.Errorf("decode header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("image is %d×%d pixels: an empty image", cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(MaxImagePixels) {
		return nil, fmt.Errorf("image is %d×%d pixels, more than data.MaxImagePixels = %d", cfg.Width, cfg.Height, MaxImagePixels)
	}
	img, _, err := image.Decode(io.MultiReader(&head, r))
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return img, nil
}
