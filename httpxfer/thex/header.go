package thex

import (
	"fmt"
	"strings"

	"github.com/govent/govent/wire"
)

// maxThexURI bounds an X-Thex-URI value; gtk-gnutella's is 100 bytes.
const maxThexURI = 1024

// FormatThexURI returns the value of the X-Thex-URI header gtk-gnutella
// sends with a file (core/uploads.c): the path at which its tree is
// served, "/uri-res/N2X?urn:sha1:<base32>", then ';' and the root in
// base32.
func FormatThexURI(sha1 wire.SHA1, root wire.TTH) string {
	return "/uri-res/N2X?" + sha1.String() + ";" + root.Base32()
}

// ParseThexURI parses an X-Thex-URI value "<absolute path>;<root in
// base32>" as gtk-gnutella reads it (download_handle_thex_uri_header): the
// path must start with '/', spaces around the ';' are allowed. Without a
// ';' the value is the path alone and hasRoot is false: the root must then
// come from elsewhere (a bitprint in X-Content-URN, gtk-gnutella says).
func ParseThexURI(v string) (path string, root wire.TTH, hasRoot bool, err error) {
	if len(v) > maxThexURI {
		return "", root, false, fmt.Errorf("%w: X-Thex-URI of %d bytes, over %d", ErrMalformed, len(v), maxThexURI)
	}
	v = strings.TrimSpace(v)
	path, b32, hasRoot := strings.Cut(v, ";")
	path = strings.TrimRight(path, " \t")
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n\x00") {
		return "", root, false, fmt.Errorf("%w: X-Thex-URI %.64q: want an absolute path", ErrMalformed, v)
	}
	if !hasRoot {
		return path, root, false, nil
	}
	root, err = wire.ParseTTHBase32([]byte(strings.TrimSpace(b32)))
	if err != nil {
		return "", root, false, fmt.Errorf("%w: X-Thex-URI: %w", ErrMalformed, err)
	}
	return path, root, true, nil
}
