package httpxfer

import (
	"crypto/sha1"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/govent/govent/wire"
)

// maxCopies bounds the numbered names tried for a final file.
const maxCopies = 1000

// numberedName is the n-th name for a file: name itself, then
// "name (1).ext", "name (2).ext" and so on.
func numberedName(name string, n int) string {
	if n == 0 {
		return name
	}
	ext := filepath.Ext(name)
	return strings.TrimSuffix(name, ext) + " (" + strconv.Itoa(n) + ")" + ext
}

// findComplete looks in the download directory for the file already
// complete: a regular file of the right size and SHA-1 under the final
// name or one of its numbered copies (up to the first name not taken),
// as an earlier download left it. Only files of the right size are
// hashed, so the cost is at most reading those. Without a known SHA-1
// nothing can be verified and nothing is found.
func (j *job) findComplete() (string, bool) {
	if j.req.SHA1 == (wire.SHA1{}) {
		return "", false
	}
	for n := range maxCopies {
		p := filepath.Join(j.cfg.Dir, numberedName(j.name, n))
		fi, err := os.Lstat(p)
		if err != nil {
			return "", false
		}
		if fi.Mode().IsRegular() && fi.Size() == j.size && hasSHA1(p, j.req.SHA1) {
			return p, true
		}
	}
	return "", false
}

func hasSHA1(path string, want wire.SHA1) bool {
	f, err := openNoFollow(path, os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	var got wire.SHA1
	h.Sum(got[:0])
	return got == want
}
