package peer

import (
	"bufio"
	"context"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/govent/govent/wire"
)

// discoverWords are searched for before an HTTP run: the captured files'
// words and some common ones.
var discoverWords = []string{"penny", "strawberry", "readme", "mp3", "ogg", "txt", "test"}

// maxDiscovered bounds the files discovery keeps.
const maxDiscovered = 32

// discover asks the target, as an ultrapeer would, what it shares, so that
// HTTP cases can name real files and reach the code behind the lookup
// (Range parsing). It sends valid Queries only, and gives up quietly: a
// target that shares nothing gets requests for the captured files.
func discover(ctx context.Context, e *executor, cfg Config) []sharedFile {
	if !hasArea(cfg.Areas, AreaHTTP) {
		return nil
	}
	wait := 4 * cfg.AnswerTimeout
	nc, done, err := dialUntil(ctx, e.dial, e.src.pick(), e.target, time.Now().Add(2*wait))
	if err != nil {
		return nil
	}
	defer done()
	br := bufio.NewReader(nc)
	if _, err := nc.Write(ourConnect(true, false).Append(nil)); err != nil {
		return nil
	}
	ans, err := wire.ReadHandshake(br, wire.HandshakeLimits{MaxLines: maxAnswerBlockLines, MaxBytes: maxAnswerBlockBytes})
	if err != nil {
		return nil
	}
	if _, _, ok := handshakeStatus(ans); !ok {
		return nil
	}
	fromTarget := targetResponder(ans, e.target)
	out := append([]byte(nil), finalOK...)
	guids := map[wire.GUID]bool{}
	for _, w := range discoverWords {
		q := wire.Query{Criteria: []byte(w)}
		q.SetFlags(wire.QueryFlagGGEPH)
		m := wire.Message{Header: wire.Header{GUID: wire.NewGUID(), Type: wire.TypeQuery, TTL: 1}, Query: q}
		guids[m.Header.GUID] = true
		out, _ = m.Append(out) // a plain-text Query always encodes
	}
	if _, err := nc.Write(out); err != nil {
		return nil
	}
	_ = nc.SetReadDeadline(time.Now().Add(wait))
	byKey := map[string]sharedFile{}
	r := wire.NewReader(br, 0)
	for range maxAnswerDescriptors {
		m, err := r.ReadMessage()
		if err != nil && m == nil {
			break
		}
		if err != nil || m.Header.Type != wire.TypeQueryHit || !guids[m.Header.GUID] || !fromTarget(&m.QueryHit) {
			continue // an ultrapeer target forwards its leaves' hits too
		}
		for _, res := range m.QueryHit.Results {
			f := sharedFile{Index: res.Index, Name: string(res.Name)}
			f.SHA1, f.HasSHA1 = res.Ext.SHA1()
			byKey[strconv.FormatUint(uint64(f.Index), 10)+"/"+f.Name] = f
		}
	}
	files := make([]sharedFile, 0, len(byKey))
	for _, f := range byKey {
		files = append(files, f)
	}
	// Sorted, so that a run's cases depend on the target's files only,
	// not on the order of its answers.
	sort.Slice(files, func(i, j int) bool {
		if files[i].Index != files[j].Index {
			return files[i].Index < files[j].Index
		}
		return files[i].Name < files[j].Name
	})
	if len(files) > maxDiscovered {
		files = files[:maxDiscovered]
	}
	cfg.Logf("shared files discovered for HTTP cases: %d", len(files))
	return files
}

// targetResponder tells the target's own QueryHits from the ones it
// forwards: by the servent GUID its handshake gave (GUID, as Govent and
// gtk-gnutella send it), else by the hit's address against target.
func targetResponder(ans *wire.Handshake, target string) func(*wire.QueryHit) bool {
	if v, ok := ans.Get("GUID"); ok {
		if g, err := wire.ParseGUID(strings.TrimSpace(v)); err == nil {
			return func(h *wire.QueryHit) bool { return h.ServentGUID == g }
		}
	}
	ap, err := netip.ParseAddrPort(target)
	if err != nil {
		return func(*wire.QueryHit) bool { return false } // named by host: no hit can be told
	}
	return func(h *wire.QueryHit) bool {
		return h.Port == ap.Port() && h.Addr.Unmap() == ap.Addr().Unmap()
	}
}
