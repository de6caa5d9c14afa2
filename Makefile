# scimbridge: build, run and test.
#
#   make test    services up, gofmt, go vet, staticcheck, go test (what CI runs)
#   make run     the embedded quick start: no config, no Redis needed
#   make build   bin/scimbridge

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO                 ?= go
GOBIN              ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK        := $(GOBIN)/staticcheck
# Two packages at a time keeps a 2-core runner busy without starving the
# databases the tests share. RACE=0 turns the race detector off.
TEST_PARALLEL      ?= 2
RACE               ?= 1
TEST_TIMEOUT       ?= 10m
TEST_FLAGS         ?=

ifeq ($(RACE),1)
RACE_FLAG := -race
endif

.PHONY: build run test services fmt-check vet staticcheck go-test clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/scimbridge ./cmd/scimbridge

run:
	$(GO) run ./cmd/scimbridge serve

test: services fmt-check vet staticcheck go-test

services:
	./.ci/services.sh

fmt-check:
	@files="$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l)"; \
	if [[ -n "$$files" ]]; then \
		echo "gofmt: these files need formatting (gofmt -w <file>):"; \
		echo "$$files" | sed 's/^/  /'; \
		exit 1; \
	fi; \
	echo "gofmt: ok"

vet:
	$(GO) vet ./...

$(STATICCHECK):
	GOBIN=$(GOBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	@if ! $(STATICCHECK) -version | grep -q "($(STATICCHECK_VERSION:v%=%))"; then \
		GOBIN=$(GOBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); \
	fi
	$(STATICCHECK) ./...

go-test:
	@echo "go test -count=1 $(RACE_FLAG) -p $(TEST_PARALLEL) -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./..."
	@log="$$(mktemp)"; trap 'rm -f "$$log"' EXIT; start=$$(date +%s); status=0; \
	$(GO) test -count=1 $(RACE_FLAG) -p $(TEST_PARALLEL) -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./... 2>&1 | tee "$$log" || status=$$?; \
	echo; echo "== go test summary ($$(( $$(date +%s) - start ))s) =="; \
	grep -E '^(ok|FAIL|panic:|\?)[[:space:]]|^FAIL$$|^ *--- FAIL' "$$log" || true; \
	if [[ $$status -ne 0 ]]; then echo "go test: FAILED (exit $$status)"; exit $$status; fi; \
	echo "go test: all packages passed"

clean:
	rm -rf bin
