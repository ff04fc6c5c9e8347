package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/govent/govent/httpxfer/atomicfile"
	"github.com/govent/govent/httpxfer/smallfile"
)

// AddrFile, in the data directory, holds the address the control API
// listens on while the daemon runs, so that clients find a daemon started
// with port 0 (or another --control) from its data directory alone.
const AddrFile = "control-addr"

// DefaultAddr is where the control API listens unless told otherwise.
const DefaultAddr = "127.0.0.1:6347"

// WriteAddr records addr in dir.
func WriteAddr(dir, addr string) error {
	if err := atomicfile.Write(filepath.Join(dir, AddrFile), []byte(addr+"\n")); err != nil {
		return fmt.Errorf("control: address file: %w", err)
	}
	return nil
}

// RemoveAddr removes the address file, as a daemon stops.
func RemoveAddr(dir string) error {
	err := os.Remove(filepath.Join(dir, AddrFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// ReadAddr returns the address a daemon recorded in dir, "" when none runs
// (or it did not stop cleanly and a client's dial will tell).
func ReadAddr(dir string) (string, error) {
	b, err := smallfile.Read(filepath.Join(dir, AddrFile), maxSmallFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("control: address file: %w", err)
	}
	addr := strings.TrimSpace(string(b))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("control: address file %s: %q is no HOST:PORT", filepath.Join(dir, AddrFile), addr)
	}
	return addr, nil
}
