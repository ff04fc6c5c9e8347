package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// streamWriteTimeout bounds each write to a stream's client: one that stops
// reading loses its stream instead of holding a handler.
const streamWriteTimeout = 10 * time.Second

// search starts a search and streams its results as newline-delimited
// JSON (application/x-ndjson), one SearchLine each, the last with Done.
func (srv *Server) search(w http.ResponseWriter, r *http.Request) {
	var req SearchRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	switch {
	case req.TimeoutMS < 0 || timeout > MaxSearchTime:
		writeError(w, http.StatusBadRequest, fmt.Errorf("timeout_ms %d: want 0 to %d", req.TimeoutMS, MaxSearchTime.Milliseconds()))
		return
	case req.TimeoutMS == 0:
		timeout = DefaultSearchTimeout
	}
	if req.MaxResults < 0 || req.MaxResults > MaxResults {
		writeError(w, http.StatusBadRequest, fmt.Errorf("max_results %d: want 0 to %d", req.MaxResults, MaxResults))
		return
	}
	limit := req.MaxResults
	if limit == 0 {
		limit = MaxResults
	}
	if n := srv.streams.Add(1); n > MaxStreams {
		srv.streams.Add(-1)
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("%d search streams open already", MaxStreams))
		return
	}
	defer srv.streams.Add(-1)
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	sr, err := srv.s.Search(ctx, req.Query)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Search-GUID", sr.GUID.String())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(line SearchLine) error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if err := enc.Encode(line); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := rc.Flush(); err != nil {
		return
	}
	idle := time.NewTimer(StreamIdle)
	defer idle.Stop()
	n, reason := 0, "timeout"
loop:
	for n < limit {
		select {
		case res, ok := <-sr.Results:
			if !ok {
				break loop // ctx ended: timeout, client gone or shutdown
			}
			n++
			if send(SearchLine{Result: new(NewSearchResult(n, res))}) != nil {
				return
			}
			idle.Reset(StreamIdle)
		case <-idle.C:
			reason = "idle"
			break loop
		}
	}
	switch {
	case n == limit:
		reason = "max_results"
	case srv.base.Err() != nil:
		reason = "shutdown"
	case r.Context().Err() != nil:
		return // the client went away
	}
	_ = send(SearchLine{Done: &SearchDone{Results: n, Reason: reason, Dropped: sr.Dropped()}})
}

// Transfers is GET /v1/transfers.
type Transfers struct {
	Downloads []Download `json:"downloads"`
	// Uploads are the file bodies being sent now; UploadsActive the
	// upload slots in use (a slot stays taken between a client's requests).
	Uploads       []Upload `json:"uploads"`
	UploadsActive int      `json:"uploads_active"`
}

// Upload is one file body being sent.
type Upload struct {
	Remote  string    `json:"remote"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"`   // the whole file
	Offset  int64     `json:"offset"` // the range asked for
	Length  int64     `json:"length"`
	Sent    int64     `json:"sent"` // of Length
	Started time.Time `json:"started"`
}

func (srv *Server) transfers(w http.ResponseWriter, _ *http.Request) {
	t := Transfers{Downloads: []Download{}, Uploads: []Upload{}, UploadsActive: srv.s.ActiveUploads()}
	for _, u := range srv.s.Uploads() {
		t.Uploads = append(t.Uploads, Upload{Remote: u.Remote, Name: u.Name, Size: u.Size, Offset: u.Offset,
			Length: u.Length, Sent: u.Sent, Started: u.Started})
	}
	if srv.cfg.Queue != nil {
		t.Downloads = srv.cfg.Queue.List()
	}
	writeJSON(w, http.StatusOK, t)
}

func (srv *Server) addDownload(w http.ResponseWriter, r *http.Request) {
	if srv.cfg.Queue == nil {
		writeError(w, http.StatusConflict, errors.New("this servent has no download queue (run it with --data)"))
		return
	}
	var req DownloadRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	d, err := srv.cfg.Queue.Add(req)
	if err != nil {
		writeError(w, queueStatus(err), err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

// downloadOp serves pause, resume and cancel.
func (srv *Server) downloadOp(op func(*Queue, string) (Download, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if srv.cfg.Queue == nil {
			writeError(w, http.StatusNotFound, ErrNotFound)
			return
		}
		d, err := op(srv.cfg.Queue, r.PathValue("id"))
		if errors.Is(err, ErrBadState) {
			writeJSON(w, http.StatusConflict, apiError{Error: apiText(err), State: d.State})
			return
		}
		if err != nil {
			writeError(w, queueStatus(err), err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	}
}

func queueStatus(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrBadState):
		return http.StatusConflict
	case errors.Is(err, ErrQueueFull):
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}
