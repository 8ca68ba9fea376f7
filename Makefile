# shoal: build, test, run, bench, lint.
GO        ?= go
BIN       := bin/shoal
RUN_DIR   ?= $(CURDIR)/.run
RUN_ARGS  ?= --name $(shell hostname) --bind 127.0.0.1 --data-dir $(RUN_DIR)
TEST_TIMEOUT ?= 20m
# VERSION, when set, is the release the binary reports (internal/version;
# docs/upgrades.md); without it, the version of the source tree.
VERSION   ?=
LDFLAGS   := $(if $(VERSION),-X github.com/shoal-project/shoal/internal/version.Version=$(VERSION))

.PHONY: all build test unit e2e e2e-kubectl chaos run bench lint deps clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/shoal

# deps installs what the tests need when it is missing (Go modules now;
# containerd, runc, CNI plugins and nftables once pods run).
deps:
	./scripts/deps.sh

# test is the whole suite: unit, in-process clusters and end-to-end tests
# against real shoal processes. Run as root on a fresh machine by CI.
test: deps build lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

unit:
	$(GO) test -count=1 -short ./...

e2e: build
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -v ./e2e/...

# e2e-kubectl runs the tutorial's first half (through expose and scale)
# with each kubectl of the version matrix that this machine carries (a
# version it lacks is skipped). The test's own exit status decides.
KUBECTL_VERSIONS ?= 1.27 1.28 1.29 1.30 1.31 1.32 1.33
e2e-kubectl: build
	@log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for v in $(KUBECTL_VERSIONS); do \
		echo "== kubectl $$v"; \
		if SHOAL_E2E_KUBECTL=kubectl.$$v SHOAL_E2E_FIRST_HALF=1 $(GO) test -count=1 -timeout 10m -run 'TestTutorialWithKubectl' -v ./e2e/ > $$log 2>&1; then \
			grep -E '^(=== RUN|--- |ok|PASS)|SKIP' $$log; \
		else \
			cat $$log; echo "== kubectl $$v: FAILED"; exit 1; \
		fi; \
	done

# chaos runs the chaos suite (e2e/chaos_test.go, as root): five agents in
# network namespaces, a checked workload, ROUNDS rounds of faults drawn
# from SEED (default: a random one, printed, so a failure can be replayed).
ROUNDS ?= 10
SEED   ?=
chaos: deps build
	SHOAL_CHAOS_ROUNDS=$(ROUNDS) SHOAL_CHAOS_SEED=$(SEED) $(GO) test -count=1 \
		-timeout $$(( 600 + $(ROUNDS) * 30 ))s -run '^TestChaos' -v ./e2e/

# run starts a one-node cluster in the foreground; Ctrl-C stops it.
run: build
	mkdir -p $(RUN_DIR)
	$(BIN) agent $(RUN_ARGS)

# bench runs the Go benchmarks; BENCH narrows them (a regexp).
BENCH ?= .
bench: build
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout 30m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin $(RUN_DIR)
