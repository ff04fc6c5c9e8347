package fuzz

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire/linkzip"
)

// inflateResult is what reading a linkzip.Reader to its end gave.
type inflateResult struct {
	Out   []byte
	Class string
	Stats linkzip.Stats
}

// inflateAll reads r to its first error in reads of bufSize bytes,
// checking the bomb guard's bound after every read: the plain bytes never
// run more than one window ahead of ratio times the compressed bytes.
func inflateAll(t *testing.T, r *linkzip.Reader, inLen int, ratio, window int64, bufSize int) inflateResult {
	var res inflateResult
	buf := make([]byte, bufSize)
	empty := 0
	for {
		n, err := r.Read(buf)
		res.Out = append(res.Out, buf[:n]...)
		st := r.Stats()
		require.LessOrEqual(t, st.Compressed, uint64(inLen), "consumed more than the input")
		require.LessOrEqual(t, int64(len(res.Out)), ratio*int64(st.Compressed)+window,
			"handed out %d bytes inflated from %d, past the bomb guard", len(res.Out), st.Compressed)
		if !errors.Is(err, linkzip.ErrBomb) {
			// The read that trips the guard counts what it inflated but
			// hands none of it out.
			require.Equal(t, uint64(len(res.Out)), st.Plain, "Stats.Plain")
		}
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				res.Class = "eof"
			case errors.Is(err, linkzip.ErrBomb):
				res.Class = "bomb"
			case errors.Is(err, linkzip.ErrCorrupt):
				res.Class = "corrupt"
			default:
				t.Fatalf("Read: error outside ErrBomb and ErrCorrupt: %v", err)
			}
			n2, err2 := r.Read(buf)
			require.Zero(t, n2, "Read after an error")
			require.Equal(t, err, err2, "errors are sticky")
			res.Stats = st
			return res
		}
		if n == 0 {
			empty++
			require.Less(t, empty, 1000, "Read keeps returning nothing")
		}
	}
}

// FuzzLinkzip inflates arbitrary bytes: no panic, errors wrap the
// package's sentinels, the output is a prefix of what plain zlib inflates
// from the same bytes (all of it when the stream ends cleanly), input split
// anywhere reads the same, and the bomb guard bounds the output.
func FuzzLinkzip(f *testing.F) {
	var sync bytes.Buffer
	zw := zlib.NewWriter(&sync)
	_, _ = zw.Write([]byte("GNUTELLA descriptors"))
	_ = zw.Flush()
	f.Add(sync.Bytes(), uint32(0), uint16(0))
	f.Add(sync.Bytes()[:sync.Len()-2], uint32(0), uint16(0)) // cut mid-block
	f.Add([]byte{0x78, 0x9c}, uint32(0), uint16(0))
	f.Add([]byte{0x68, 0x81, 0x01, 0x00}, uint32(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, window uint32, ratio uint16) {
		cfg := linkzip.ReaderConfig{MaxRatio: int64(ratio), Window: int64(window % (1 << 20))}
		effRatio, effWindow := cfg.MaxRatio, cfg.Window
		if effRatio <= 0 {
			effRatio = linkzip.DefaultMaxRatio
		}
		if effWindow <= 0 {
			effWindow = linkzip.DefaultWindow
		}
		bufSize := 1 + int(window>>20)%8192
		whole := inflateAll(t, linkzip.NewReader(bytes.NewReader(data), cfg), len(data), effRatio, effWindow, bufSize)

		// Plain zlib, told to stop one byte past our output.
		var ref []byte
		if zr, err := zlib.NewReader(bytes.NewReader(data)); err == nil {
			ref, _ = io.ReadAll(io.LimitReader(zr, int64(len(whole.Out))+1))
		}
		require.True(t, bytes.HasPrefix(ref, whole.Out), "linkzip gave bytes zlib does not")
		if whole.Class == "eof" {
			requireBytes(t, ref, whole.Out, "a clean end must have given everything")
		}

		split := inflateAll(t, linkzip.NewReader(newChunkReader(data, uint64(len(data))*0x9e3779b97f4a7c15, 1+int(ratio)%300), cfg),
			len(data), effRatio, effWindow, bufSize)
		requireSame(t, whole, split, "input split at other points")
	})
}
