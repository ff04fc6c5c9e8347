package control

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govent/govent/servent"
)

// Requests without the token are warned about as the servent logs bad
// input: one line a reason per interval, the next one of that reason
// saying how many were left out, and no count when none were.
func TestTokenWarningsRateLimited(t *testing.T) {
	s, err := servent.New(testConfig(t))
	require.NoError(t, err)
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		srv, err := New(Config{Servent: s, Token: "the token", Logger: zap.New(core)})
		require.NoError(t, err)
		refused := func(auth string) {
			r := httptest.NewRequest("GET", "/v1/status", nil)
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			require.Equal(t, http.StatusUnauthorized, w.Code)
		}
		refused("")
		refused("")
		refused("Bearer not the token")
		refused("")
		time.Sleep(tokenWarnInterval)
		refused("")

		lines := logs.All()
		require.Len(t, lines, 3)
		where := map[string]any{"remote": "192.0.2.1:1234", "path": "/v1/status"}
		assert.Equal(t, []any{zapcore.WarnLevel, "control request without a token", where}, []any{lines[0].Level, lines[0].Message, lines[0].ContextMap()})
		assert.Equal(t, []any{zapcore.WarnLevel, "control request with a wrong token", where}, []any{lines[1].Level, lines[1].Message, lines[1].ContextMap()})
		where["suppressed"] = int64(2)
		assert.Equal(t, []any{zapcore.WarnLevel, "control request without a token", where}, []any{lines[2].Level, lines[2].Message, lines[2].ContextMap()})
	})
}
