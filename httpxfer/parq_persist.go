package httpxfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/govent/govent/httpxfer/smallfile"
)

// The PARQ upload queue kept across restarts, as gtk-gnutella keeps its
// queue in the file "parq" of its configuration directory
// (parq_upload_save_queue at shutdown and every minute,
// parq_upload_load_queue at start, src/core/parq.c): a downloader that
// polls with its ID after we restarted finds its place, in the order it
// had, instead of queueing anew behind those that came after it. The file
// holds the entries in queue order with their IDs, addresses, resources
// and times; at most MaxQueue of them are loaded, and those whose
// lifetime ended while we were down are dropped. Upload slots are not
// kept: their connections ended with the process.

// queueFileFormat is bumped when the file layout changes incompatibly.
const queueFileFormat = 1

// queueEntryMax bounds one entry in the file besides its target (ID,
// address, times and field names take some 200 bytes).
const queueEntryMax = 512

type queueFile struct {
	Format  int              `json:"format"`
	Entries []queueFileEntry `json:"entries"`
}

type queueFileEntry struct {
	ID      string    `json:"id"`
	IP      string    `json:"ip"`
	Target  string    `json:"target"`
	RetryAt time.Time `json:"retry_at"`
	Expires time.Time `json:"expires"`
}

// ErrQueueFile is wrapped by LoadQueue's error for a file it cannot use.
var ErrQueueFile = errors.New("bad upload queue file")

// SaveQueue writes the upload queue to path, oldest entry first,
// replacing the file atomically, unless the last SaveQueue wrote the same
// to path: the servent saves now and then while it runs. Calls must not
// overlap for one path.
func (u *Uploader) SaveQueue(path string) error {
	f := queueFile{Format: queueFileFormat, Entries: []queueFileEntry{}}
	u.mu.Lock()
	u.expireLocked(time.Now())
	for _, e := range u.queue {
		f.Entries = append(f.Entries, queueFileEntry{ID: e.id, IP: e.ip.String(), Target: e.target,
			RetryAt: e.retryAt.Round(0), Expires: e.expires.Round(0)})
	}
	u.mu.Unlock()
	b, err := json.MarshalIndent(&f, "", "\t")
	if err != nil {
		return fmt.Errorf("saving the upload queue: %w", err)
	}
	if _, err := u.queueSaved.Write(path, b); err != nil {
		return fmt.Errorf("saving the upload queue: %w", err)
	}
	return nil
}

// LoadQueue puts the entries saved in path ahead of those queued since
// (they waited longer), in their order; past MaxQueue entries the last
// ones are left out. An entry
// whose lifetime is over is dropped, and so is one dated further ahead
// than a queue place can be (a clock set back, a hand-made file): it
// would hold its place for too long. A missing file is no error; a file
// that does not parse, holds a malformed entry or is larger than MaxQueue
// entries make is reported (wrapping ErrQueueFile) and nothing of it is
// loaded.
func (u *Uploader) LoadQueue(path string) error {
	var f queueFile
	limit := 4<<10 + int64(u.cfg.MaxQueue)*(queueEntryMax+MaxHeaderBytes)
	if found, err := smallfile.ReadJSON(path, limit, queueFileFormat, &f); !found {
		return nil
	} else if errors.Is(err, smallfile.ErrBad) {
		return fmt.Errorf("%w: %w", ErrQueueFile, err)
	} else if err != nil {
		return fmt.Errorf("loading the upload queue: %w", err)
	}
	loaded := make([]*queueEntry, 0, min(len(f.Entries), u.cfg.MaxQueue))
	for _, fe := range f.Entries {
		ip, err := netip.ParseAddr(fe.IP)
		if err != nil || !validQueueID(fe.ID) || fe.Target == "" || len(fe.Target) > MaxHeaderBytes ||
			fe.Expires.Before(fe.RetryAt) {
			return fmt.Errorf("%w %s: entry %q", ErrQueueFile, path, clip([]byte(fe.ID)))
		}
		loaded = append(loaded, &queueEntry{id: fe.ID, ip: ip.Unmap(), target: fe.Target, retryAt: fe.RetryAt, expires: fe.Expires})
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	longest := u.cfg.MaxQueuePoll + QueueLifetime
	ids := make(map[string]bool, len(u.queue)+len(loaded))
	for _, e := range u.queue {
		ids[e.id] = true
	}
	var q []*queueEntry
	for _, e := range loaded {
		if now.After(e.expires) || e.expires.Sub(now) > longest || ids[e.id] {
			continue
		}
		ids[e.id] = true
		q = append(q, e)
	}
	q = append(q, u.queue...)
	u.queue = q[:min(len(q), u.cfg.MaxQueue)]
	return nil
}
