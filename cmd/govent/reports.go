package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The reports of conform, netsim and workload (--json FILE, --junit FILE,
// --report DIR) are written when the run ends, which can be hours later
// (conform --pace 30s against gtk-gnutella, netsim's default 10 minutes):
// reportFile and reportDir check, before the run, that they can be, so
// that a mistyped path is said at once and not after the run, its figures
// lost.

// reportFile: the value is empty, "-" (standard output), or a file name
// in a directory that exists.
func reportFile(flag string) flagRule {
	return each(flag, func(s string) string {
		if s == "" || s == "-" {
			return ""
		}
		if fi, err := os.Stat(s); err == nil && fi.IsDir() {
			return "is a directory; want a file name"
		}
		dir := filepath.Dir(s)
		fi, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Sprintf("no directory %s to write it in", dir)
		case err != nil:
			return err.Error()
		case !fi.IsDir():
			return fmt.Sprintf("%s is not a directory", dir)
		}
		return ""
	})
}

// reportDir: the value is empty or a directory, which is made now if
// missing (the report would make it at the end).
func reportDir(flag string) flagRule {
	return each(flag, func(s string) string {
		if s == "" {
			return ""
		}
		if err := os.MkdirAll(s, 0o755); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return fmt.Sprintf("%s %s: %v", pe.Op, pe.Path, pe.Err)
			}
			return err.Error()
		}
		return ""
	})
}

// writeReport writes a report to name, or to stdout for "-".
func writeReport(name string, stdout io.Writer, write func(io.Writer) error) error {
	if name == "-" {
		return write(stdout)
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
