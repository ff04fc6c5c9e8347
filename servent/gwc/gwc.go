// Package gwc is a GWebCache client: it asks one cache for Gnutella hosts
// and further caches, in the GWebCache v2 protocol
// ("?get=1&net=gnutella&client=GOVT&version=..." answered with "H|ip:port"
// and "U|url" lines) and, for caches that do not speak it, v1
// ("?hostfile=1" and "?urlfile=1", one host or URL a line). It owns the
// parsing and the bounds (time, response size, lines); who is asked, when,
// and what is done with the answer is the servent's.
package gwc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/govent/govent/wire/neterr"
)

const (
	// MaxResponse bounds the bytes read from one answer; a cache sends a
	// few hundred.
	MaxResponse = 64 << 10
	// MaxHosts and MaxCaches bound what one answer may give.
	MaxHosts  = 100
	MaxCaches = 20
	// DefaultTimeout bounds one exchange with a cache, v1 fallback
	// included.
	DefaultTimeout = 20 * time.Second
)

// ErrNothing says a cache answered with no host and no cache.
var ErrNothing = errors.New("no hosts and no caches in the answer")

// Answer is what one cache gave.
type Answer struct {
	Hosts  []netip.AddrPort
	Caches []string // URLs of other caches, as given (http and https only)
	// Version is the protocol the cache answered in: 2, or 1 after v2
	// gave nothing.
	Version int
}

// Client asks caches. HTTP must be set; it decides how connections are
// made (the servent's Network).
type Client struct {
	HTTP    *http.Client
	Version string        // ours, sent as version=
	Timeout time.Duration // zero means DefaultTimeout
}

// Fetch asks the cache at cacheURL for hosts and caches: v2 first, then
// v1 when v2 gives nothing usable. Its errors say what went wrong, not
// which cache: the caller knows.
func (c *Client) Fetch(ctx context.Context, cacheURL string) (Answer, error) {
	base, err := CheckURL(cacheURL)
	if err != nil {
		return Answer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	body, err := c.get(ctx, base, url.Values{"get": {"1"}, "net": {"gnutella"}, "client": {"GOVT"}, "version": {c.Version}})
	if err != nil {
		return Answer{}, err
	}
	a := parseV2(body)
	if len(a.Hosts)+len(a.Caches) > 0 {
		a.Version = 2
		return a, nil
	}
	// A v1 cache answers the v2 request with an error or nothing we read.
	hosts, err := c.get(ctx, base, url.Values{"hostfile": {"1"}, "client": {"GOVT"}, "version": {c.Version}})
	if err != nil {
		return Answer{}, fmt.Errorf("nothing usable in v2, and v1: %w", err)
	}
	a = Answer{Version: 1, Hosts: parseV1Hosts(hosts)}
	if urls, err := c.get(ctx, base, url.Values{"urlfile": {"1"}, "client": {"GOVT"}, "version": {c.Version}}); err == nil {
		a.Caches = parseV1URLs(urls)
	}
	if len(a.Hosts)+len(a.Caches) == 0 {
		return a, ErrNothing
	}
	return a, nil
}

func (c *Client) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// CheckURL parses a cache URL: http or https, a host, no user info.
func CheckURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("GWebCache URL %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("GWebCache URL %q: want http:// or https:// and a host", s)
	}
	return u, nil
}

// get requests base with q added and returns at most MaxResponse bytes of a
// 200 answer; a longer answer is cut there (and its last line dropped).
func (c *Client) get(ctx context.Context, base *url.URL, q url.Values) ([]string, error) {
	u := *base
	uq := u.Query()
	for k, v := range q {
		uq[k] = v
	}
	u.RawQuery = uq.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "Govent/"+c.Version)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, c.requestError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	var lines []string
	sc := bufio.NewScanner(io.LimitReader(resp.Body, MaxResponse))
	sc.Buffer(make([]byte, 0, 4096), MaxResponse)
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the answer: %w", neterr.Plain(err))
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1)); n > 0 && len(lines) > 0 {
		lines = lines[:len(lines)-1] // cut mid-line at the limit
	}
	return lines, nil
}

// parseV2 reads "H|ip:port|age..." and "U|url|age..." lines; anything else
// (I|, error lines, garbage) is skipped. Keys are case-insensitive, as the
// spec allows.
func parseV2(lines []string) Answer {
	var a Answer
	for _, l := range lines {
		f := strings.Split(l, "|")
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "H":
			if h, ok := parseHost(f[1]); ok && len(a.Hosts) < MaxHosts {
				a.Hosts = append(a.Hosts, h)
			}
		case "U":
			if _, err := CheckURL(f[1]); err == nil && len(a.Caches) < MaxCaches {
				a.Caches = append(a.Caches, strings.TrimSpace(f[1]))
			}
		}
	}
	return a
}

// parseV1Hosts reads one ip:port a line; a v1 cache's "ERROR" and other
// lines are skipped.
func parseV1Hosts(lines []string) []netip.AddrPort {
	var hosts []netip.AddrPort
	for _, l := range lines {
		if h, ok := parseHost(l); ok && len(hosts) < MaxHosts {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func parseV1URLs(lines []string) []string {
	var urls []string
	for _, l := range lines {
		if _, err := CheckURL(l); err == nil && len(urls) < MaxCaches {
			urls = append(urls, l)
		}
	}
	return urls
}

// parseHost reads a literal ip:port with a port from 1 up.
func parseHost(s string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(strings.TrimSpace(s))
	if err != nil || ap.Port() == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// requestError is why a request got no answer, without net/http's
// `Get "URL?query":` (the caller names the cache): Go's network words in
// plain ones (neterr), or that the time ran out.
func (c *Client) requestError(ctx context.Context, err error) error {
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return noAnswer{c.timeout(), err}
	}
	return neterr.Plain(err)
}

// noAnswer is an exchange whose time (Client.Timeout) ran out; it Is
// context.DeadlineExceeded.
type noAnswer struct {
	after time.Duration
	err   error
}

func (e noAnswer) Error() string { return fmt.Sprintf("no answer in %v", e.after) }
func (e noAnswer) Unwrap() error { return e.err }
