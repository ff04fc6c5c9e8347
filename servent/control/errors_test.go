package control

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The queue's refusals name the package once: the daemon's words in the
// API name none ("control" means nothing to a curl user), the client's
// error puts "control:" before them once, and errors.Is holds for the
// errors the client makes of the daemon's (pause, resume, cancel). (They used to be made so by trimming "control: " off the text.)
func TestQueueErrorsNameTheirContextOnce(t *testing.T) {
	ctx := context.Background()
	body := randomBytes(64<<10, 9)
	src := newGatedSource(t, body, 16<<10)
	d := startDaemon(t, testConfig(t))
	req := DownloadRequest{URN: urnOf(body), Name: "song.ogg", Size: int64(len(body)), Sources: []SourceRecord{{Addr: src.addr()}}}
	dl, err := d.client.AddDownload(ctx, req)
	require.NoError(t, err)
	_, err = d.client.PauseDownload(ctx, dl.ID)
	require.NoError(t, err)

	api := func(method, path, body string) (int, apiError) {
		r, err := http.NewRequest(method, "http://"+d.addr+path, strings.NewReader(body))
		require.NoError(t, err)
		r.Header.Set("Authorization", "Bearer "+d.token)
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var e apiError
		require.NoError(t, json.Unmarshal(b, &e), "%s", b)
		return resp.StatusCode, e
	}
	code, e := api(http.MethodPost, "/v1/downloads/"+dl.ID+"/pause", "")
	assert.Equal(t, http.StatusConflict, code)
	assert.Equal(t, apiError{Error: "download not in a state for that: " + dl.ID + " is paused", State: StatePaused}, e)
	code, e = api(http.MethodDelete, "/v1/downloads/nosuch", "")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, `no such download "nosuch"`, e.Error)
	reqJSON, err := json.Marshal(req)
	require.NoError(t, err)
	code, e = api(http.MethodPost, "/v1/downloads", string(reqJSON))
	assert.Equal(t, http.StatusConflict, code)
	assert.Equal(t, "download not in a state for that: song.ogg is already queued as "+dl.ID, e.Error)

	_, err = d.client.PauseDownload(ctx, dl.ID)
	assert.ErrorIs(t, err, ErrBadState)
	assert.EqualError(t, err, "control: download not in a state for that: "+dl.ID+" is paused")
	_, err = d.client.ResumeDownload(ctx, "nosuch")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.EqualError(t, err, `control: no such download "nosuch"`)
	_, err = d.client.AddDownload(ctx, req)
	assert.EqualError(t, err, fmt.Sprintf("control: POST /v1/downloads: 409 Conflict: download not in a state for that: song.ogg is already queued as %s", dl.ID))
}
