package httpxfer

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
)

// The uploader announces a hashed file's tree in X-Thex-URI and serves it
// there as gtk-gnutella does: a DIME message that decodes to the file's
// tree, keeping the connection for the file request that follows.
func TestUploadServesThexTree(t *testing.T) {
	lib := &memLibrary{}
	f, data := shareFile(t, t.TempDir(), 1, "tree.bin", 700<<10)
	f = lib.addWithTree(f, data)
	plain, _ := shareFile(t, t.TempDir(), 2, "plain.bin", 1000)
	lib.add(plain)
	up := startUploader(t, UploaderConfig{Library: lib})
	c := dialRaw(t, up.addr)

	resp, _ := c.do(t, "HEAD", "/uri-res/N2R?"+f.SHA1.String())
	require.Equal(t, 200, resp.StatusCode)
	v := resp.Header.Get("X-Thex-URI")
	assert.Equal(t, "/uri-res/N2X?"+f.SHA1.String()+";"+f.TTH.Base32(), v)
	path, root, hasRoot, err := thex.ParseThexURI(v)
	require.NoError(t, err)
	require.True(t, hasRoot)

	resp, body := c.do(t, "GET", path)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "application/dime", resp.Header.Get("Content-Type"))
	tr, err := thex.DecodeDIME(body, int64(len(data)), root)
	require.NoError(t, err)
	n, err := tr.Verify(0, data)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), n)
	assert.Equal(t, thex.GoodDepth(int64(len(data))), tr.Depth())

	// The same connection goes on with the file.
	resp, body = c.do(t, "GET", "/uri-res/N2R?"+f.SHA1.String(), "Range: bytes=0-9")
	require.Equal(t, 206, resp.StatusCode)
	assert.Equal(t, data[:10], body)

	// A file without a tree has no X-Thex-URI and no N2X.
	resp, _ = c.do(t, "HEAD", "/uri-res/N2R?"+plain.SHA1.String())
	require.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("X-Thex-URI"))
	resp, _ = c.do(t, "GET", "/uri-res/N2X?"+plain.SHA1.String())
	assert.Equal(t, 404, resp.StatusCode)
}
