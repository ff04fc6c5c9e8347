package servent

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govent/govent/servent/memnet"
	"github.com/govent/govent/wire"
)

// eventLog records a servent's events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) of(kind EventKind) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestEventsMeasureTraffic: every descriptor read from a link is reported
// with its type, GUID and size, and a connection's end says who dialled
// and which Bye ended it, at both ends.
func TestEventsMeasureTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		var aLog, bLog eventLog
		acfg := memConfig(t, n, "127.0.0.1:6346")
		acfg.OnEvent = aLog.add
		a := startServent(t, acfg)
		bcfg := memConfig(t, n, "127.0.0.2:6346")
		bcfg.ShareDir = shareDir(t, map[string]string{"penguin song.mp3": "flap flap"})
		bcfg.OnEvent = bLog.add
		b := startServent(t, bcfg)
		require.NoError(t, b.Connect(a.Addr()))
		synctest.Wait()

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sr, err := a.Search(ctx, "penguin")
		require.NoError(t, err)
		require.Len(t, collect(t, sr, 1, 5*time.Second), 1)

		received := func(l *eventLog, typ wire.PayloadType) []Event {
			var out []Event
			for _, e := range l.of(EventReceived) {
				if e.Type == typ && e.GUID == sr.GUID {
					out = append(out, e)
				}
			}
			return out
		}
		q := received(&bLog, wire.TypeQuery)
		require.Len(t, q, 1, "b read the Query once")
		assert.Equal(t, wire.HeaderLen+len("penguin")+1+2, q[0].Bytes, "header, flags, criteria and its NUL")
		assert.Equal(t, a.Addr(), q[0].Peer)
		assert.Equal(t, uint8(1), q[0].Hops)
		hits := received(&aLog, wire.TypeQueryHit)
		require.Len(t, hits, 1, "a read the QueryHit once")
		assert.Greater(t, hits[0].Bytes, wire.HeaderLen+11+16, "a QueryHit with one result")
		assert.Equal(t, b.Addr(), hits[0].Peer)
		assert.Empty(t, received(&aLog, wire.TypeQuery), "a's own Query is not read back")

		// Each side also read the other's hello Ping.
		assert.NotEmpty(t, aLog.of(EventReceived))
		for _, e := range append(aLog.of(EventReceived), bLog.of(EventReceived)...) {
			assert.GreaterOrEqual(t, e.Bytes, wire.HeaderLen)
		}

		require.NoError(t, a.Close())
		synctest.Wait()
		ad, bd := aLog.of(EventDisconnected), bLog.of(EventDisconnected)
		require.Len(t, ad, 1)
		require.Len(t, bd, 1)
		assert.Equal(t, Event{Kind: EventDisconnected, Peer: b.Addr(), ByeSent: wire.ByeNormal}, ad[0], "a closed, and had been dialled")
		assert.Equal(t, Event{Kind: EventDisconnected, Peer: a.Addr(), ByeReceived: wire.ByeNormal, Outgoing: true}, bd[0], "b dialled, and got a's Bye")
		assert.True(t, bLog.of(EventConnected)[0].Outgoing)
		assert.False(t, aLog.of(EventConnected)[0].Outgoing)
		require.NoError(t, b.Close())
	})
}
