package httpxfer

import (
	"strconv"
	"strings"
	"time"

	"github.com/govent/govent/wire"
)

// PARQ (Passive/Active Remote Queueing, gtk-gnutella's doc/gnutella/PARQ,
// version 1.1) lets an uploader without a free slot queue a request
// instead of refusing it. The downloader announces it with "X-Queue: 1.1";
// the uploader answers "503 Queued" with
//
//	X-Queued: ID=<hex>; position=<n>; lifetime=<s>; length=<n>; ETA=<s>
//	Retry-After: <s>
//
// and expects the next request, carrying "X-Queued: position=<n>;
// ID=<hex>", no sooner than Retry-After and no later than lifetime. The
// older Active Queueing of BearShare and Shareaza says the same in
// "X-Queue: position=2, length=5, limit=4, pollMin=45, pollMax=120".

// QueueStatus is a place in a source's upload queue.
type QueueStatus struct {
	ID       string // PARQ ID, sent back with each poll; empty for Active Queueing
	Position int    // 1 is next
	Length   int    // entries in the queue; 0 when not told
	// Poll no sooner than PollMin and no later than PollMax after the
	// reply, or lose the place.
	PollMin, PollMax time.Duration
}

// Bounds on what a queue header may claim, so that hostile numbers stay
// harmless.
const (
	maxQueueIDLen   = 64
	maxQueueNumber  = 1 << 24
	maxQueueSeconds = 7 * 24 * 3600
)

// minPoll is the least wait before polling again a source that answered
// 503, whatever it said: gtk-gnutella's PARQ_MIN_POLL. A reply without a
// wait, or with 0, would otherwise be polled at once, forever.
const minPoll = 10 * time.Second

// queueVersionHeader is what a downloader sends to be queued actively.
const queueVersionHeader = "X-Queue: 1.1\r\n"

// parseQueued reads the place a 503 reply gives us: X-Queued (PARQ, with
// Retry-After as the least wait) or a legacy X-Queue. It reports false
// when the reply holds neither, or a PARQ one without ID or position,
// which the spec makes mandatory.
func parseQueued(h *wire.Handshake) (QueueStatus, bool) {
	retry := int64(0) // absent or unreadable: the caller's floor applies
	if v, ok := h.Get("Retry-After"); ok {
		retry, _ = queueSeconds(v)
	}
	if v, ok := h.Get("X-Queued"); ok {
		f := queueFields(v)
		id := f["id"]
		pos, okPos := queueNumber(f["position"])
		if !validQueueID(id) || !okPos || pos < 1 {
			return QueueStatus{}, false
		}
		q := QueueStatus{ID: id, Position: int(pos)}
		if n, ok := queueNumber(f["length"]); ok {
			q.Length = int(n)
		}
		// Without lifetime, the spec says Retry-After plus a minute; a
		// lifetime shorter than the least wait is nonsense, and gtk-
		// gnutella then takes 300 s or the wait (parq_download_parse_headers).
		life, ok := queueNumber(f["lifetime"])
		switch {
		case !ok:
			life = retry + 60
		case life < retry:
			life = max(300, retry)
		}
		q.PollMin, q.PollMax = time.Duration(retry)*time.Second, time.Duration(life)*time.Second
		return q, true
	}
	for _, v := range h.Values("X-Queue") {
		f := queueFields(v)
		pos, ok := queueNumber(f["position"])
		if !ok || pos < 1 {
			continue // "X-Queue: 1.0" is a version, not a place
		}
		q := QueueStatus{Position: int(pos)}
		if n, ok := queueNumber(f["length"]); ok {
			q.Length = int(n)
		}
		lo, _ := queueSeconds(f["pollmin"])
		hi, ok := queueSeconds(f["pollmax"])
		if !ok || hi < lo {
			hi = lo + 60
		}
		q.PollMin, q.PollMax = time.Duration(lo)*time.Second, time.Duration(hi)*time.Second
		return q, true
	}
	return QueueStatus{}, false
}

// queueFields splits "a=1; B=2, c=3" into lower-cased names and values:
// PARQ separates with ';', Active Queueing with ','.
func queueFields(v string) map[string]string {
	f := make(map[string]string)
	for len(v) > 0 && len(f) < 16 {
		var kv string
		if i := strings.IndexAny(v, ";,"); i >= 0 {
			kv, v = v[:i], v[i+1:]
		} else {
			kv, v = v, ""
		}
		k, val, ok := strings.Cut(kv, "=")
		if ok {
			f[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
		}
	}
	return f
}

func queueNumber(s string) (int64, bool) {
	n, ok := parseDigits(s)
	if !ok || n > maxQueueNumber {
		return 0, false
	}
	return n, true
}

// queueSeconds reads a wait in seconds, an absurd one cut to
// maxQueueSeconds: a source that asks us to wait for ages is waited for
// long (the caller bounds it further), not polled at once.
func queueSeconds(s string) (int64, bool) {
	n, ok := parseDigits(strings.TrimSpace(s))
	if !ok {
		return 0, false
	}
	return min(n, maxQueueSeconds), true
}

// validQueueID accepts the hex IDs gtk-gnutella sends and anything of
// letters and digits like them, never a byte that could end a header
// when we send it back.
func validQueueID(id string) bool {
	if id == "" || len(id) > maxQueueIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// appendQueuedRequest appends the queue headers of a request: the version
// always, and the place we hold, as gtk-gnutella's
// parq_download_add_header does.
func appendQueuedRequest(b []byte, q QueueStatus) []byte {
	b = append(b, queueVersionHeader...)
	if q.ID != "" {
		b = append(b, "X-Queued: position="...)
		b = strconv.AppendInt(b, int64(q.Position), 10)
		b = append(b, "; ID="...)
		b = append(b, q.ID...)
		b = append(b, "\r\n"...)
	}
	return b
}
