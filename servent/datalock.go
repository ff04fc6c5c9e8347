package servent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/govent/govent/httpxfer"
)

// LockFile, in the data directory, is held under an exclusive flock(2)
// from New to Close, and records the holder's pid. A data directory is
// one servent's: its GUID, host cache, library index and download queue;
// two servents on it would share a GUID and overwrite each other's state.
// The lock goes with the process, so a crashed servent leaves none behind
// (the file stays, unlocked, with a pid nobody holds).
const LockFile = "lock"

// ErrDataDirInUse: New found another servent holding the data directory.
var ErrDataDirInUse = errors.New("data directory in use")

// lockDataDir takes the data directory's lock and writes our pid in it.
// The returned file holds the lock until it is closed.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := httpxfer.LockFile(f); err != nil {
		defer f.Close()
		if errors.Is(err, httpxfer.ErrLocked) {
			holder := "another servent"
			if pid := lockHolder(f); pid > 0 {
				holder = fmt.Sprintf("another servent (pid %d)", pid)
			}
			return nil, &dataDirInUseError{dir: dir, holder: holder}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// The pid is for the message above only: the lock, not the pid, says
	// whether the directory is in use.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// lockHolder is the pid the lock file records, 0 if none parses.
func lockHolder(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// dataDirInUseError is ErrDataDirInUse for one directory and its holder.
type dataDirInUseError struct {
	dir, holder string
}

func (e *dataDirInUseError) Error() string {
	return fmt.Sprintf("data directory %s is in use by %s; stop it first, or give this one a data directory of its own", e.dir, e.holder)
}

func (e *dataDirInUseError) Is(target error) bool { return target == ErrDataDirInUse }

// releaseDataDir gives the data directory's lock back, if held.
func (s *Servent) releaseDataDir() {
	if s.dataLock != nil {
		s.dataLock.Close()
		s.dataLock = nil
	}
}
