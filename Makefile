# silentauth — build, demo and test. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
GOROOT := $(shell $(GO) env GOROOT)
WASM_EXEC := $(GOROOT)/lib/wasm/wasm_exec.js
DIST := dist
TOOLS := $(DIST)/tools
# No inlining outside the crypto and math packages: inlined copies are 7 %
# of the brotli bytes, and only signature verification (crypto, math/big)
# runs hot enough to need them (docs/benchmarks.md#where-the-bytes-are).
# Later -gcflags patterns win, so crypto and math keep the default.
WASM_GCFLAGS := -gcflags=all=-l -gcflags=crypto/...= -gcflags=math/...= -gcflags=vendor/golang.org/x/crypto/...=
WASM_FLAGS := -trimpath -ldflags="-s -w" $(WASM_GCFLAGS)
CHROMIUM ?= /usr/bin/chromium
# Two modules: the SDK (go.mod) and the demo, e2e and bench (demo/go.mod, which
# holds chromedp and the test tools). Every target runs in the workspace that
# joins them (go.work), whatever GOWORK the caller's environment sets.
export GOWORK := $(CURDIR)/go.work

.PHONY: help build types demo test deps chromium node-deps tools unit fuzz-seeds wasmtest e2e e2e-worker vet modcheck mutants typecheck pack bench bench-soak bench-soak-refresh bench-outage bench-multitab clean wasm-gcflags

help:
	@echo "make build   - dist/silentauth.wasm, dist/silentauth.js, dist/silentauth.mjs"
	@echo "make pack    - build, then pack dist/silentauth-<version>.tgz (npm i ./dist/silentauth-<version>.tgz)"
	@echo "make demo    - build, then run the offline dev tenant and the demo app (DEMO_FLAGS=\"-allow-origin http://localhost:5173\")"
	@echo "make test    - install what tests need, then run every test"
	@echo "make bench   - benchmarks against baselines in headless Chromium (figures, no assertions)"
	@echo "make mutants - break each pinned engine behaviour in a scratch copy; report the mutations no test kills"

build: $(DIST)/silentauth.wasm $(DIST)/silentauth.js $(DIST)/silentauth.mjs $(DIST)/silentauth-worker.js types

# The TypeScript declarations ship as written: the module's, and the script
# tag's global (types only, "silentauth/global").
TYPES := $(DIST)/silentauth.d.ts $(DIST)/silentauth-global.d.ts
types: $(TYPES)

$(DIST)/%.d.ts: wasm/loader/%.d.ts
	@mkdir -p $(DIST)
	cp $< $@

# The npm tarball, dist/silentauth-<version>.tgz, holding what package.json's
# "files" lists.
pack: build
	npm pack --pack-destination $(DIST)/

GO_SOURCES := $(shell find checksession jsbridge wasm internal/safego -name '*.go' -not -name '*_test.go' 2>/dev/null) go.mod go.sum

# Built from the SDK module alone, as a Go user's build would resolve it.
$(DIST)/silentauth.wasm: $(GO_SOURCES)
	@mkdir -p $(DIST)
	GOWORK=off GOOS=js GOARCH=wasm $(GO) build $(WASM_FLAGS) -o $@ ./wasm

# The loaders carry Go's own wasm_exec.js, taken from the installed Go so the
# glue always matches the compiler that built the wasm. It runs inside
# glue-open.js/glue-close.js's function, so that the globals it defines (fs,
# process, path, Go) never reach the page.
# Both loaders are the scoped glue, the shared loader code, then their own tail.
# Each bundle is written readable to dist/src/ and shipped minified
# (demo/cmd/jsmin: comments and whitespace out, local names shortened), which
# takes the script tag's loader from about 23 KB to 12 KB brotli. The "/*!"
# notice is kept: it carries wasm_exec.js's copyright line.
GLUE := wasm/loader/glue-open.js $(WASM_EXEC) wasm/loader/glue-close.js
JSMIN := $(TOOLS)/jsmin
GO_NOTICE := /*! silentauth. Includes Go's wasm_exec.js: Copyright 2018 The Go Authors. All rights reserved. Use of this source code is governed by a BSD-style license that can be found in Go's LICENSE file. */

