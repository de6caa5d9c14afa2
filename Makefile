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

.PHONY: build run test services tidy-check fmt-check vet staticcheck go-test fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/scimbridge ./cmd/scimbridge

run:
	$(GO) run ./cmd/scimbridge serve

test: services tidy-check fmt-check vet staticcheck fuzz go-test

# Every fuzz target of outside input runs briefly on top of its committed
# corpus (testdata/fuzz/<Name>/). FUZZ_TIME=0 skips them. The budget is an
# execution count, not a duration: a duration-bounded run can fail with a bare
# "context deadline exceeded" and no crasher when a starved worker misses the
# coordinator's stop deadline (golang/go#75804), which failed CI once.
FUZZ_TIME ?= 5000x
FUZZ_TARGETS := \
	scim:FuzzParseFilter scim:FuzzParsePatch scim:FuzzParseUser scim:FuzzPath \
	scim:FuzzParseBulkRequest scim:FuzzParseSearchRequest scim:FuzzCompareForSort scim:FuzzAppendJSON scim:FuzzDecodeObject \
	api:FuzzAuthorizationHeader api:FuzzEntityTags api:FuzzBulkPath

services:
	./.ci/services.sh

# go.mod and go.sum are what `go mod tidy` would write: no missing or
# unused requirement, direct ones marked direct.
tidy-check:
	@if ! $(GO) mod tidy -diff > /tmp/scimbridge-tidy.diff 2>&1; then \
		echo "go mod tidy would change go.mod/go.sum (run go mod tidy):"; cat /tmp/scimbridge-tidy.diff; exit 1; \
	fi; echo "go mod tidy: ok"

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
	grep -E '^(ok|FAIL|panic:|\?|#)[[:space:]]|^vet: |^FAIL$$|^ *--- FAIL' "$$log" || true; \
	passed=$$(grep -cE '^ok[[:space:]]' "$$log" || true); failed=$$(grep -cE '^FAIL[[:space:]]' "$$log" || true); \
	if [[ $$status -ne 0 ]]; then echo "go test: FAILED (exit $$status)"; echo "packages: $$passed passed, $$failed failed"; exit $$status; fi; \
	echo "go test: all packages passed"; echo "packages: $$passed passed, $$failed failed"

fuzz:
	@if [[ "$(FUZZ_TIME)" == "0" ]]; then echo "fuzz: skipped (FUZZ_TIME=0)"; exit 0; fi; \
	for t in $(FUZZ_TARGETS); do \
		pkg="./$${t%%:*}"; name="$${t##*:}"; \
		echo "fuzz: $$name ($$pkg, $(FUZZ_TIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZ_TIME) "$$pkg" > /tmp/scimbridge-fuzz.log 2>&1 || { cat /tmp/scimbridge-fuzz.log; exit 1; }; \
	done; echo "fuzz: ok"

clean:
	rm -rf bin
