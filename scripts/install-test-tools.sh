#!/usr/bin/env bash
# Installs the Node-based test tools used by mcp-frontdoor's integration tests:
#
#   1. Node 22 from the npm registry (the "node" package) into .tools/node;
#      the binary is .tools/node/node_modules/node/bin/node. The system node
#      is never used to run the tools.
#   2. The pinned npm tools from tools/npm/package-lock.json (oidc-provider,
#      @modelcontextprotocol/conformance, @modelcontextprotocol/inspector,
#      and @modelcontextprotocol/server-everything, a stdio MCP server the
#      tests run behind the sidecar) into tools/npm/node_modules via
#      `npm ci`, run with Node 22 first on PATH.
#   3. The MCP conformance fixture server, the go-sdk's
#      conformance/everything-server at a pinned version, built with
#      `go install` into .tools/bin/everything-server (needs `go` and the Go
#      module proxy, or a module cache that already holds it).
#   4. redis-server, for pkg/ratelimit's Redis store tests: when it is not on
#      PATH, Debian's redis-server package via apt-get (with sudo unless
#      root). Without apt-get it only warns (the tests skip without
#      redis-server, but fail under CI=true, where this step fails too).
#
# Idempotent and callable from any directory; steps already done are skipped,
# so a second run only checks versions. Needs a system `npm` (any version that
# runs on Node 22) and access to the npm registry.
#
# Environment:
#   MCPFD_NODE_SPEC  npm spec for the Node runtime (default node@22)
#   MCPFD_FORCE=1    reinstall everything
#
# The fixture version must match EverythingServerVersion in
# internal/conformance/fixture.go.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_SPEC="${MCPFD_NODE_SPEC:-node@22}"
NODE_PREFIX="$ROOT/.tools/node"
NODE_BIN_DIR="$NODE_PREFIX/node_modules/node/bin"
NODE="$NODE_BIN_DIR/node"
NPM_DIR="$ROOT/tools/npm"
STAMP="$NPM_DIR/node_modules/.mcpfd-install-stamp"
MIN_NODE_MAJOR=22
MIN_NODE_MINOR=19 # @modelcontextprotocol/inspector 2.x needs >= 22.19
NPM_FLAGS=(--no-audit --no-fund --loglevel=error)
GO_SDK_MODULE=github.com/modelcontextprotocol/go-sdk
GO_SDK_VERSION=v1.8.0
FIXTURE_PKG="$GO_SDK_MODULE/conformance/everything-server"
FIXTURE_BIN_DIR="$ROOT/.tools/bin"
FIXTURE="$FIXTURE_BIN_DIR/everything-server"

log() { printf 'install-test-tools: %s\n' "$*"; }
die() { printf 'install-test-tools: error: %s\n' "$*" >&2; exit 1; }

command -v npm >/dev/null 2>&1 || die "npm not found on PATH (needed to fetch Node 22)"
[[ -f "$NPM_DIR/package.json" && -f "$NPM_DIR/package-lock.json" ]] ||
  die "missing $NPM_DIR/package.json or package-lock.json"

# node_ok reports whether $NODE exists and is a Node >= 22.19 binary.
node_ok() {
  [[ -x "$NODE" ]] || return 1
  local v
  v="$("$NODE" --version 2>/dev/null)" || return 1
  [[ "$v" =~ ^v([0-9]+)\.([0-9]+)\. ]] || return 1
  local major="${BASH_REMATCH[1]}" minor="${BASH_REMATCH[2]}"
  [[ "$major" -eq "$MIN_NODE_MAJOR" && "$minor" -ge "$MIN_NODE_MINOR" ]]
}

start=$SECONDS

# --- 1. Node 22 -------------------------------------------------------------
if [[ "${MCPFD_FORCE:-}" != 1 ]] && node_ok; then
  log "node $("$NODE" --version) already at ${NODE#"$ROOT"/} (skipped)"
else
  log "installing $NODE_SPEC into ${NODE_PREFIX#"$ROOT"/} ..."
  mkdir -p "$NODE_PREFIX"
  # The "node" package downloads the platform binary in its preinstall script.
  npm install --prefix "$NODE_PREFIX" "${NPM_FLAGS[@]}" "$NODE_SPEC"
  node_ok || die "$NODE is missing or not Node >= $MIN_NODE_MAJOR.$MIN_NODE_MINOR after installing $NODE_SPEC (got: $("$NODE" --version 2>&1 || true))"
  log "installed node $("$NODE" --version)"
fi

# From here on, Node 22 comes first on PATH so that npm, npm's lifecycle
# scripts and `#!/usr/bin/env node` tools all run on it.
export PATH="$NODE_BIN_DIR:$PATH"
[[ "$(node --version)" == "$("$NODE" --version)" ]] || die "PATH does not resolve node to $NODE"

