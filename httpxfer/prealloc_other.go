//go:build !linux

package httpxfer

import "os"

// preallocate does nothing here: blocks come as bytes are written.
func preallocate(*os.File, int64) {}
