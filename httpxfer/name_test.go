package httpxfer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestSafeName(t *testing.T) {
	tests := map[string]string{
		"penny lane.mp3":      "penny lane.mp3",
		"../../etc/passwd":    "passwd",
		`C:\Windows\evil.exe`: "evil.exe",
		"a\x00b\nc.ogg":       "abc.ogg",
		"":                    "",
		"..":                  "",
		".":                   "",
		"dir/":                "",
		"  ":                  "",
		// Shortened to 200 bytes, the extension kept.
		strings.Repeat("x", 300) + ".ogg": strings.Repeat("x", 196) + ".ogg",
		strings.Repeat("x", 300):          strings.Repeat("x", 200),
		// An "extension" too long to be one is cut like the rest.
		"a." + strings.Repeat("y", 300): "a." + strings.Repeat("y", 198),
	}
	for in, want := range tests {
		assert.Equal(t, want, SafeName(in), "%q", in)
	}
	got := SafeName(strings.Repeat("é", 150) + ".flac")
	assert.True(t, utf8.ValidString(got))
	assert.True(t, strings.HasSuffix(got, "é.flac"), got)
	assert.LessOrEqual(t, len(got), 200)
}
