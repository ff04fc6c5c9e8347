package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
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

// reportDir: the value is empty or a directory that is there or can be
// made, in a directory we may write in. It makes nothing: the report
// makes it at the end, and a command that refuses to run (a later check
// failing) leaves no empty directory behind.
func reportDir(flag string) flagRule {
	return each(flag, func(s string) string {
		if s == "" {
			return ""
		}
		// The nearest of s and its parents that exists (ENOTDIR: one
		// of them is a file, which the loop finds).
		dir := filepath.Clean(s)
		fi, err := os.Stat(dir)
		for (errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR)) && filepath.Dir(dir) != dir {
			dir = filepath.Dir(dir)
			fi, err = os.Stat(dir)
		}
		switch {
		case err != nil:
			return err.Error()
		case !fi.IsDir() && dir == filepath.Clean(s):
			return "is not a directory"
		case !fi.IsDir():
			return fmt.Sprintf("%s is not a directory", dir)
		}
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			return fmt.Sprintf("cannot write in %s: %v", dir, err)
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
