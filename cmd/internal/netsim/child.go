package netsim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/govent/govent/cmd/internal/p2pmodel"
	"github.com/govent/govent/cmd/internal/p2pnode"
	"github.com/govent/govent/cmd/internal/p2pstats"
)

// Virtual time needs a testing/synctest bubble, and synctest.Test needs a
// *testing.T, which only a test binary has. testing.Main makes one in an
// ordinary binary, but it prints PASS or FAIL and exits. So a virtual run
// is a child process: the govent binary again, with ChildEnv set, which
// calls testing.Main with ChildTest (cmd/govent does that before its
// command line is parsed); it reads a Spec on standard input, runs
// Simulate in a bubble, and writes its Outcome as JSON on file descriptor
// 3. Its standard error carries progress lines (ProgressPrefix) and, when
// it fails, why. Ctrl-C (SIGINT, SIGTERM, SIGHUP; RunVirtual's cancel, or
// our death) ends its run early: it writes the figures so far, with the
// error, and if we are gone it removes the share root we made.

// ChildEnv marks the child process: its value is "1".
const ChildEnv = "GOVENT_NETSIM_CHILD"

// ChildTest is the name of the one test the child runs.
const ChildTest = "NetsimVirtualRun"

// ProgressPrefix starts the child's progress lines on its standard error.
const ProgressPrefix = "netsim: "

// Spec is a run as the command line describes it, with the model files'
// contents, so that a child process can rebuild its Config.
type Spec struct {
	Nodes        int           `json:"nodes"`
	Ultrapeers   float64       `json:"ultrapeers"`
	Topology     Topology      `json:"topology"`
	Duration     time.Duration `json:"duration"`
	Workload     Model         `json:"workload"`
	Churn        *Model        `json:"churn"` // nil: none
	Seed         uint64        `json:"seed"`
	Routing      Routing       `json:"routing"`
	Settle       time.Duration `json:"settle"`
	SearchWindow time.Duration `json:"search_window"`
	ShareRoot    string        `json:"share_root"`
}

// Model is a model file: its name and contents.
type Model struct {
	Name string `json:"name"`
	TOML []byte `json:"toml"`
}

// LoadModel reads a model file: "default" is the built-in one.
func LoadModel(path string, builtin []byte, builtinName string) (Model, error) {
	if path == "" || path == "default" {
		return Model{Name: builtinName, TOML: builtin}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Model{}, fmt.Errorf("netsim: model: %w", err)
	}
	return Model{Name: path, TOML: data}, nil
}

// Config parses the spec's models into a Config (Realtime unset).
func (s Spec) Config() (Config, error) {
	w, err := p2pmodel.ParseWorkload(s.Workload.Name, s.Workload.TOML)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Nodes: s.Nodes, Ultrapeers: s.Ultrapeers, Topology: s.Topology, Duration: s.Duration,
		Workload: w, Seed: s.Seed, Routing: s.Routing, Settle: s.Settle, SearchWindow: s.SearchWindow,
		ShareRoot: s.ShareRoot}
	if s.Churn != nil {
		if cfg.Churn, err = p2pmodel.ParseChurn(s.Churn.Name, s.Churn.TOML); err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

// Outcome is what a child reports: the figures, and the error that ended
// the run early, if any.
type Outcome struct {
	Results *p2pstats.Results `json:"results"`
	Error   string            `json:"error,omitempty"`
}

// RunChild is the child's test: it reads a Spec from in, runs it in a
// synctest bubble and writes the Outcome to out, with the real time the
// run took and the process's peak RSS.
func RunChild(in io.Reader, out io.Writer, progress io.Writer) func(t *testing.T) {
	return func(t *testing.T) {
		var spec Spec
		if err := json.NewDecoder(io.LimitReader(in, 64<<20)).Decode(&spec); err != nil {
			t.Fatalf("netsim child: reading the spec: %v", err)
		}
		cfg, err := spec.Config()
		if err != nil {
			t.Fatalf("netsim child: %v", err)
		}
		cfg.Progress = func(s string) { fmt.Fprintln(progress, ProgressPrefix+s) }
		parent := os.Getppid()
		interrupted := catchInterrupt()
		var o Outcome
		start := time.Now()
		synctest.Test(t, func(t *testing.T) {
			ctx, done := interruptible(interrupted)
			r, err := Simulate(ctx, cfg)
			done()
			o.Results = r
			if errors.Is(err, context.Canceled) {
				err = context.Cause(ctx)
			}
			if err != nil {
				o.Error = err.Error()
			}
		})
		if os.Getppid() != parent {
			// Orphaned: nobody else will remove it.
			os.RemoveAll(spec.ShareRoot)
		}
		if o.Results != nil {
			o.Results.Run.RealS = time.Since(start).Seconds()
			o.Results.Memory.MaxRSSBytes = p2pnode.MaxRSS()
		}
		if err := json.NewEncoder(out).Encode(o); err != nil {
			t.Fatalf("netsim child: writing the results: %v", err)
		}
	}
}

// catchInterrupt notes the signals that end the child's run. It also
// makes a write to a pipe of a parent gone fail with EPIPE, rather than
// kill the child before it has cleaned up.
func catchInterrupt() *atomic.Bool {
	var got atomic.Bool
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		for s := range c {
			if s != syscall.SIGPIPE {
				got.Store(true)
			}
		}
	}()
	return &got
}

