package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/govent/govent/httpxfer"
)

// progress shows a download's progress: a redrawn bar on a terminal, plain
// lines (at most one a second, or every 10%) when the output is a file or a
// pipe, so logs stay readable.
type progress struct {
	mu      sync.Mutex // update and queued come from different goroutines
	w       io.Writer
	tty     bool
	now     func() time.Time
	base    int64 // bytes already there when we started (a resume)
	started bool
	// The transfer's window, over which every rate is measured (rateOf):
	// the time bytes flowed, active plus the open period from since to
	// at (the last update), without the waits; and of the bytes received,
	// those that arrived in a wait and are not counted (excluded).
	active   time.Duration
	since    time.Time // zero while waiting
	at       time.Time
	excluded int64
	lastLine time.Time
	lastTen  int64 // last tenth printed as a plain line
	lastDone int64 // bytes of the last plain line
	done     int64 // of total, at the last update
	total    int64
	drawn    bool
	// waiting is set when a source queued us, at waitDone bytes: the wait
	// is not transfer time, and the bytes the first update after it
	// reports are not counted (they came at some moment of the wait).
	waiting  bool
	waitDone int64
	said     map[string]string // per source and kind of wait, what was last printed
	queuedAt string            // the source that last queued us
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w), now: time.Now}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	if s, ok := w.(stopOnError); ok {
		w = s.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// update is the httpxfer Request.Progress callback.
func (p *progress) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.done, p.total, p.at = done, total, now
	if !p.started {
		p.started, p.base = true, done
		if done > 0 {
			fmt.Fprintf(p.w, "resuming at %s\n", humanBytes(done))
		}
	}
	if p.waiting && done != p.waitDone {
		p.waiting = false
		p.excluded += done - p.waitDone
	}
	if !p.waiting && p.since.IsZero() {
		p.since = now
	}
	rate := p.rateOfLocked(done - p.base)
	eta := "?"
	if rate > 0 && total > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	pct := int64(0)
	if total > 0 {
		pct = done * 100 / total
	}
	if p.tty {
		const width = 30
		fill := int(pct * width / 100)
		bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
		fmt.Fprintf(p.w, "\r[%s] %3d%% %s of %s  %s/s  ETA %s   ", bar, pct, humanBytes(done), humanBytes(total), humanBytes(int64(rate)), eta)
		p.drawn = true
		return
	}
	tenth := pct / 10
	if !p.lastLine.IsZero() && done == p.lastDone {
		return // nothing new to say (the last byte is reported written, then verified)
	}
	if now.Sub(p.lastLine) < time.Second && tenth == p.lastTen && done != total {
		return
	}
	p.lastLine, p.lastTen, p.lastDone = now, tenth, done
	fmt.Fprintf(p.w, "progress: %s of %s (%d%%), %s/s, ETA %s\n", humanBytes(done), humanBytes(total), pct, humanBytes(int64(rate)), eta)
}

// rateOfLocked is the rate of bytes, of those the download received
// (all of them, or one source's): their part of the bytes counted over
// the transfer's window. The live line and the final per-source figures
// both come from here, so one source's final figure is its last line's.
func (p *progress) rateOfLocked(bytes int64) float64 {
	window := p.active
	if !p.since.IsZero() {
		window += p.at.Sub(p.since)
	}
	received := p.done - p.base
	if window <= 0 || received <= 0 {
		return 0
	}
	counted := float64(received-p.excluded) / float64(received)
	return float64(bytes) * counted / window.Seconds()
}

// rateOf is rateOfLocked for the report at the end.
func (p *progress) rateOf(bytes int64) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rateOfLocked(bytes)
}

// waitLocked starts a wait, which is not transfer time.
func (p *progress) waitLocked() {
	if !p.since.IsZero() {
		p.active += p.now().Sub(p.since)
		p.since = time.Time{}
	}
	p.waiting, p.waitDone = true, p.done
}

// queued is the httpxfer Request.Queued callback: a line for each place
// a source gives us in its upload queue, not repeated while the place
// stays the same from poll to poll.
func (p *progress) queued(src httpxfer.Source, q httpxfer.QueueStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waitLocked()
	p.queuedAt = src.String()
	if p.repeated("queued "+src.String(), fmt.Sprintf("%d of %d", q.Position, q.Length)) {
		return
	}
	p.endBar()
	of := ""
	if q.Length > 0 {
		of = fmt.Sprintf(" of %d", q.Length)
	}
	fmt.Fprintf(p.w, "queued at %s: position %d%s, next poll in %s\n", src, q.Position, of, q.PollMin)
}

// busyWait is the httpxfer Request.Busy callback: a line when a source
// answers a plain 503 and we wait before asking again, not repeated while
// it says the same and we wait as long.
func (p *progress) busyWait(src httpxfer.Source, status string, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waitLocked()
	line := fmt.Sprintf("waiting for %s: %s, next try in %s\n", src, status, wait)
	if p.repeated("busy "+src.String(), line) {
		return
	}
	p.endBar()
	fmt.Fprint(p.w, line)
}

// waitAnswer is the httpxfer Request.Waiting callback: a line when a
// source took the connection but has not answered for waited.
func (p *progress) waitAnswer(src httpxfer.Source, waited time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endBar()
	fmt.Fprintf(p.w, "waiting for %s to answer (%s so far)\n", src, waited)
}

// repeated reports whether what is what was last printed under key, and
// notes it as the last: a source that says the same at every poll is
// shown once.
func (p *progress) repeated(key, what string) bool {
	if last, ok := p.said[key]; ok && last == what {
		return true
	}
	if p.said == nil {
		p.said = make(map[string]string)
	}
	p.said[key] = what
	return false
}

// failed is the error of a download that ended with err. Cut short by
// Ctrl-C (ctx done), it says what is kept in part and how to go on.
func (p *progress) failed(ctx context.Context, err error, part string) error {
	if ctx.Err() == nil {
		return err // httpxfer's error names the download
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == 0 {
		// A queue place is kept in the state file, and presented again.
		if _, err := os.Lstat(part + ".state"); err == nil && p.queuedAt != "" {
			return fmt.Errorf("interrupted while queued at %s: %s.state keeps the queue place, and the same command resumes it", p.queuedAt, part)
		}
		// Nothing arrived; the size may not even be known yet, so a .part
		// of an earlier run is looked at, not reported by us.
		if fi, err := os.Lstat(part); err == nil && fi.Size() > 0 {
			return fmt.Errorf("interrupted before any new data arrived: %s keeps what it held, and the same command resumes it", part)
		}
		return errors.New("interrupted before any data arrived: nothing is kept, and the same command starts it again")
	}
	return fmt.Errorf("interrupted at %s of %s: %s keeps what arrived, and the same command resumes it",
		humanBytes(p.done), humanBytes(p.total), part)
}

// finish ends the bar's line so later output starts on a fresh one.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endBar()
}

func (p *progress) endBar() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
