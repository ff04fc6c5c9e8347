# Govent build and test entry points. `make test` is what CI runs.
GO       ?= go
FUZZTIME ?= 30s
BENCHTIME ?= 1s
SOAK_DURATION ?= 10m
export CGO_ENABLED ?= 0

.PHONY: all build test vet fuzz fuzz-peer bench bench-transfer demo soak

all: vet build

build:
	$(GO) build -o bin/govent ./cmd/govent

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@long=$$(wc -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | \
		awk '$$2 != "total" && $$2 !~ /_test\.go$$/ && $$1 > 600 {print $$2 ": " $$1 " lines"}'); \
	if [ -n "$$long" ]; then echo "non-test Go files over 600 lines (split them by what they do):"; echo "$$long"; exit 1; fi
	$(GO) vet ./...

# The race detector needs cgo; everything else builds with CGO_ENABLED=0.
test: vet
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

# Runs every fuzz target in turn for FUZZTIME each. One worker: the fuzzer
# stalls with more on a loaded 2-core machine.
FUZZPKGS ?= ./fuzz ./wire/capture
fuzz:
	@set -e; for p in $(FUZZPKGS); do \
		for t in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
			echo "== $$p $$t"; \
			$(GO) test $$p -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -parallel 1; \
		done; \
	done

# Issue 13: fuzz-peer against our own servent (in-process, loopback, every
# target area) for FUZZPEER_DURATION; prints the summary (cases per area,
# answers by kind, cases/s) and fails on any finding. FUZZPEER_FLAGS are
# more fuzz-peer flags (the last of a flag wins): 64 cases at once keep
# both cores busy while some cases wait out a silence.
FUZZPEER_DURATION ?= 60s
FUZZPEER_FLAGS ?= --parallel 64
fuzz-peer:
	FUZZPEER_DURATION=$(FUZZPEER_DURATION) FUZZPEER_FLAGS="$(FUZZPEER_FLAGS)" \
		$(GO) test -count=1 -run '^TestFuzzPeerOwnServent$$' -v -timeout 3h ./cmd/govent/

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

demo:
	$(GO) run ./cmd/govent demo

# Issue 5's transfer benchmark: our uploader to our downloader beside nginx
# to curl (Debian packages nginx and curl), 1 GiB unless GOVENT_BENCH_BYTES;
# and issue 15's mesh case: 4 loopback sources with THEX per-chunk
# verification against the same without (thex/sha1, target 0.9).
bench-transfer:
	$(GO) test -run '^$$' -bench '^BenchmarkTransferVsNginx$$' -benchtime 3x -timeout 30m ./httpxfer/
	$(GO) test -run '^$$' -bench '^BenchmarkTransferMesh$$' -benchtime 10x -timeout 30m ./httpxfer/

# Issue 9's soak, not part of test: 50 servents on loopback TCP (each on an
# address of its own), a node leaving and one joining every second, a
# search every second, for SOAK_DURATION (plus about 2 minutes of warm-up
# and idling). Exits 1 when a target is missed; see cmd/internal/soak.
soak:
	$(GO) run ./cmd/internal/soak -duration $(SOAK_DURATION)
