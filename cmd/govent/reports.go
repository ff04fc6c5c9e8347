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
// reportFile and makableDir check, before the run, that they can be, so
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

// makableDir: the value is empty or a directory that is there or can be
// made, in a directory we may write in: a report's --report, get's and
// search's --dir, run's --data. It makes nothing: the command makes it
// when it writes there, and a command that refuses to run (a later check
// failing) leaves no empty directory behind.
func makableDir(flag string) flagRule {
	return each(flag, func(s string) string {
		if s == "" {
			return ""
		}
		nearest, why, err := notADirectory(s)
		switch {
		case err != nil:
			return err.Error()
		case why != "":
			return why
		}
		if err := unix.Access(nearest, unix.W_OK|unix.X_OK); err != nil {
			return fmt.Sprintf("cannot write in %s: %v", nearest, err)
		}
		return ""
	})
}

// notADirectory says why s cannot be a directory: "is not a directory"
// when s is a file, "F is not a directory" when a parent F of s is one, ""
// when s is a directory or can be made one. nearest is s or the nearest
// of its parents that exists; err is a failure to look (not ENOENT or
// ENOTDIR), for the caller to say or not.
func notADirectory(s string) (nearest, why string, err error) {
	// ENOTDIR: one of s's parents is a file, which the loop finds.
	nearest = filepath.Clean(s)
	fi, err := os.Stat(nearest)
	for (errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR)) && filepath.Dir(nearest) != nearest {
		nearest = filepath.Dir(nearest)
		fi, err = os.Stat(nearest)
	}
	switch {
	case err != nil:
		return nearest, "", err
	case !fi.IsDir() && nearest == filepath.Clean(s):
		return nearest, "is not a directory", nil
	case !fi.IsDir():
		return nearest, fmt.Sprintf("%s is not a directory", nearest), nil
	}
	return nearest, "", nil
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
