package hostcache

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/govent/govent/httpxfer/smallfile"
)

// HostFile is the name of the host file in the data directory.
const HostFile = "hosts.json"

// hostFormat is bumped when the file layout changes incompatibly.
const hostFormat = 1

type hostFile struct {
	Format int         `json:"format"`
	Hosts  []hostEntry `json:"hosts"`
}

type hostEntry struct {
	Addr        string    `json:"addr"`
	Source      string    `json:"source"`
	Ultrapeer   bool      `json:"ultrapeer,omitempty"`
	LastSeen    time.Time `json:"last_seen"`
	Failures    int       `json:"failures,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// Load adds the hosts saved by an earlier run. No DataDir or no file is not
// an error. A file that cannot be parsed, or is larger than the cache could
// have written (fileLimit), is reported with ErrCorrupt and nothing is
// loaded. Saved hosts go through the same checks as hosts from
// peers (a host once configured is no longer trusted more than that), and
// hosts the current policy refuses are dropped quietly.
func (c *Cache) Load() error {
	if c.cfg.DataDir == "" {
		return nil
	}
	name := filepath.Join(c.cfg.DataDir, HostFile)
	var f hostFile
	if found, err := smallfile.ReadJSON(name, c.fileLimit(), hostFormat, &f); !found {
		return nil
	} else if errors.Is(err, smallfile.ErrBad) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	} else if err != nil {
		return fmt.Errorf("loading the host cache: %w", err)
	}
	hosts := make([]Host, 0, len(f.Hosts))
	for _, e := range f.Hosts {
		h, err := e.host()
		if err != nil {
			return fmt.Errorf("%w %s: %w", ErrCorrupt, name, err)
		}
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		c.restore(h)
	}
	return nil
}

// hostEntryMax bounds one host's entry in the file as Save writes it (the
// longest address, source and times take some 300 bytes).
const hostEntryMax = 1 << 10

// fileLimit is the largest host file Load reads: what Save writes for
// full pools and the configured hosts of this run, with room to spare,
// and never less than 64 KiB.
func (c *Cache) fileLimit() int64 {
	c.mu.Lock()
	n := c.cfg.MaxHosts + c.cfg.MaxUltrapeers
	for _, h := range c.hosts {
		if h.configured {
			n++
		}
	}
	c.mu.Unlock()
	return 64<<10 + int64(n)*hostEntryMax
}

func (e hostEntry) host() (Host, error) {
	addr, err := netip.ParseAddrPort(e.Addr)
	if err != nil {
		return Host{}, err
	}
	var src Source
	for s, n := range sourceNames {
		if n == e.Source {
			src = s
		}
	}
	if src == 0 {
		return Host{}, fmt.Errorf("%v: unknown source %q", addr, e.Source)
	}
	if e.Failures < 0 {
		return Host{}, fmt.Errorf("%v: %d failures", addr, e.Failures)
	}
	return Host{Addr: addr, Source: src, Ultrapeer: e.Ultrapeer, LastSeen: e.LastSeen,
		Failures: e.Failures, NextAttempt: e.NextAttempt}, nil
}

// restore adds a saved host as a learned one, with its failure record.
func (c *Cache) restore(saved Host) {
	if saved.Failures >= c.cfg.MaxFailures {
		return
	}
	if c.Add(saved.Addr, saved.Source, saved.Ultrapeer, saved.LastSeen) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[normalize(saved.Addr)]
	if !ok || h.configured {
		return // evicted at once, or configured in this run
	}
	h.Failures = max(h.Failures, saved.Failures)
	h.NextAttempt = later(h.NextAttempt, saved.NextAttempt)
	c.pools[poolOf(h)].fix(h)
}

// Save writes the cache to the host file atomically, unless the file holds
// what it is already (the last Save wrote the same); without a DataDir it
// does nothing. The servent saves every minute or so while it runs, and on
// shutdown (servent's saveLoop).
func (c *Cache) Save() error {
	if c.cfg.DataDir == "" {
		return nil
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	hosts := c.Hosts()
	f := hostFile{Format: hostFormat, Hosts: make([]hostEntry, 0, len(hosts))}
	for _, h := range hosts {
		f.Hosts = append(f.Hosts, hostEntry{
			Addr:        h.Addr.String(),
			Source:      h.Source.String(),
			Ultrapeer:   h.Ultrapeer,
			LastSeen:    h.LastSeen,
			Failures:    h.Failures,
			NextAttempt: h.NextAttempt,
		})
	}
	b, err := json.MarshalIndent(&f, "", "\t")
	if err != nil {
		return fmt.Errorf("saving the host cache: %w", err)
	}
	if _, err := c.saved.Write(filepath.Join(c.cfg.DataDir, HostFile), b); err != nil {
		return fmt.Errorf("saving the host cache: %w", err)
	}
	return nil
}
