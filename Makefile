# The README's commands. `make test` is the whole suite: it installs the
# Node test tools it needs (Node 22 and pinned npm packages, from the npm
# registry), checks formatting and vet, and runs every Go test, the
# end-to-end ones included.
GO ?= go

.PHONY: test test-short tools lint bench dev build

test: tools lint
	$(GO) test -count=1 ./...

test-short: lint
	$(GO) test -short ./...

tools:
	bash scripts/install-test-tools.sh

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*'))"; \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

dev:
	$(GO) run ./cmd/mcp-sidecar dev

build:
	$(GO) build -o bin/mcp-sidecar ./cmd/mcp-sidecar
	$(GO) build -o bin/caddy ./cmd/caddy
