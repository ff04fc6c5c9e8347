package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrUnauthorized: the daemon refused the token.
var ErrUnauthorized = errors.New("control: the daemon refused the token (a token file from another data directory?)")

// ErrNoDaemon: nothing answers at the control address.
var ErrNoDaemon = errors.New("control: no daemon answers")

// maxReply bounds a reply the client reads (a stream line counts alone).
const maxReply = 32 << 20

// Client talks to a daemon's control API.
type Client struct {
	addr  string // HOST:PORT
	token string
	hc    *http.Client
}

// NewClient returns a client for the daemon at addr (HOST:PORT) holding
// token. Requests that are not streams time out after 10 s.
func NewClient(addr, token string) *Client {
	return &Client{addr: addr, token: token, hc: &http.Client{Transport: &http.Transport{
		Proxy:                 nil, // loopback: never through a proxy
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConns:          2,
	}}}
}

// Addr is the daemon's control address.
func (c *Client) Addr() string { return c.addr }

func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path, rd)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w at %s: %w", ErrNoDaemon, c.addr, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, ErrUnauthorized
	}
	var e apiError
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
	}
	// The daemon's words name no package (apiText): "control:" is ours.
	msg := fmt.Sprintf("control: %s %s: %s: %s", method, path, resp.Status, e.Error)
	return nil, &statusError{code: resp.StatusCode, msg: msg, state: e.State}
}

// statusError is a reply with a status other than 2xx or 401: the
// download verbs tell a 404 and a 409 apart.
type statusError struct {
	code  int
	msg   string
	state string // a refused download's state
}

func (e *statusError) Error() string { return e.msg }

func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReply)).Decode(out); err != nil {
		return fmt.Errorf("control: %s %s: reading the reply: %w", method, path, err)
	}
	return nil
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var v Status
	return v, c.call(ctx, http.MethodGet, "/v1/status", nil, &v)
}

// Peers is GET /v1/peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var v []Peer
	return v, c.call(ctx, http.MethodGet, "/v1/peers", nil, &v)
}

// Shares is GET /v1/shares.
func (c *Client) Shares(ctx context.Context) (Shares, error) {
	var v Shares
	return v, c.call(ctx, http.MethodGet, "/v1/shares", nil, &v)
}

// Hosts is GET /v1/hosts.
func (c *Client) Hosts(ctx context.Context) ([]Host, error) {
	var v []Host
	return v, c.call(ctx, http.MethodGet, "/v1/hosts", nil, &v)
}

// Transfers is GET /v1/transfers.
func (c *Client) Transfers(ctx context.Context) (Transfers, error) {
	var v Transfers
	return v, c.call(ctx, http.MethodGet, "/v1/transfers", nil, &v)
}

// AddDownload is POST /v1/downloads.
func (c *Client) AddDownload(ctx context.Context, r DownloadRequest) (Download, error) {
	var v Download
	return v, c.call(ctx, http.MethodPost, "/v1/downloads", r, &v)
}

// PauseDownload, ResumeDownload and CancelDownload act on one download;
// ErrNotFound when the daemon has none of that ID, ErrBadState (and the
// Download's State) when it is in a state the verb does not act on.
func (c *Client) PauseDownload(ctx context.Context, id string) (Download, error) {
	return c.downloadOp(ctx, http.MethodPost, id, "/pause")
}

func (c *Client) ResumeDownload(ctx context.Context, id string) (Download, error) {
	return c.downloadOp(ctx, http.MethodPost, id, "/resume")
}

func (c *Client) CancelDownload(ctx context.Context, id string) (Download, error) {
	return c.downloadOp(ctx, http.MethodDelete, id, "")
}

func (c *Client) downloadOp(ctx context.Context, method, id, op string) (Download, error) {
	var v Download
	err := c.call(ctx, method, "/v1/downloads/"+url.PathEscape(id)+op, nil, &v)
	var se *statusError
	switch {
	case errors.As(err, &se) && se.code == http.StatusNotFound:
		return v, notFound(id)
	case errors.As(err, &se) && se.code == http.StatusConflict:
		// The download is in a state the verb does not act on: say
		// which, as the daemon does, and hand back the state.
		return Download{ID: id, State: se.state}, inState(id, se.state)
	}
	return v, err
}

// Search runs a search in the daemon and calls each with every result as
// it arrives; it returns the stream's last line.
func (c *Client) Search(ctx context.Context, r SearchRequest, each func(SearchResult)) (SearchDone, error) {
	resp, err := c.do(ctx, http.MethodPost, "/v1/searches", r)
	if err != nil {
		return SearchDone{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		var line SearchLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return SearchDone{}, fmt.Errorf("control: search stream: %w", err)
		}
		switch {
		case line.Done != nil:
			return *line.Done, nil
		case line.Result != nil:
			each(*line.Result)
		}
	}
	if err := sc.Err(); err != nil {
		return SearchDone{}, fmt.Errorf("control: search stream: %w", err)
	}
	return SearchDone{}, errors.New("control: search stream ended early")
}

// Metrics fetches /metrics in the Prometheus text format.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	resp, err := c.do(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, maxReply))
}
