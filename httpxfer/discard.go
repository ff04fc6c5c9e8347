package httpxfer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Discard removes what an unfinished download of name left in the download
// directory (its .part and state file), for a download the user cancelled
// rather than paused. It fails with ErrBusy while a download of name runs
// in this Downloader; a name with nothing left is not an error.
func (d *Downloader) Discard(name string) error {
	name = sanitizeName(name)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.active[name] {
		return fmt.Errorf("discard %q: %w", name, ErrBusy)
	}
	part := filepath.Join(d.cfg.Dir, name+".part")
	var errs []error
	for _, p := range []string{part + ".state", part} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("discard %q: %w", name, err)
	}
	return nil
}
