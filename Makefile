# Quick start: `make demo`, then `make test`. See README.md.
GO         ?= go
BIN        := bin/marcador
DEV_CONFIG := deploy/dev/marcador.yaml
VERSION    := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: all build build-prod demo test vet dev-up dev-down bench-analytics bench-sip bench-amd bench-bridge bench-kpi fuzz clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/marcador

# The production binary: without the lab tools (demo, twiliosim, simcarrier,
# bench), so neither fake (sms/twiliotest, dialer/simcarrier) is linked.
build-prod:
	$(GO) build -tags prod -ldflags "-X main.version=$(VERSION)" -o $(BIN)-prod ./cmd/marcador

dev-up:
	deploy/dev/up.sh

dev-down:
	deploy/dev/down.sh

# Dev services up, schema migrated, demo run. Services stay up afterwards
# (`make dev-down` stops them).
demo: build dev-up
	$(BIN) migrate -config $(DEV_CONFIG)
	$(BIN) demo -config $(DEV_CONFIG)

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Runs every test with -race against real Redis and ClickHouse. Starts the dev
# services if they are not running, and stops the ones it started.
# The slowest packages go first, so they start as soon as they are built; most
# of their tests wait on calls in real time (rings, prompts, wrap-ups), so up
# to TEST_PARALLEL of a package's parallel tests run at once (go test's
# default is the number of CPUs) and TEST_P packages at once.
SLOW_PKGS     := ./dialer/campaign ./cmd/marcador
TEST_PARALLEL ?= 12
TEST_P        ?= 3
test:
	@was_up=0; redis-cli -p 16379 ping >/dev/null 2>&1 && was_up=1; \
	deploy/dev/up.sh || exit 1; \
	status=0; \
	$(MAKE) --no-print-directory vet || status=$$?; \
	if [ $$status -eq 0 ]; then \
	  rest=$$($(GO) list ./... | grep -v -x -e '.*/dialer/campaign' -e '.*/cmd/marcador'); \
	  $(GO) test -race -count=1 -p $(TEST_P) -parallel $(TEST_PARALLEL) -timeout 20m $(SLOW_PKGS) $$rest || status=$$?; \
	fi; \
	if [ $$was_up -eq 0 ]; then deploy/dev/down.sh; fi; \
	exit $$status

bench-analytics: build dev-up
	$(BIN) bench analytics -config $(DEV_CONFIG) -rows 1000000 -json

bench-kpi: build dev-up
	$(BIN) bench kpi -config $(DEV_CONFIG) -attempts 10000000 -json

bench-sip: build
	$(BIN) bench sip -config $(DEV_CONFIG) -json

# 50 agents' phones and 200 debtor calls bridged on loopback (Redis needed).
bench-bridge: build dev-up
	$(BIN) bench bridge -config $(DEV_CONFIG) -json

# Generates the AMD test corpus under .corpus/amd/test on first use (espeak-ng, sox).
bench-amd: build
	$(BIN) bench amd -json

# Short runs of every fuzz target (each also runs its seeds in `make test`).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
