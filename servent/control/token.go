package control

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/httpxfer/smallfile"
)

// maxSmallFile bounds what is read of the token and address files, one
// short line each: a file much longer is not ours, and must not take the
// memory.
const maxSmallFile = 1 << 10

// TokenFile is the name of the token file in the data directory.
const TokenFile = "control-token"

// tokenBytes is the token's entropy; it is written in hex.
const tokenBytes = 32

// ErrTokenPerm: the token file can be read by other users, so it proves
// nothing about who holds it.
var ErrTokenPerm = errors.New("control: token file is readable by other users")

// ErrNoToken: there is no token file (no daemon ever ran with this data
// directory).
var ErrNoToken = errors.New("control: no token file")

// LoadOrCreateToken returns the token in dir, creating it on first use. A
// token that exists is kept, so that a restarted daemon answers the same
// clients. atomicfile.Create makes the file whole with mode 0600, so no
// reader ever sees it empty or with looser permissions, and two daemons
// starting at once agree on one token.
func LoadOrCreateToken(dir string) (string, error) {
	if t, err := ReadToken(dir); !errors.Is(err, ErrNoToken) {
		return t, err
	}
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("control: making a token: %w", err)
	}
	tok := hex.EncodeToString(b)
	if err := atomicfile.Create(filepath.Join(dir, TokenFile), []byte(tok+"\n"), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ReadToken(dir) // another daemon made one first
		}
		return "", fmt.Errorf("control: token file: %w", err)
	}
	return tok, nil
}

// ReadToken reads the token in dir, refusing a file that other users may
// read or that is not a plain file.
func ReadToken(dir string) (string, error) {
	path := filepath.Join(dir, TokenFile)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w %s", ErrNoToken, path)
	}
	if err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("control: token file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has mode %04o, want 0600", ErrTokenPerm, path, fi.Mode().Perm())
	}
	b, err := smallfile.Read(path, maxSmallFile)
	if err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) != 2*tokenBytes {
		return "", fmt.Errorf("control: token file %s holds no token", path)
	}
	return tok, nil
}

// tokenOK compares in constant time, so the answer's timing says nothing
// about how much of a guess was right.
func tokenOK(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
