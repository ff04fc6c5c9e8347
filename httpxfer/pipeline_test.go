package httpxfer

import (
	"crypto/sha1"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A request sent ahead (pipelining) must not wait for the source to read
// it: the source reads it only after the body we would not read until
// then. Over a bare pipe such a write used to block until a deadline: with
// our Uploader each chunk then cost a ResponseTimeout and a new
// connection; with a source that, its own write timed out, went on
// serving the connection (the fake), the next reply's head and body were
// read as the rest of the cut body, and the SHA-1 failed.
func TestPipelineOverBarePipe(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T) (pipeEnd, Source, []byte, func())
	}{
		{"fake source", func(t *testing.T) (pipeEnd, Source, []byte, func()) {
			data := randomData(4 * testChunk)
			fs := newPipeFake(t, "127.0.0.1:7001", data, honest)
			return fs, fs.source(), data, fs.stop
		}},
		{"uploader", func(t *testing.T) (pipeEnd, Source, []byte, func()) {
			lib := &memLibrary{}
			f, data := shareFile(t, t.TempDir(), 1, "f.bin", 4*testChunk)
			lib.add(f)
			up := newPipeUploader(t, "127.0.0.1:7001", 0, UploaderConfig{Library: lib})
			return up, Source{Addr: up.addr}, data, up.stop
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				end, src, data, stop := tc.end(t)
				defer stop()
				dir := t.TempDir()
				w := &waitRecorder{}
				d := testDownloader(dir, w, end) // a bare net.Pipe: no send buffer
				t0 := time.Now()
				res, err := d.Download(t.Context(), Request{
					Name: "f.bin", Size: int64(len(data)), SHA1: sha1.Sum(data), Sources: []Source{src},
				})
				require.NoError(t, err)
				assertFinished(t, dir, res, data, "f.bin")
				assert.Empty(t, res.Dropped)
				assert.Less(t, time.Since(t0), d.cfg.ResponseTimeout, "no write waited for a deadline")
			})
		})
	}
}
