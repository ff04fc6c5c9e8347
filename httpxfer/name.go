package httpxfer

import (
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// maxNameLen bounds a saved file's name in bytes, below the 255 of common
// file systems, leaving room for " (12).part.state".
const maxNameLen = 200

// maxExtLen is the longest tail after the last dot that is kept whole when
// a name is shortened: an extension, not a sentence that holds a dot.
const maxExtLen = 16

// SafeName reduces a file name from the network or the user to one path
// element that cannot escape the download directory: no directories, no
// control characters, at most 200 bytes of valid UTF-8, the extension kept
// when the name is shortened. It returns "" when nothing usable is left
// ("", ".", "..", "dir/").
func SafeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(strings.ToValidUTF8(name, ""))
	if len(name) > maxNameLen {
		ext := filepath.Ext(name)
		if len(ext) > maxExtLen {
			ext = ""
		}
		base := name[:maxNameLen-len(ext)]
		for !utf8.ValidString(base) {
			base = base[:len(base)-1] // drop the rune cut in half
		}
		name = base + ext
	}
	if name == "." || name == ".." {
		return ""
	}
	return name
}
