# The README's commands. `make test` is the whole suite: it installs the
# Node test tools it needs (Node 22 and pinned npm packages, from the npm
# registry), checks formatting and vet, and runs every Go test, the
# end-to-end ones included.
GO ?= go

.PHONY: test test-short tools lint bench dev build caddy-smoke examples-smoke release

test: tools lint
	$(GO) test -count=1 ./...
	$(GO) test -race -short -count=1 ./pkg/... ./internal/sidecar
	$(MAKE) examples-smoke

# The custom Caddy build lists our module and adapts the shipped example.
caddy-smoke:
	$(GO) build -o bin/caddy ./cmd/caddy
	bin/caddy list-modules | grep -qx 'http.handlers.mcp_auth'
	UPSTREAM_API_KEY=x MCP_SESSION_KEY=0123456789abcdef0123456789abcdef \
	  bin/caddy adapt --config Caddyfile.example >/dev/null
	@echo "caddy-smoke: ok (list-modules shows http.handlers.mcp_auth; Caddyfile.example adapts)"

# The shipped binaries on every example config (go test ./examples checks
# the same and more, in-process).
examples-smoke: caddy-smoke
	$(GO) build -o bin/mcp-sidecar ./cmd/mcp-sidecar
	@set -e; export UPSTREAM_API_KEY=x MCP_SESSION_KEY=0123456789abcdef0123456789abcdef; \
	  for f in $$(find examples -name 'sidecar*.yaml' | sort); do bin/mcp-sidecar validate --config $$f; done; \
	  for f in $$(find examples -name 'Caddyfile*' | sort); do bin/caddy adapt --config $$f >/dev/null; echo "caddy adapt: $$f ok"; done

test-short: lint
	$(GO) test -short ./...

tools:
	bash scripts/install-test-tools.sh

# gofmt, go vet, staticcheck (pinned, from the module proxy) and a tidy
# go.mod: the code-style rules of this repository, checked in CI.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*'))"; \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(GO) run $(STATICCHECK) ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

dev:
	$(GO) run ./cmd/mcp-sidecar dev

build:
	$(GO) build -o bin/mcp-sidecar ./cmd/mcp-sidecar
	$(GO) build -o bin/caddy ./cmd/caddy

# The release recipe (scripts/release.sh): static binaries of mcp-sidecar and
# caddy for linux/darwin x amd64/arm64 into dist/ with SHA256SUMS, stamped
# with the version (VERSION=v0.x.y, else the git tag) and the commit; the
# release notes from CHANGELOG.md; the images when a Docker daemon answers.
# Publishing is printed, not done. Not part of `make test` (go test ./deploy
# runs it for this machine's platform).
release:
	bash scripts/release.sh

# The load harness (bench/README.md): upstream, plain Caddy reverse_proxy,
# Caddy + mcp_auth and mcp-sidecar (cache on/off) on loopback; ratios
# against reverse_proxy in the same run. About 2 minutes with these defaults.
BENCH_LOAD_FLAGS ?= -rounds 3 -duration 5s -concurrency 50
.PHONY: bench-load
bench-load:
	mkdir -p bin
	$(GO) run ./bench/cmd/loadbench $(BENCH_LOAD_FLAGS) -json bin/bench-load.json
