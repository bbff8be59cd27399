# usersvc: two commands for a newcomer, `make run` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/usersvc
PKGS  := ./...

# Node packages the tests drive: real OIDC providers (JWTs; opaque tokens
# with introspection) and Neo4j's Cypher parser.
NODE_DEPS := testsupport/oidcprovider/node_modules/.package-lock.json \
             testsupport/introspector/node_modules/.package-lock.json \
             testsupport/cypherlint/node_modules/.package-lock.json

IMAGE ?= usersvc:dev
# Helm is installed into bin/ with `go install`, outside the service's go.mod.
HELM_VERSION := v3.22.0
HELM := bin/helm

# Fuzz targets (package:Name:executions), each run briefly by make test;
# seeds live in each package's testdata/fuzz and run with every go test. The
# budgets are execution counts (about 4s each here), not durations: with a
# duration, Go 1.26's fuzz coordinator can fail a clean run with "context
# deadline exceeded" as the time runs out (golang/go#75804, fixed in 1.27).
# FUZZTIME (a count such as 1000000x, or a duration) overrides every budget.
FUZZTIME ?=
FUZZ_TARGETS := schema:FuzzDecodeUser:100000x schema:FuzzUserKey:60000x oidcuser:FuzzSearchEqual:1500x \
                handlers:FuzzRequests:5000x handlers:FuzzSCIM:20000x handlers/auth:FuzzAuthenticate:25000x cmd/usersvc:FuzzJSONAccessLog:4000x

.PHONY: build run run-passthrough test lint vet fmt-check node-deps image bench fuzz soak

# Stamped as the Dockerfile stamps the image (usersvc version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
build:
	$(GO) build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(BIN) ./cmd/usersvc

# Runs on the embedded store with auth off, resolving unknown users from the
# example directory file: no external services needed. Auth is off and the
# write API open, so both listeners bind loopback only (the service's own
# defaults, for containers, are :5002 and :9102); override with
# `make run LISTEN_ADDR=:5002 METRICS_ADDR=:9102`.
LISTEN_ADDR  ?= 127.0.0.1:5002
METRICS_ADDR ?= 127.0.0.1:9102
run: build
	@echo "usersvc on http://$(LISTEN_ADDR) (auth disabled, embedded store in ./data,"
	@echo "people from examples/directory.json, catalog from examples/catalog.json)"
	@echo "try:"
	@echo "  curl -s localhost:5002/user/katherine.johnson@example.com   # unknown to the store: resolved from the directory and written"
	@echo "  curl -s localhost:5002/user                                 # now listed"
	@echo "  curl -s localhost:5002/user/rosalind@example.com            # two people share this email: 409"
	@echo "  curl -s -X PUT localhost:5002/user/katherine.johnson@example.com/follow/table/hive://gold.sales/orders"
	@echo "  curl -s localhost:5002/user/katherine.johnson@example.com/follow/"
	@echo "  curl -s localhost:5002/user/grace.hopper@example.com/read/"
	LISTEN_ADDR=$(LISTEN_ADDR) METRICS_ADDR=$(METRICS_ADDR) \
	AUTH_DISABLED=true PROXY_CLIENT=embedded EMBEDDED_DB_PATH=./data/usersvc.db \
	EMBEDDED_CATALOG_FILE=examples/catalog.json DIRECTORY_FILE=examples/directory.json \
	LOG_FORMAT=text ./$(BIN)

# Pass-through demo on the real thing: a real Neo4j seeded with
# examples/catalog.json, Amundsen's real metadata service (amundsen-metadata
# 3.13.0) on it, and usersvc in front (pass-through mode, auth off, people
# from examples/directory.json), all on loopback. One base URL serves the
# user API from usersvc and every other metadata route from Amundsen; the
# example calls are printed once it is up. Needs what `make test` needs for
# them: JDK 17, Maven, Python 3.11 with venv. The first start fetches Neo4j's
# jars (~160 MB, Maven Central) and Amundsen's virtualenv (~130 MB, PyPI):
# about 50s on a fast link; later starts about 6s. NEO4J_VERSION=4.4 runs it
# on Neo4j 4.4. Ctrl-C (or SIGTERM) stops all three. Built, then run (not
# `go run`, which exits 1 when interrupted, so make would report an error).
run-passthrough: build
	$(GO) build -o bin/passthrough-demo ./examples/amundsen/passthrough
	./bin/passthrough-demo -usersvc $(BIN) -listen $(LISTEN_ADDR) -metrics $(METRICS_ADDR)

