package httpxfer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUploadsTracked: a body being sent is listed by Uploads with its
// progress, and OnUpload hears of every body once it ends, whole or cut.
func TestUploadsTracked(t *testing.T) {
	records := make(chan UploadRecord, 8)
	lib := &memLibrary{}
	f, _ := shareFile(t, t.TempDir(), 1, "big.bin", 32<<20)
	lib.add(f)
	srv := startUploader(t, UploaderConfig{Library: lib, OnUpload: func(r UploadRecord) { records <- r }})

	c := dialRaw(t, srv.addr)
	resp, body := c.do(t, "GET", "/get/1/big.bin", "Range: bytes=100-1099")
	require.Equal(t, 206, resp.StatusCode)
	require.Len(t, body, 1000)
	rec := <-records
	assert.NoError(t, rec.Err)
	assert.Equal(t, "big.bin", rec.Name)
	assert.Equal(t, int64(100), rec.Offset)
	assert.Equal(t, int64(1000), rec.Length)
	assert.Equal(t, int64(1000), rec.Sent)
	assert.Equal(t, int64(32<<20), rec.Size)
	assert.Equal(t, c.conn.LocalAddr().String(), rec.Remote)
	assert.Empty(t, srv.u.Uploads(), "a finished body is no longer listed")

	// A client that stops reading: the body is listed while it waits.
	stalled := dialRaw(t, srv.addr)
	stalled.send(t, "GET /get/1/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Eventually(t, func() bool {
		ups := srv.u.Uploads()
		return len(ups) == 1 && ups[0].Sent > 0
	}, 5*time.Second, 5*time.Millisecond)
	up := srv.u.Uploads()[0]
	assert.Equal(t, int64(32<<20), up.Length)
	assert.Less(t, up.Sent, up.Length, "the socket buffers cannot hold 32 MiB")
	stalled.conn.Close()
	rec = <-records
	assert.Error(t, rec.Err)
	assert.Less(t, rec.Sent, rec.Length)
	assert.Empty(t, srv.u.Uploads())
}
