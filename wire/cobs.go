package wire

import "fmt"

// COBS (Consistent Overhead Byte Stuffing, Cheshire and Baker, SIGCOMM '97)
// is GGEP encoding 1: it removes every NUL byte from extension data, so that a
// GGEP block can sit inside the NUL-terminated extension area of a QueryHit
// result.
//
// The encoder follows gtk-gnutella's cobs.c (Listing 1 of the paper): the
// input gets a logical NUL appended, each run of up to 254 non-NUL bytes is
// preceded by its length plus one, and when the input ends right after a
// full 254-byte run (code 0xFF) the trailing 0x01 code is left out. The
// decoder accepts both that form and the paper's form with the 0x01.

// COBSEncode appends the COBS encoding of src to dst and returns the
// extended slice. The output holds no NUL byte.
func COBSEncode(dst, src []byte) []byte {
	codeAt := len(dst)
	dst = append(dst, 0) // placeholder for the first code byte
	code, lastCode := byte(1), byte(0)
	finish := func() {
		dst[codeAt] = code
		lastCode = code
		codeAt = len(dst)
		dst = append(dst, 0)
		code = 1
	}
	for _, c := range src {
		if c == 0 {
			finish()
			continue
		}
		dst = append(dst, c)
		code++
		if code == 0xFF {
			finish()
		}
	}
	if lastCode == 0xFF && code == 1 {
		return dst[:codeAt] // no data after a full run: the final 0x01 is implied
	}
	dst[codeAt] = code
	return dst
}

// COBSDecode appends the decoding of the COBS data src to dst. It fails,
// wrapping ErrMalformed, on a NUL byte, on a code that runs past the end of
// src, and on empty input (every encoding has at least one code byte).
func COBSDecode(dst, src []byte) ([]byte, error) {
	if len(src) == 0 {
		return dst, fmt.Errorf("%w: cobs: empty input", ErrMalformed)
	}
	for i := 0; i < len(src); {
		code := src[i]
		if code == 0 {
			return dst, fmt.Errorf("%w: cobs: NUL code byte at offset %d", ErrMalformed, i)
		}
		i++
		n := int(code) - 1
		if n > len(src)-i {
			return dst, fmt.Errorf("%w: cobs: code 0x%02x at offset %d runs past the end", ErrMalformed, code, i-1)
		}
		for j, c := range src[i : i+n] {
			if c == 0 {
				return dst, fmt.Errorf("%w: cobs: NUL data byte at offset %d", ErrMalformed, i+j)
			}
		}
		dst = append(dst, src[i:i+n]...)
		i += n
		// Every code below 0xFF stands for a NUL, except the last one: that
		// is the logical NUL the encoder appended.
		if code < 0xFF && i < len(src) {
			dst = append(dst, 0)
		}
	}
	return dst, nil
}