# Needs a Docker engine (none runs on the development machines of this repo).
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

test: lint node-deps amundsen-venv neo4j-deps $(HELM)
	$(GO) test -race -count=1 $(PKGS)
	cd charts && HELM=$(CURDIR)/$(HELM) $(GO) test -count=1 ./...
	$(MAKE) --no-print-directory fuzz

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$(if $(FUZZTIME),$(FUZZTIME),$${rest#*:}); \
		echo "fuzz $$pkg $$name ($$budget)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $$budget ./$$pkg || exit 1; \
	done

$(HELM):
	GOBIN=$(CURDIR)/bin $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

node-deps: $(NODE_DEPS)

# A real Neo4j Community for the tests (testsupport/neo4jserver): its jars
# from Maven Central into ~/.m2 (about 160 MB for 5.26, 130 MB for 4.4), the
# launcher and a class-data archive into the user cache; about a minute cold.
# NEO4J_VERSION picks the server the tests run on (5.26 or 4.4);
# `make test-neo4j NEO4J_VERSION=4.4` runs the Neo4j-facing suites on another.
NEO4J_VERSION ?= 5.26
export USERSVC_NEO4J_VERSION := $(NEO4J_VERSION)
NEO4J_PKGS := ./testsupport/neo4jserver/ ./proxy/neo4j/ ./oidcuser/ ./handlers/ ./cmd/usersvc/
.PHONY: neo4j-deps test-neo4j
neo4j-deps:
	$(GO) test -count=1 -run '^TestBuild$$' ./testsupport/neo4jserver/

test-neo4j: neo4j-deps node-deps amundsen-venv
	$(GO) test -race -count=1 $(NEO4J_PKGS)

# Amundsen's real metadata service (PyPI, pinned in
# testsupport/amundsen/requirements.txt) in a virtualenv under the user
# cache; about 30s cold, instant after.
.PHONY: amundsen-venv
amundsen-venv:
	$(GO) run ./testsupport/amundsen/ensurevenv

testsupport/%/node_modules/.package-lock.json: testsupport/%/package-lock.json testsupport/%/package.json
	npm ci --prefix testsupport/$* --no-audit --no-fund --loglevel=error

# Benchmarks, then the load harness (loopback only, bounded, stops by itself;
# exits non-zero when a target is missed). See docs/performance.md.
# The load harness twice: the embedded store (the default rows), then the
# production path on a real Neo4j beside Amundsen's metadata service (issue
# 31). Each exits non-zero when a target is missed.
bench: node-deps amundsen-venv neo4j-deps
	$(GO) test -run '^$$' -bench . -benchmem ./handlers/... ./oidcuser/ ./proxy/...
	$(GO) run ./cmd/loadgen -svg docs/performance-rows.svg
	$(GO) run ./cmd/loadgen -neo4j -amundsen-debug=false -svg docs/performance-neo4j.svg

# Opt-in 10-minute soak (not in CI): mixed load with scheduled Okta outages;
# RSS and goroutines must stay flat and no 5xx may appear outside outages.
soak:
	$(GO) run ./cmd/loadgen -soak 10m

# staticcheck, pinned, is installed into bin/ with `go install` like Helm,
# outside the service's go.mod.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/staticcheck

lint: fmt-check vet staticcheck

.PHONY: staticcheck
staticcheck: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)
	cd charts && $(CURDIR)/$(STATICCHECK) ./...

$(STATICCHECK):
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

vet:
	$(GO) vet $(PKGS)
	cd charts && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