// interruptible is a context, of the synctest bubble it is called in,
// that ends once interrupted is set (a channel from outside the bubble
// would stop its clock): it looks every simulated second until done.
func interruptible(interrupted *atomic.Bool) (ctx context.Context, done func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if interrupted.Load() {
					cancel(ErrInterrupted)
					return
				}
			}
		}
	}()
	return ctx, func() { cancel(nil) }
}

// ErrInterrupted is the error of a child's run ended by a signal.
var ErrInterrupted = errors.New("netsim: interrupted")

// RunVirtual runs spec in a child process (see ChildEnv), passing its
// progress lines to progress, and returns its figures. Cancelling ctx
// interrupts the child: then the figures so far come back with
// ErrInterrupted.
func RunVirtual(ctx context.Context, spec Spec, progress func(string)) (*p2pstats.Results, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("netsim: finding our own binary: %w", err)
	}
	// The child's share directories go in here, which we remove whatever
	// becomes of the child.
	if spec.ShareRoot == "" {
		spec.ShareRoot = DefaultShareRoot()
	}
	root, err := os.MkdirTemp(spec.ShareRoot, "govent-netsim-")
	if err != nil {
		return nil, fmt.Errorf("netsim: %w", err)
	}
	defer os.RemoveAll(root)
	spec.ShareRoot = root
	progress(fmt.Sprintf("share directories in %s, removed at the end", root))
	in, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("netsim: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("netsim: %w", err)
	}
	defer pr.Close()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(cmd.Environ(), ChildEnv+"=1")
	cmd.Stdin = bytes.NewReader(in)
	cmd.ExtraFiles = []*os.File{pw} // fd 3
	var tail tailBuffer
	cmd.Stdout = &tail // testing's PASS/FAIL and a failed test's log
	stderr, err := cmd.StderrPipe()
	if err != nil {
		pw.Close()
		return nil, fmt.Errorf("netsim: %w", err)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second // for the figures so far, then it is killed
	cmd.SysProcAttr = childAttr()
	runtime.LockOSThread() // until the child is done: see childAttr
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("netsim: starting the simulator: %w", err)
	}
	pw.Close()
	outc := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(pr, 1<<30))
		outc <- b
	}()
	sc := bufio.NewScanner(stderr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), ProgressPrefix); ok {
			progress(line)
		} else {
			tail.Write(append(sc.Bytes(), '\n'))
		}
	}
	werr := cmd.Wait()
	out := <-outc
	var o Outcome
	if jerr := json.Unmarshal(out, &o); jerr != nil || o.Results == nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("netsim: interrupted: %w", ctx.Err())
		}
		return nil, fmt.Errorf("netsim: the simulator failed (%v):\n%s", werr, tail.String())
	}
	if o.Error == ErrInterrupted.Error() {
		return o.Results, ErrInterrupted
	}
	if o.Error != "" {
		return o.Results, errors.New(o.Error)
	}
	if werr != nil {
		// The figures are in, but the bubble did not end cleanly (a
		// goroutine left behind, for one).
		return o.Results, fmt.Errorf("netsim: the simulator failed after the run (%v):\n%s", werr, tail.String())
	}
	return o.Results, nil
}

// tailBuffer keeps the last 64 KiB written to it: a child that dies
// with twenty thousand goroutines' stacks must not flood the terminal.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailMax = 64 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2*tailMax {
		t.b = append(t.b[:0], t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b
	if len(b) > tailMax {
		b = b[len(b)-tailMax:]
	}
	return strings.TrimSpace(string(b))
}

// RunRealtime runs cfg on loopback TCP with the real clock, in this
// process.
func RunRealtime(ctx context.Context, cfg Config) (*p2pstats.Results, error) {
	cfg.Realtime = true
	start := time.Now()
	r, err := Simulate(ctx, cfg)
	if r != nil {
		r.Run.RealS = time.Since(start).Seconds()
		r.Run.Clock = "real"
		r.Memory.MaxRSSBytes = p2pnode.MaxRSS()
	}
	return r, err
}

// ParseBind reads --bind: IP or IP:PORT (the bootstrap node's port).
func ParseBind(s string) (netip.AddrPort, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 0), nil
	}
	return netip.ParseAddrPort(s)
}
