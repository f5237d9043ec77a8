# minichat. `make help` lists the targets.

GO       ?= go
GOFMT    ?= gofmt
CFN_LINT ?= cfn-lint
BIN_DIR  ?= bin

# Every directory under functions/ is one Lambda function; template.yaml says which
# route or event it serves (its CodeUri), so no list of functions is kept here.
FUNCTIONS := $(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go))

# Lambda binaries: provided.al2023 on arm64 runs a static executable named bootstrap;
# lambda.norpc drops the legacy RPC mode that runtime never uses; nethttpomithttp2
# drops net/http's HTTP/2 (the AWS clients speak HTTP/1.1); the AWS SDK, which waits on
# the network, is compiled without inlining, which keeps every bootstrap under 10 MB
# (docs/benchmarks.md). functions' tests build with these same two variables.
LAMBDA_TAGS    := lambda.norpc,nethttpomithttp2
LAMBDA_GCFLAGS := github.com/aws/...=-l
# $(call go_lambda,<output file>,<dir under functions/>)
go_lambda = GOOS=linux GOARCH=arm64 CGO_ENABLED=0 \
	$(GO) build -tags $(LAMBDA_TAGS) -gcflags='$(LAMBDA_GCFLAGS)' -trimpath -ldflags="-s -w" -o "$(1)" ./functions/$(2)

.DEFAULT_GOAL := help

.PHONY: help
help:
	@echo "run            the whole stack on this machine (go run ./cmd/minichat serve)"
	@echo "test           every test tier: vet, gofmt, go mod tidy, go test -race (template lint included);"
	@echo "               a tier whose tool is missing fails with its install hint; SKIP=moto,browser,... skips tiers"
	@echo "lint-template  cfn-lint template.yaml"
	@echo "deps           what the tests need: chromium (apt, as root), npm packages, pinned Go and Python tools"
	@echo "screenshots    regenerate docs/screenshots with the browser tests"
	@echo "tools          pinned Go tools into .tools/bin (the Lambda runtime interface emulator)"
	@echo "bench-lambda   bootstrap sizes and cold starts under the emulator into docs/benchmarks.md"
	@echo "build          every function for Lambda into $(BIN_DIR)/<dir>/bootstrap"
	@echo "bench-go       Go benchmarks (go test -bench)"
	@echo "bench          minichat serve against a Socket.IO 4.8 peer, side by side, into docs/benchmarks.md"
	@echo "               (BENCH_FLAGS=-quick: 1 short run each, no doc; BENCH_FLAGS=-pprof: CPU profiles of minichat)"
	@echo "soak           bounded mixed load with reconnect churn against minichat, into docs/reliability.md (SOAK_FLAGS)"
	@echo "fuzz           every fuzz target for FUZZTIME each (default 20s)"
	@echo "clean          remove build output"

.PHONY: run
run:
	$(GO) run ./cmd/minichat serve

# Each tier is its own target so that a tier needing a tool can depend on the target
# that installs it (e.g. `test-go: tools`) without touching the others.
.PHONY: test vet fmt-check mod-check test-go lint-template
test: vet fmt-check mod-check test-go

vet:
	$(GO) vet ./...

fmt-check:
	@files="$$($(GOFMT) -l .)"; \
	if [ -n "$$files" ]; then echo "gofmt -w needed on:"; echo "$$files"; exit 1; fi

# go.mod and go.sum say exactly what the code imports.
mod-check:
	@$(GO) mod tidy -diff || { echo "go.mod is not tidy: run go mod tidy"; exit 1; }

test-go: deps
	$(GO) test -race -count=1 -timeout 30m ./...

# deps installs what the test tiers need and the machine may lack. Each step
# is a no-op once done.
.PHONY: deps browser-deps python-deps screenshots tools bench-lambda
deps: browser-deps tools python-deps

# moto_server, cfn-lint and the AWS CLI, pinned, with pip where it reaches its index.
python-deps:
	infra/install-python-tools.sh

# Pinned tools the tests run, installed into .tools/bin (gitignored). The
# module proxy serves the Lambda emulator as a pseudo-version only.
TOOLS_BIN              := $(CURDIR)/.tools/bin
AWS_LAMBDA_RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d

tools:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(AWS_LAMBDA_RIE_VERSION)

# bench-lambda measures every bootstrap under the emulator into docs/benchmarks.md.
bench-lambda: tools
	$(GO) test -count=1 -run TestBootstrapsUnderEmulator ./functions -update-benchmarks

# The browser tier: Debian's chromium (apt-get, as root) and the exact npm
# packages of web/e2e/package-lock.json.
browser-deps:
	web/e2e/install-deps.sh

screenshots: browser-deps
	MINICHAT_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run TestBrowser ./web

lint-template:
	$(CFN_LINT) template.yaml

# lambda builds functions/$(FUNCTION) into $(ARTIFACTS_DIR)/bootstrap. It is what
# `sam build` reaches through functions/<dir>/Makefile; see docs/deploy.md.
.PHONY: lambda
lambda:
	$(if $(FUNCTION),,$(error FUNCTION is not set: the directory under functions/ to build))
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: sam build sets it; use make build otherwise))
	$(call go_lambda,$(ARTIFACTS_DIR)/bootstrap,$(FUNCTION))

.PHONY: build
build: $(FUNCTIONS:%=$(BIN_DIR)/%/bootstrap)

# FORCE: go build knows better than make whether a binary is stale.
$(BIN_DIR)/%/bootstrap: FORCE
	$(call go_lambda,$@,$*)

.PHONY: bench-go
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# bench and soak start every server they measure themselves (a fresh
# `minichat serve` built into a temporary dir; the peer after npm ci in
# bench/socketio), on loopback only; logs, raw results and profiles go to
# bench/out (gitignored). `go run ./bench/loadgen bench -h` lists the flags.
BENCH_FLAGS ?=
SOAK_FLAGS  ?=

.PHONY: bench soak
bench:
	$(GO) run ./bench/loadgen bench -doc docs/benchmarks.md $(BENCH_FLAGS)

soak:
	$(GO) run ./bench/loadgen soak -doc docs/reliability.md $(SOAK_FLAGS)

FUZZTIME ?= 20s

# fuzz runs every fuzz target (func Fuzz... in a _test.go file) for FUZZTIME
# each, one after the other; a failing input is written to the package's
# testdata/fuzz/<FuzzName>/ and fails the run. -fuzzminimizetime keeps a
# bounded run from stalling while it minimises a new input.
.PHONY: fuzz
fuzz:
	@set -e; for dir in $$($(GO) list -f '{{.Dir}}' ./...); do \
		for name in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | cut -c6-); do \
			echo "fuzz: $$name in $$dir for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$dir; \
		done; \
	done

.PHONY: clean
clean:
	rm -rf $(BIN_DIR) .aws-sam

.PHONY: FORCE
FORCE:
