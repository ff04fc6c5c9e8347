package httpxfer

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/govent/govent/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeState writes the state file a previous run of name would have left.
func writeState(t *testing.T, dir, name string, st stateFile) {
	t.Helper()
	b, err := json.Marshal(&st)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".part.state"), b, 0o644))
}

// A queue place saved by a previous run goes to its source also when the
// source is learned only later (here from an X-Alt), and while it is not
// known yet the state file keeps the place.
func TestPARQSavedPlaceForALaterSource(t *testing.T) {
	const later = "127.0.0.1:7021"
	for _, tc := range []struct {
		name  string
		learn bool // a reply names the later source
	}{{"learned from X-Alt", true}, {"not learned", false}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				data := randomData(2 * testChunk)
				sum := wire.SHA1(sha1.Sum(data))
				// first is busy; its reply may name the later source.
				busy := func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
					alt := ""
					if tc.learn {
						alt = "X-Alt: " + later + "\r\n"
					}
					_, _ = fmt.Fprintf(conn, "HTTP/1.1 503 Busy\r\nRetry-After: 600\r\n%sContent-Length: 0\r\n\r\n", alt)
					return false
				}
				first := newPipeFake(t, "127.0.0.1:7020", data, busy)
				defer first.stop()
				var mu sync.Mutex
				var queued []string
				second := newPipeFake(t, later, data, func(fs *fakeSource, conn net.Conn, req *http.Request, n int) bool {
					mu.Lock()
					queued = append(queued, req.Header.Get("X-Queued"))
					mu.Unlock()
					return honest(fs, conn, req, n)
				})
				defer second.stop()
				dir := t.TempDir()
				saved := []stateQueue{{Source: later, ID: "feed42", Position: 3}}
				writeState(t, dir, "f.bin", stateFile{Version: stateVersion, URN: sum.String(), Size: int64(len(data)),
					ChunkSize: testChunk, Chunks: []stateChunk{}, Queues: saved})
				d := testDownloader(dir, &waitRecorder{}, first, second)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				res, err := d.Download(ctx, Request{
					Name: "f.bin", Size: int64(len(data)), SHA1: sum, Sources: []Source{first.source()},
					Busy: func(Source, string, time.Duration) {
						if !tc.learn {
							cancel() // Ctrl-C before the later source is known
						}
					},
				})
				if !tc.learn {
					require.ErrorIs(t, err, context.Canceled)
					st, err := loadState(filepath.Join(dir, "f.bin.part.state"))
					require.NoError(t, err)
					assert.Equal(t, saved, st.Queues, "the place is kept for the next run")
					return
				}
				require.NoError(t, err)
				assertFinished(t, dir, res, data, "f.bin")
				mu.Lock()
				defer mu.Unlock()
				require.NotEmpty(t, queued)
				assert.Equal(t, "position=3; ID=feed42", queued[0], "the later source's first request presents the saved ID")
			})
		})
	}
}
