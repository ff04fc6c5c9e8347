package fuzz

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/wire"
)

// golden returns the bytes of testdata/golden/<name>.hex: header then
// payload (format in testdata/golden/README.md).
func golden(tb testing.TB, name string) []byte {
	tb.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "golden", name+".hex"))
	require.NoError(tb, err)
	defer f.Close()
	var digits strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	require.NoError(tb, sc.Err())
	s := digits.String()
	require.Zero(tb, len(s)%2, name)
	raw := make([]byte, len(s)/2)
	for i := range raw {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		require.NoError(tb, err, name)
		raw[i] = byte(v)
	}
	return raw
}

// goldenPayload returns a golden vector without its header.
func goldenPayload(tb testing.TB, name string) []byte {
	tb.Helper()
	raw := golden(tb, name)
	require.GreaterOrEqual(tb, len(raw), wire.HeaderLen, name)
	return raw[wire.HeaderLen:]
}

// requireSame fails unless a and b hold the same value. It is
// reflect.DeepEqual except that a nil slice equals an empty one: a decoder
// that reuses its slices (as wire's do) leaves empty, non-nil ones behind,
// and that is no difference in what was parsed.
func requireSame(tb testing.TB, a, b any, msg string) {
	tb.Helper()
	if !same(reflect.ValueOf(a), reflect.ValueOf(b)) {
		tb.Fatalf("%s:\n first: %+v\nsecond: %+v", msg, a, b)
	}
}

func same(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !same(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Array:
		for i := range a.Len() {
			if !same(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range a.NumField() {
			if !same(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return same(a.Elem(), b.Elem())
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		it := a.MapRange()
		for it.Next() {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !same(it.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.String:
		return a.String() == b.String()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return a.Pointer() == b.Pointer()
	}
	panic(fmt.Sprintf("fuzz: same: unhandled kind %s", a.Kind()))
}

// chunkReader returns its data in pieces whose sizes come from a
// deterministic generator seeded by the fuzz input, so a failing run
// repeats. Pieces are 1 to maxChunk bytes; now and then a read returns
// nothing, as a slow socket may.
type chunkReader struct {
	data     []byte
	state    uint64
	maxChunk int
}

func newChunkReader(data []byte, seed uint64, maxChunk int) *chunkReader {
	return &chunkReader{data: data, state: seed | 1, maxChunk: maxChunk}
}

// next is xorshift64: cheap, deterministic, good enough to pick cut points.
func (c *chunkReader) next() uint64 {
	c.state ^= c.state << 13
	c.state ^= c.state >> 7
	c.state ^= c.state << 17
	return c.state
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	r := c.next()
	if r%16 == 0 {
		return 0, nil
	}
	n := min(len(p), len(c.data), 1+int(r>>8)%c.maxChunk)
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// requireBytes is require.Equal for byte slices with nil equal to empty,
// as bytes.Equal has it (testify tells them apart).
func requireBytes(tb testing.TB, want, got []byte, msgAndArgs ...any) {
	tb.Helper()
	if !bytes.Equal(want, got) {
		require.Equal(tb, want, got, msgAndArgs...)
	}
}
