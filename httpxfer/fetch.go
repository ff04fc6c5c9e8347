package httpxfer

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/govent/govent/wire"
)

// fetchChunk fetches the rest of chunk ci from s, request after request
// while replies cover less than asked. When it returns a chunk index
// (>= 0), that chunk is marked busy for s and its request is already sent
// on *cc if *cc is not nil.
func (j *job) fetchChunk(ctx context.Context, w *os.File, cc **clientConn, s *srcState, ci int) (int, error) {
	k := &sink{j: j, w: ci, s: s}
	for {
		j.mu.Lock()
		start, end := j.rangeLocked(ci)
		dropped := s.dropped // blamed for a segment: its chunk was thrown away under it
		j.mu.Unlock()
		if start >= end || dropped {
			return -1, nil
		}
		next, err := j.fetchSpan(ctx, w, cc, s, start, end, k)
		if err != nil || next >= 0 {
			return next, err
		}
	}
}

// fetchSpan asks s for [start, end) and writes what comes into w through
// k (the bytes count even when err is not nil; a split may end the body
// early, with the connection). With a solo worker and a reply that covers [start, end) exactly
// on a kept-alive connection, it picks the next chunk and sends its
// request before reading the body; it returns that chunk, else -1.
func (j *job) fetchSpan(ctx context.Context, w *os.File, cc **clientConn, s *srcState, start, end int64, k *sink) (int, error) {
	src := s.src
	if *cc == nil {
		c, err := j.dial(ctx, s)
		if err != nil {
			return -1, err
		}
		*cc = c
	}
	c := *cc
	c.extra = appendQueuedRequest(c.extra[:0], s.queue)
	if j.cfg.Node != nil {
		if ap := j.cfg.Node(); ap.IsValid() && ap.Port() != 0 {
			c.extra = append(c.extra, "X-Node: "...)
			c.extra = ap.AppendTo(c.extra)
			c.extra = append(c.extra, "\r\n"...)
		}
	}
	c.extra = j.appendMeshHeaders(c.extra, s)
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Now()) })
	defer stop()
	want := byteRange{start, end - 1}
	var resp *response
	var err error
	if c.sent {
		// pipeline sent the request for this very span: the chunk was
		// ours and idle since, so its start has not moved.
		c.sent = false
		if err := c.sentAhead(); err != nil {
			return -1, retryErr("%w", err) // the worker hangs up
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(j.cfg.AnswerTimeout))
		resp, err = j.awaitAnswer(ctx, s, c.readResponse)
	} else {
		resp, err = j.awaitAnswer(ctx, s, func() (*response, error) {
			return c.roundTrip("GET", j.target(src), hostOf(src), j.cfg.UserAgent, &want, j.cfg.AnswerTimeout)
		})
	}
	if err != nil {
		// Garbage where a head should be is often the tail of a previous
		// body that ran longer than promised: reconnect and count it
		// (awaitAnswer made it a retry).
		return -1, err
	}
	j.learnAltLocs(remoteIP(c.conn), resp.h)
	j.learnTLS(src, resp.h)
	got, err := j.checkReply(resp, start, end) // the bytes the body holds
	g := &stallGuard{ctx: ctx, conn: c.conn, floor: j.cfg.StallTimeout, ceiling: j.cfg.ResponseTimeout, rate: &s.rate}
	if err != nil {
		j.queued(s, c, resp, g, err)
		return -1, err // the worker hangs up, unless it keeps a queue place on c
	}
	j.bodyBegins(s)
	defer j.bodyEnds(s)
	if s.queue != (QueueStatus{}) {
		s.queue = QueueStatus{}
		j.setQueued(s, s.queue)
	}
	j.offerTree(s, resp.h)
	if resp.status == 200 && start > 0 {
		// The source ignores Range: read up to what we want.
		if err := c.skipBody(start, g); err != nil {
			return -1, err
		}
	}
	next := -1
	if j.solo.Load() && resp.status == 206 && got == want && resp.keep {
		next = j.pipeline(c, s)
	}
	take := min(got.end, want.end) - start + 1
	if _, err := c.copyBody(w, start, take, g, k); errors.Is(err, errSplit) {
		c.close()
		*cc = nil
		return next, nil
	} else if err != nil {
		return next, err
	}
	extra := got.end - want.end
	switch {
	case resp.status == 200 && extra > 0:
		whole, err := j.streamOn(c, w, s, g, want.end+1)
		if err != nil {
			return next, err
		}
		resp.keep = resp.keep && whole
	case extra > 0:
		// A source may send more than asked; drop a little, else hang up.
		if extra > 64<<10 || c.skipBody(extra, g) != nil {
			resp.keep = false
		}
	}
	if !resp.keep {
		c.close()
		*cc = nil
	}
	return next, nil
}

// pipeline picks the next chunk for s and sends its request on c
// (sendAhead), so the source can go on with it as soon as the current
// body is out. It returns the chunk, busy for s, or -1 when there is none.
func (j *job) pipeline(c *clientConn, s *srcState) int {
	ci, _ := j.pick(s)
	if ci < 0 {
		return -1
	}
	j.mu.Lock()
	start, end := j.rangeLocked(ci)
	j.mu.Unlock()
	want := byteRange{start, end - 1}
	_ = c.conn.SetWriteDeadline(time.Now().Add(j.cfg.ResponseTimeout))
	c.sendAhead("GET", j.target(s.src), hostOf(s.src), j.cfg.UserAgent, &want)
	return ci
}

// target is the request target: by urn when known, else Clip2 /get/.
func (j *job) target(s Source) string {
	if j.req.SHA1 != (wire.SHA1{}) {
		return "/uri-res/N2R?" + j.req.SHA1.String()
	}
	name := s.Name
	if name == "" {
		name = j.req.Name
	}
	return "/get/" + strconv.FormatUint(uint64(s.Index), 10) + "/" + url.PathEscape(name)
}

func hostOf(s Source) string {
	if s.Addr.IsValid() {
		return s.Addr.String()
	}
	return ""
}