$(JSMIN): demo/cmd/jsmin/main.go demo/go.mod demo/go.sum
	@mkdir -p $(TOOLS)
	$(GO) build -o $@ ./demo/cmd/jsmin

$(DIST)/silentauth.js: $(GLUE) wasm/loader/common.js wasm/loader/prestart.js wasm/loader/pageside.js wasm/loader/script.js $(JSMIN)
	@mkdir -p $(DIST)/src
	{ echo "$(GO_NOTICE)"; echo '/* silentauth: Go wasm_exec.js glue followed by the loader. */'; \
	  echo '(function () {'; cat $(filter %.js,$^); echo '})();'; } > $(DIST)/src/silentauth.js
	$(JSMIN) $(DIST)/src/silentauth.js $@

$(DIST)/silentauth.mjs: $(GLUE) wasm/loader/common.js wasm/loader/prestart.js wasm/loader/pageside.js wasm/loader/module.js $(JSMIN)
	@mkdir -p $(DIST)/src
	{ echo "$(GO_NOTICE)"; echo '/* silentauth ES module: Go wasm_exec.js glue followed by the loader. */'; \
	  cat $(filter %.js,$^); } > $(DIST)/src/silentauth.mjs
	$(JSMIN) $(DIST)/src/silentauth.mjs $@

# The SharedWorker placement's engine (engine: "shared-worker"): the same
# glue and silentauth.wasm, with the worker's own tail; served next to the
# loaders, from the app's origin.
$(DIST)/silentauth-worker.js: $(GLUE) wasm/loader/worker.js $(JSMIN)
	@mkdir -p $(DIST)/src
	{ echo "$(GO_NOTICE)"; echo '/* silentauth SharedWorker: Go wasm_exec.js glue followed by the worker. */'; \
	  echo '(function () {'; cat $(filter %.js,$^); echo '})();'; } > $(DIST)/src/silentauth-worker.js
	$(JSMIN) $(DIST)/src/silentauth-worker.js $@

# The bench builds its size baselines with the same compiler flags.
wasm-gcflags:
	@echo $(WASM_GCFLAGS)

demo: build
	$(GO) run ./demo/cmd/silentauth-demo $(DEMO_FLAGS)

# --- what the tests need; each step is skipped when already there ---------

deps: chromium node-deps tools

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Chromium from Debian's packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	@$(CHROMIUM) --version

node-deps:
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi

# wasmbrowsertest is a pinned Go tool (demo/go.mod "tool"), built for the host.
tools: $(TOOLS)/wasmbrowsertest

$(TOOLS)/wasmbrowsertest: demo/go.mod demo/go.sum
	@mkdir -p $(TOOLS)
	GOOS= GOARCH= $(GO) -C demo build -o $(CURDIR)/$@ github.com/agnivade/wasmbrowsertest

# --- tests ----------------------------------------------------------------

test: deps vet typecheck unit wasmtest e2e e2e-worker

vet: modcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./checksession/... ./internal/... ./demo/...
	GOOS=js GOARCH=wasm $(GO) vet ./jsbridge/... ./wasm/... ./demo/goapp/...

# The SDK module alone (no workspace) must not pull in the demo's
# dependencies: a Go user of checksession gets golang-jwt and safejs, never
# chromedp or the test tools, which belong in demo/go.mod.
DEMO_ONLY_MODULES := github.com/chromedp/|github.com/agnivade/wasmbrowsertest
modcheck:
	@mods="$$(GOWORK=off $(GO) list -m all)" || exit 1; \
	if grep -E '$(DEMO_ONLY_MODULES)' <<<"$$mods"; then \
	  echo "go.mod: the SDK module requires the demo's dependencies above; they belong in demo/go.mod"; exit 1; \
	fi

# The declarations against an example that uses every name, strictly; then
# the loaders, as make build concatenates them but for Go's wasm_exec.js,
# with tsc --checkJs against those declarations.
LOADER_CHECK := $(DIST)/typecheck
typecheck:
	npx tsc --noEmit -p demo/types-example/tsconfig.json
	@mkdir -p $(LOADER_CHECK)
	cat wasm/loader/glue-open.js wasm/loader/glue-close.js wasm/loader/common.js wasm/loader/prestart.js wasm/loader/pageside.js wasm/loader/module.js > $(LOADER_CHECK)/silentauth.mjs
	{ echo '(function () {'; cat wasm/loader/glue-open.js wasm/loader/glue-close.js wasm/loader/common.js wasm/loader/prestart.js wasm/loader/pageside.js wasm/loader/script.js; echo '})();'; } > $(LOADER_CHECK)/silentauth.js
	npx tsc -p wasm/loader/tsconfig.json