# --- 2. pinned npm tools ----------------------------------------------------
want_stamp="$(
  {
    "$NODE" --version
    cat "$NPM_DIR/package.json" "$NPM_DIR/package-lock.json"
  } | sha256sum | cut -d' ' -f1
)"
have_stamp="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "${MCPFD_FORCE:-}" != 1 && "$have_stamp" == "$want_stamp" ]]; then
  log "npm tools in ${NPM_DIR#"$ROOT"/}/node_modules match package-lock.json (skipped)"
else
  log "running npm ci in ${NPM_DIR#"$ROOT"/} with node $(node --version), npm $(npm --version 2>/dev/null) ..."
  (cd "$NPM_DIR" && npm ci "${NPM_FLAGS[@]}")
  printf '%s\n' "$want_stamp" >"$STAMP"
fi

# --- 3. go-sdk conformance fixture -------------------------------------------
# fixture_ok reports whether $FIXTURE was built from $FIXTURE_PKG at
# $GO_SDK_VERSION (read from its embedded build info).
fixture_ok() {
  [[ -x "$FIXTURE" ]] || return 1
  local info
  info="$(go version -m "$FIXTURE" 2>/dev/null)" || return 1
  grep -Eq "^[[:space:]]+path[[:space:]]+$FIXTURE_PKG\$" <<<"$info" &&
    grep -Eq "^[[:space:]]+mod[[:space:]]+$GO_SDK_MODULE[[:space:]]+$GO_SDK_VERSION[[:space:]]" <<<"$info"
}
command -v go >/dev/null 2>&1 || die "go not found on PATH (needed to build $FIXTURE_PKG)"
if [[ "${MCPFD_FORCE:-}" != 1 ]] && fixture_ok; then
  log "everything-server $GO_SDK_VERSION already at ${FIXTURE#"$ROOT"/} (skipped)"
else
  log "building $FIXTURE_PKG@$GO_SDK_VERSION into ${FIXTURE_BIN_DIR#"$ROOT"/} ..."
  mkdir -p "$FIXTURE_BIN_DIR"
  # Built outside the repository so that its go.mod and any go.work play no part.
  (cd "$FIXTURE_BIN_DIR" && GOBIN="$FIXTURE_BIN_DIR" GOWORK=off go install "$FIXTURE_PKG@$GO_SDK_VERSION")
  fixture_ok || die "$FIXTURE is missing or not built from $FIXTURE_PKG@$GO_SDK_VERSION"
fi

# --- 4. redis-server ---------------------------------------------------------
# The system package is used as is (any Redis >= 5 does); MCPFD_FORCE does
# not reinstall it.
if command -v redis-server >/dev/null 2>&1; then
  log "$(redis-server --version | cut -d' ' -f1-3) already at $(command -v redis-server) (skipped)"
elif command -v apt-get >/dev/null 2>&1; then
  SUDO=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "redis-server is missing and installing it needs root (no sudo found)"
    SUDO=(sudo)
  fi
  log "installing redis-server with ${SUDO[*]:+${SUDO[*]} }apt-get ..."
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after apt-get install redis-server"
  log "installed $(redis-server --version | cut -d' ' -f1-3) at $(command -v redis-server)"
elif [[ "${CI:-}" == true ]]; then
  die "redis-server is missing and apt-get is not available (CI=true: the Redis store tests need it)"
else
  log "warning: redis-server is missing and apt-get is not available; install Redis yourself (the Redis store tests skip without it)"
fi

# --- 5. verify and report ---------------------------------------------------
# Installed versions must equal the exact pins in package.json.
report="$(
  cd "$NPM_DIR" && "$NODE" --input-type=module -e '
    import { readFileSync } from "node:fs";
    const pkg = JSON.parse(readFileSync("package.json", "utf8"));
    let bad = 0;
    for (const [name, want] of Object.entries(pkg.dependencies)) {
      let got = "MISSING";
      try { got = JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8")).version; } catch {}
      const ok = got === want;
      if (!ok) bad++;
      console.log(`  ${name}@${got}${ok ? "" : ` (want ${want})`}`);
    }
    process.exitCode = bad ? 1 : 0;
  '
)" || {
  printf '%s\n' "$report"
  rm -f "$STAMP"
  die "installed npm tools do not match the pins; rerun with MCPFD_FORCE=1"
}

log "ready in $((SECONDS - start))s:"
printf '  node %s (%s)\n' "$("$NODE" --version)" "${NODE#"$ROOT"/}"
printf '%s\n' "$report"
printf '  binaries: %s\n' "$(cd "$NPM_DIR/node_modules/.bin" && ls conformance mcp-inspector mcp-server-everything 2>/dev/null | tr '\n' ' ')"
printf '  everything-server %s (%s)\n' "$GO_SDK_VERSION" "${FIXTURE#"$ROOT"/}"
printf '  redis-server %s\n' "$(command -v redis-server >/dev/null 2>&1 && redis-server --version | cut -d' ' -f3 | cut -d= -f2 || echo MISSING)"
