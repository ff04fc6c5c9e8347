package httpxfer

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// UploadProgress is one file body being sent: who asked, what, which
// range, and how far it got.
type UploadProgress struct {
	Remote  string // the client's address
	Name    string // the shared file's name
	Size    int64  // the whole file's size
	Offset  int64  // the range's first byte
	Length  int64  // the range's length
	Sent    int64  // bytes of the range sent so far
	Started time.Time
}

// UploadRecord is a body that was sent, in full or cut short (Err).
type UploadRecord struct {
	UploadProgress
	Duration time.Duration
	Err      error
}

// liveUpload is an UploadProgress whose Sent the sender updates.
type liveUpload struct {
	UploadProgress
	sent atomic.Int64
}

// uploadTable holds the bodies being sent now, for Uploads.
type uploadTable struct {
	mu   sync.Mutex
	live map[*liveUpload]struct{}
}

func (t *uploadTable) start(p UploadProgress) *liveUpload {
	lu := &liveUpload{UploadProgress: p}
	t.mu.Lock()
	if t.live == nil {
		t.live = map[*liveUpload]struct{}{}
	}
	t.live[lu] = struct{}{}
	t.mu.Unlock()
	return lu
}

func (t *uploadTable) end(lu *liveUpload) {
	t.mu.Lock()
	delete(t.live, lu)
	t.mu.Unlock()
}

// Uploads lists the bodies being sent now, oldest first.
func (u *Uploader) Uploads() []UploadProgress {
	u.uploads.mu.Lock()
	out := make([]UploadProgress, 0, len(u.uploads.live))
	for lu := range u.uploads.live {
		p := lu.UploadProgress
		p.Sent = lu.sent.Load()
		out = append(out, p)
	}
	u.uploads.mu.Unlock()
	slices.SortFunc(out, func(a, b UploadProgress) int { return a.Started.Compare(b.Started) })
	return out
}

// trackBody runs send, the sending of one body, with the body in Uploads
// while it runs and OnUpload told of it afterwards. send reports each
// segment's total so far through sent.
func (s *session) trackBody(file *File, off, n int64, send func(sent func(int64)) error) error {
	lu := s.u.uploads.start(UploadProgress{Remote: s.conn.RemoteAddr().String(), Name: file.Name, Size: file.Size,
		Offset: off, Length: n, Started: time.Now()})
	err := send(lu.sent.Store)
	s.u.uploads.end(lu)
	if f := s.u.cfg.OnUpload; f != nil {
		rec := UploadRecord{UploadProgress: lu.UploadProgress, Duration: time.Since(lu.Started), Err: err}
		rec.Sent = lu.sent.Load()
		f(rec)
	}
	return err
}