# Host tests: the pure core (fuzz seed corpora run as ordinary tests), the dev
# tenant, the demo server and the node-oidc-provider harness.
unit:
	$(GO) test -race -count=1 ./checksession/... ./jsbridge/wire/... ./internal/... ./demo/devtenant/... ./demo/demoserver/... ./demo/cmd/... ./demo/bench/ ./demo/internal/...

# Mutation testing of the engine (internal/mutants): each mutation breaks
# one behaviour in a scratch copy of the SDK module, and a host test must
# fail. Not part of make test; run it after changing the engine.
mutants:
	GOWORK=off $(GO) run ./internal/mutants

# Browser tests of jsbridge in headless Chromium. wasmbrowsertest puts its
# browser's profile (and Chromium its singleton directory) under TMPDIR and
# leaves them there, so they go in a scratch directory removed afterwards.
wasmtest: tools
	scratch=$$(mktemp -d -t silentauth-wasmtest-XXXXXX) && trap 'rm -rf "$$scratch"' EXIT && \
	TMPDIR=$$scratch GOOS=js GOARCH=wasm WBT_CHROMIUM=$(CHROMIUM) $(GO) test -count=1 -exec=$(CURDIR)/$(TOOLS)/wasmbrowsertest ./jsbridge/...

# End-to-end: servers in-process, Chromium driven with chromedp. Every
# suite under demo/e2e, the longest first, so that the last ones to run
# (two at a time) are short and the CPUs stay busy to the end.
E2E_LONGEST := refresh renewal soak devtenant popup frontdoor tabs sharedworker
E2E_SUITES := $(E2E_LONGEST) $(filter-out $(E2E_LONGEST),$(notdir $(wildcard demo/e2e/*)))
e2e: build pack
	SILENTAUTH_DIST=$(CURDIR)/$(DIST) CHROMIUM=$(CHROMIUM) $(GO) test -count=1 -timeout 20m $(addprefix ./demo/e2e/,$(E2E_SUITES))

# The suites of the placement matrix again, with their test pages' clients
# in the SharedWorker (engine: "shared-worker"); make e2e runs every suite
# with them in the page.
E2E_WORKER_SUITES := refresh renewal soak devtenant tabs oidc dpop hardening
e2e-worker: build pack
	SILENTAUTH_ENGINE=shared-worker SILENTAUTH_DIST=$(CURDIR)/$(DIST) CHROMIUM=$(CHROMIUM) $(GO) test -count=1 -timeout 20m $(addprefix ./demo/e2e/,$(E2E_WORKER_SUITES))

# Benchmarks against baselines in headless Chromium: the program
# demo/cmd/bench (measuring code in demo/bench) prints tables and writes
# dist/bench/*.json and *.txt. Figures only, never assertions. `make bench`
# runs every benchmark but the 5-minute refresh soak; each bench-* target
# runs one. BENCH_FLAGS passes flags: -quick shortens the runs,
# -baseline <another build's dist/> runs that build beside this one.
BENCH = SILENTAUTH_DIST=$(CURDIR)/$(DIST) CHROMIUM=$(CHROMIUM) $(GO) run ./demo/cmd/bench -dist $(DIST) $(BENCH_FLAGS)
bench: build
	$(BENCH) all

# The renewal soak alone.
bench-soak: build
	$(BENCH) soak

# 3 tabs renewing by refresh token for 5 minutes where the provider's
# cookie is third-party (figures, no assertions).
bench-soak-refresh: build
	$(BENCH) soak-refresh

# The outage rows alone: 3 tabs through 120 s of /authorize answering 500,
# then of the token endpoint answering 503 with Retry-After.
bench-outage: build
	$(BENCH) outage

# Memory, long tasks and first token of 4 tabs, engine in the page and in
# the SharedWorker, and auth0-spa-js, over blank tabs.
bench-multitab: build
	$(BENCH) multitab

clean:
	rm -rf $(DIST)
