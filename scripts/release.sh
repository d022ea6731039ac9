#!/usr/bin/env bash
# The release recipe (`make release`): static binaries of mcp-sidecar and
# the custom Caddy for linux and darwin on amd64 and arm64, their SHA-256
# checksums, the release notes from CHANGELOG.md, and the two images.
# Everything but publishing happens here; the publishing commands are
# printed at the end.
#
#   make release                       # version from the git tag on HEAD (else git describe)
#   VERSION=v0.2.0 make release
#   PLATFORMS=linux/amd64 BINARIES=mcp-sidecar DIST=/tmp/d IMAGES=skip scripts/release.sh
#
# Environment:
#   VERSION    the version to stamp (default: the tag on HEAD, else `git describe --tags --always --dirty`)
#   PLATFORMS  GOOS/GOARCH list (default: linux/amd64 linux/arm64 darwin/amd64 darwin/arm64)
#   BINARIES   which of "mcp-sidecar caddy" to build (default: both)
#   DIST       output directory (default: dist; emptied first)
#   IMAGES     auto (build the images when a Docker daemon answers, else print
#              the commands), skip, or print (default: auto)
#   IMAGE_REPO image name prefix (default: mcp-frontdoor)
#   GO         the go command (default: go)
#
# Every binary is CGO_ENABLED=0, -trimpath, and carries the version, the
# commit, its time and whether the tree was modified, through -ldflags
# into internal/version (`mcp-sidecar version`, `caddy version`) and, in a
# git checkout, through -buildvcs=true into the Go build info
# (`go version -m`, `caddy build-info`).
set -euo pipefail
cd "$(dirname "$0")/.."

GO="${GO:-go}"
PLATFORMS="${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}"
BINARIES="${BINARIES:-mcp-sidecar caddy}"
DIST="${DIST:-dist}"
IMAGES="${IMAGES:-auto}"
IMAGE_REPO="${IMAGE_REPO:-mcp-frontdoor}"

buildvcs=false
REVISION="${REVISION:-}"
COMMIT_TIME="${COMMIT_TIME:-}"
MODIFIED="${MODIFIED:-}"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  buildvcs=true
  REVISION="${REVISION:-$(git rev-parse HEAD)}"
  COMMIT_TIME="${COMMIT_TIME:-$(TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD)}"
  if [ -z "$MODIFIED" ]; then
    if [ -n "$(git status --porcelain --untracked-files=no)" ]; then MODIFIED=true; else MODIFIED=false; fi
  fi
  if [ -z "${VERSION:-}" ]; then
    VERSION="$(git describe --tags --exact-match HEAD 2>/dev/null || git describe --tags --always --dirty)"
  fi
fi
VERSION="${VERSION:-devel}"

pkg=github.com/mcp-frontdoor/mcp-frontdoor/internal/version
ldflags="-s -w -X $pkg.Version=$VERSION -X $pkg.Revision=$REVISION -X $pkg.Time=$COMMIT_TIME -X $pkg.Modified=$MODIFIED"

echo "release $VERSION (revision ${REVISION:-unknown}, modified ${MODIFIED:-unknown}) into $DIST/"
rm -rf "$DIST"
mkdir -p "$DIST"

for platform in $PLATFORMS; do
  goos="${platform%/*}"
  goarch="${platform#*/}"
  for bin in $BINARIES; do
    case "$bin" in
      mcp-sidecar|caddy) ;;
      *) echo "release.sh: unknown binary $bin (want mcp-sidecar or caddy)" >&2; exit 2 ;;
    esac
    out="$DIST/${bin}_${VERSION}_${goos}_${goarch}"
    echo "  build $out"
    CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" \
      "$GO" build -trimpath -buildvcs="$buildvcs" -ldflags="$ldflags" -o "$out" "./cmd/$bin"
  done
done

# Release notes: this version's section of CHANGELOG.md (Keep a Changelog),
# else the Unreleased section.
notes="$DIST/RELEASE_NOTES.md"
for heading in "${VERSION#v}" "$VERSION" Unreleased; do
  awk -v h="$heading" '
    /^## \[/ { if (inside) exit; if (index($0, "## [" h "]") == 1) { inside = 1 } }
    inside { print }
  ' CHANGELOG.md >"$notes"
  if [ -s "$notes" ]; then break; fi
done
echo "  $notes ($(head -n 1 "$notes"))"

# Checksums, in the format `sha256sum -c SHA256SUMS` reads.
(
  cd "$DIST"
  files=$(ls | grep -v '^SHA256SUMS$' | sort)
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum $files >SHA256SUMS
  else
    shasum -a 256 $files >SHA256SUMS
  fi
)
echo "  $DIST/SHA256SUMS"

# Images: both Dockerfiles, with the same stamp (the build context has no
# .git). Locally, one image per Dockerfile for this machine's platform (a
# multi-platform build cannot be loaded into the local image store); the
# multi-platform builds are part of publishing, below.
build_args="--build-arg VERSION=$VERSION --build-arg REVISION=$REVISION"
local_cmds=(
  "docker build $build_args -f Dockerfile -t $IMAGE_REPO/mcp-sidecar:$VERSION ."
  "docker build $build_args -f Dockerfile.caddy -t $IMAGE_REPO/caddy:$VERSION ."
)
publish_cmds=(
  "docker buildx build --platform linux/amd64,linux/arm64 $build_args -f Dockerfile -t $IMAGE_REPO/mcp-sidecar:$VERSION --push ."
  "docker buildx build --platform linux/amd64,linux/arm64 $build_args -f Dockerfile.caddy -t $IMAGE_REPO/caddy:$VERSION --push ."
)
case "$IMAGES" in
  skip) ;;
  auto|print)
    if [ "$IMAGES" = auto ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
      for c in "${local_cmds[@]}"; do echo "  $c"; $c; done
    else
      echo "no Docker daemon here (or IMAGES=print): the image builds are"
      for c in "${local_cmds[@]}"; do echo "  $c"; done
    fi
    ;;
  *) echo "release.sh: IMAGES must be auto, skip or print" >&2; exit 2 ;;
esac

if [[ "$VERSION" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] && [ "$MODIFIED" != true ]; then
  tag_step="git tag -s $VERSION && git push origin $VERSION"
else
  tag_step="(not a release: $VERSION${MODIFIED:+, modified $MODIFIED}; release from a clean tree with VERSION=vX.Y.Z)"
fi
cat <<MSG

To publish (not done here):
  $tag_step
  ${publish_cmds[0]}
  ${publish_cmds[1]}
  upload $DIST/* with $DIST/RELEASE_NOTES.md as the release text
MSG
