package httpxfer

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// countFailureLocked applies a failed exchange with s; j.mu is held. Only
// failures that brought no new bytes count towards MaxFailures: a source
// that cuts the connection after some progress is slow or flaky, and
// dropping it would give up data it still has. A source that refuses the
// connection counts as well: a servent being restarted refuses for a few
// seconds, and the tries after a refusal wait a backoff (noanswer.go), so
// they do not say the same MaxFailures times in a few milliseconds.
// It reports whether s is dropped now.
func (j *job) countFailureLocked(s *srcState, err error, progressed bool) bool {
	if progressed {
		s.failures = 0
		return false
	}
	if s.failures++; s.failures < j.cfg.MaxFailures {
		return false
	}
	n := strconv.Itoa(s.failures) + " failures"
	if s.failures == 1 {
		n = "1 failure"
	}
	j.dropLocked(s, fmt.Errorf("%s in a row, last: %w", n, err))
	return true
}

// noSources is ErrNoSources with why each source was dropped, in the
// order the request named them: "a:1: 302 redirect not followed; ...".
func (j *job) noSources(cause ...error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var reasons []string
	for _, s := range j.srcs {
		for _, f := range j.dropped {
			if f.Source.String() == s.key {
				reasons = append(reasons, f.String())
				break
			}
		}
	}
	if se := j.sizeErrorLocked(); se != nil && len(cause) == 0 {
		return se
	}
	if len(cause) == 0 && len(reasons) == 0 {
		return ErrNoSources
	}
	// A cause that a source's reason says already ("SHA-1 mismatch: it
	// wrote every chunk") is not said again; errors.Is finds it still.
	text := ErrNoSources.Error()
	for _, c := range cause {
		if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, c.Error()) }) {
			text += " after " + c.Error()
		}
	}
	if len(reasons) > 0 {
		text += ": " + strings.Join(reasons, "; ")
	}
	return &causedError{text: text, errs: append([]error{ErrNoSources}, cause...)}
}

// causedError is an error with its own text that errors.Is and As see
// through to several errors.
type causedError struct {
	text string
	errs []error
}

func (e *causedError) Error() string   { return e.text }
func (e *causedError) Unwrap() []error { return e.errs }

// SizeError: every source dropped said the file has another size than
// the download's (Request.Size), which is then the likely mistake. It is
// an ErrNoSources.
type SizeError struct {
	Size  int64   // the download's
	Sizes []int64 // what the sources say, each once, in their order
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("sources say the file has %s bytes, not %d", e.Says(), e.Size)
}

// Says is the sizes the sources say: "200000", or "200000 or 300".
func (e *SizeError) Says() string {
	says := make([]string, len(e.Sizes))
	for i, n := range e.Sizes {
		says[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(says, " or ")
}

func (e *SizeError) Unwrap() error { return ErrNoSources }

// otherSize: a source says the file has total bytes.
type otherSize struct {
	total int64
	text  string
}

func (e *otherSize) Error() string { return e.text }

// sizeErrorLocked is the SizeError of a download whose every dropped
// source said another size, else nil; j.mu is held.
func (j *job) sizeErrorLocked() *SizeError {
	if len(j.dropped) == 0 {
		return nil
	}
	se := &SizeError{Size: j.size}
	for _, f := range j.dropped {
		o, ok := errors.AsType[*otherSize](f.Err)
		if !ok {
			return nil
		}
		if !slices.Contains(se.Sizes, o.total) {
			se.Sizes = append(se.Sizes, o.total)
		}
	}
	return se
}

// checkReply decides whether a reply head can serve [start, end) of the
// file: it returns the byte range its body holds, or why not.
func (j *job) checkReply(resp *response, start, end int64) (byteRange, error) {
	switch {
	case resp.status == 206:
		v, _ := resp.h.Get("Content-Range")
		r, total, err := parseContentRange(v)
		cr := printable(v)
		switch {
		case err != nil:
			return r, dropErr("206 with unreadable Content-Range %q", cr)
		case total >= 0 && total != j.size:
			return r, &sourceError{action: actDrop, err: &otherSize{total, fmt.Sprintf("206 with Content-Range %s, file has %d bytes", cr, j.size)}}
		case r.start != start:
			return r, dropErr("206 with Content-Range %s, asked %d-%d", cr, start, end-1)
		case resp.length >= 0 && resp.length != r.length():
			return r, dropErr("206 with Content-Range %s and Content-Length %d", cr, resp.length)
		}
		return r, nil
	case resp.status == 200:
		switch {
		case resp.length != j.size:
			return byteRange{}, &sourceError{action: actDrop, err: &otherSize{resp.length, fmt.Sprintf("200 with Content-Length %d, file has %d bytes", resp.length, j.size)}}
		case start > j.cfg.MaxSkipBytes:
			return byteRange{}, dropErr("200 to a request from byte %d: the source ignores Range, and we discard at most %d bytes",
				start, j.cfg.MaxSkipBytes)
		}
		return byteRange{0, j.size - 1}, nil
	case resp.status == 503 && j.cfg.MaxQueueWait > 0:
		if q, ok := parseQueued(resp.h); ok {
			d := max(min(q.PollMin, j.cfg.MaxQueueWait), minPoll)
			q.PollMin = d // what we wait, which Request.Queued shows
			return byteRange{}, &sourceError{action: actQueued, delay: d, queue: q,
				err: fmt.Errorf("%s at position %d of %d, poll in %v", resp.statusText(), q.Position, q.Length, d)}
		}
		fallthrough
	case resp.status == 503:
		d := retryAfter(resp.h, j.cfg.DefaultRetryAfter, j.cfg.MaxRetryAfter)
		return byteRange{}, &sourceError{action: actBusy, delay: d, status: resp.statusText(),
			err: fmt.Errorf("%s, retry after %v", resp.statusText(), d)}
	case resp.status >= 300 && resp.status < 400:
		return byteRange{}, dropErr("%d redirect not followed", resp.status)
	}
	return byteRange{}, dropErr("%s", resp.statusText())
}
