package servent

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/govent/govent/httpxfer"
	"github.com/govent/govent/wire"
)

// A download re-searches for its urn:sha1 first after the interval, then
// after twice as long each time up to 8 times the interval, and takes
// every answer with that SHA-1 (and no other) as a source.
func TestResearchBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sum := wire.SHA1{1, 2, 3}
		other := wire.SHA1{9}
		start := time.Now()
		var mu sync.Mutex
		var at []time.Duration
		var added []httpxfer.Source
		search := func(ctx context.Context, text string) (*Search, error) {
			assert.Equal(t, sum.String(), text)
			mu.Lock()
			at = append(at, time.Since(start))
			n := len(at)
			mu.Unlock()
			ch := make(chan Result, 2)
			ch <- Result{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(n)}), 6346), SHA1: sum, HasSHA1: true}
			ch <- Result{Addr: netip.MustParseAddrPort("10.9.9.9:1"), SHA1: other, HasSHA1: true}
			close(ch)
			return &Search{Results: ch}, nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			research(ctx, sum, 5*time.Minute, search, func(s ...httpxfer.Source) {
				mu.Lock()
				added = append(added, s...)
				mu.Unlock()
			})
		}()
		time.Sleep(5*time.Minute + 10*time.Minute + 20*time.Minute + 40*time.Minute + 40*time.Minute + time.Second)
		synctest.Wait()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		m := time.Minute
		assert.Equal(t, []time.Duration{5 * m, 15 * m, 35 * m, 75 * m, 115 * m}, at)
		assert.Len(t, added, 5)
		for i, s := range added {
			assert.Equal(t, netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), s.Addr.Addr())
		}
	})
}

// A negative interval never re-searches.
func TestResearchOff(t *testing.T) {
	called := false
	research(t.Context(), wire.SHA1{1}, -1, func(context.Context, string) (*Search, error) {
		called = true
		return nil, nil
	}, nil)
	assert.False(t, called)
}
