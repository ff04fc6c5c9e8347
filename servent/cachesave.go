package servent

import (
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

// How often the servent saves its caches while it runs, gtk-gnutella's
// periods: the host cache every 63 s (HCACHE_SAVE_PERIOD, "every minute
// or so", src/core/hcache.c), the TLS cache every 10 minutes
// (IPP_CACHE_PERIOD, src/core/ipp_cache.c). A kill -9 or a crash loses at
// most that much of what the run learnt; Close saves both as well. A cache
// that did not change since its last save is not written again (the
// caches' Save, through atomicfile.Last), as gtk-gnutella stores its host
// cache only when dirty.
const (
	hostsSaveEvery    = 63 * time.Second
	tlsHostsSaveEvery = 10 * time.Minute
	// The PARQ upload queue, every minute as gtk-gnutella saves its own
	// (QUEUE_SAVE_PERIOD, src/core/parq.c).
	uploadQueueSaveEvery = time.Minute
)

// UploadQueueFile keeps the PARQ upload queue in the data directory across
// restarts (httpxfer/parq_persist.go): a downloader that polls with its
// queue ID after we restarted keeps its place.
const UploadQueueFile = "upload-queue.json"

// saveLoop saves the caches at their periods until the servent stops;
// shutdown saves them once more after it has returned. Without a DataDir
// there is nothing to save.
func (s *Servent) saveLoop() {
	defer s.wg.Done()
	if s.cfg.DataDir == "" {
		return
	}
	hosts := time.NewTicker(hostsSaveEvery)
	defer hosts.Stop()
	tls := time.NewTicker(tlsHostsSaveEvery)
	defer tls.Stop()
	queue := time.NewTicker(uploadQueueSaveEvery)
	defer queue.Stop()
	for {
		select {
		case <-hosts.C:
			s.saveHosts()
		case <-tls.C:
			s.saveTLSHosts()
		case <-queue.C:
			s.saveUploadQueue()
		case <-s.ctx.Done():
			return
		}
	}
}

// saveCaches saves the caches and the upload queue, at shutdown.
func (s *Servent) saveCaches() {
	s.saveHosts()
	s.saveTLSHosts()
	s.saveUploadQueue()
}

// loadUploadQueue restores the upload queue an earlier run saved. A bad
// file costs the queued downloaders their places, nothing more.
func (s *Servent) loadUploadQueue() {
	if s.cfg.DataDir == "" {
		return
	}
	if err := s.xfer.up.LoadQueue(filepath.Join(s.cfg.DataDir, UploadQueueFile)); err != nil {
		s.log.Warn("upload queue not loaded, starting empty", zap.Error(err))
	}
}

func (s *Servent) saveUploadQueue() {
	if s.cfg.DataDir == "" {
		return
	}
	if err := s.xfer.up.SaveQueue(filepath.Join(s.cfg.DataDir, UploadQueueFile)); err != nil {
		s.log.Warn("saving upload queue", zap.Error(err))
	}
}

func (s *Servent) saveHosts() {
	if err := s.hosts.Save(); err != nil {
		s.log.Warn("saving host cache", zap.Error(err))
	}
}

// logRestoredBackoff says once, at start, how many hosts of the loaded
// cache are still in the backoff of an earlier run's failures: they are
// not dialled before their time, which would otherwise look like the
// servent ignoring them.
func (s *Servent) logRestoredBackoff(now time.Time) {
	hosts := s.hosts.Hosts()
	n, first := 0, time.Time{}
	for _, h := range hosts {
		if h.NextAttempt.After(now) {
			n++
			if first.IsZero() || h.NextAttempt.Before(first) {
				first = h.NextAttempt
			}
		}
	}
	if n > 0 {
		s.log.Info("host cache: hosts in backoff from the last run", zap.Int("backoff", n), zap.Int("hosts", len(hosts)),
			zap.String("first_retry_in", first.Sub(now).Round(time.Second).String()))
	}
}
