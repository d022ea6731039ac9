# syntax=docker/dockerfile:1
# mcp-sidecar: a static binary on distroless/static, running as non-root.
#
#   docker build -t mcp-sidecar .
#   docker run --rm -v "$PWD/sidecar.yaml:/etc/mcp-sidecar/sidecar.yaml:ro" -p 8080:8080 mcp-sidecar
#
# The same image runs the demo commands (`dev-as`, `demo-mcp`) used by
# docker-compose.yml. `make release` (scripts/release.sh) builds it with
# VERSION and REVISION set, so `mcp-sidecar version` names the release and
# the commit (.git is not in the build context).
#
# Base images are pinned by digest (multi-arch index digests), so a rebuild
# of a commit starts from the same bytes. To move to a newer image, resolve
# the tag on a machine with registry access and replace the digest:
#
#   crane digest golang:1.26
#   crane digest gcr.io/distroless/static-debian12:nonroot
#
# (or `docker buildx imagetools inspect <image> --format '{{.Manifest.Digest}}'`).
# deploy/deploy_test.go checks that every FROM carries a digest.

# golang:1.26, 2026-08-27
FROM --platform=$BUILDPLATFORM golang:1.26@sha256:dc2521c2a906db43073b8b4d99f491b6341cf15610b6ebbab187c45153f9959e AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=
ARG REVISION=
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w \
      -X github.com/mcp-frontdoor/mcp-frontdoor/internal/version.Version=${VERSION} \
      -X github.com/mcp-frontdoor/mcp-frontdoor/internal/version.Revision=${REVISION}" \
      -o /out/mcp-sidecar ./cmd/mcp-sidecar

# distroless/static: CA certificates (for https issuers and JWKS), tzdata,
# /etc/passwd with the nonroot user (65532); no shell, no package manager.
# gcr.io/distroless/static-debian12:nonroot, 2026-08-26
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/mcp-sidecar /usr/local/bin/mcp-sidecar
USER 65532:65532
# 8080: the front door; 9091: /healthz, /readyz, /metrics (set listen and
# admin_listen to 0.0.0.0:… in the config to reach them from outside).
EXPOSE 8080 9091
# `mcp-sidecar healthcheck` probes the admin endpoint's /healthz and exits
# 0 or 1: the image has no shell, curl or wget. Docker and Compose use it;
# Kubernetes ignores HEALTHCHECK and uses the probes of deploy/helm.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/mcp-sidecar", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/mcp-sidecar"]
CMD ["run", "--config", "/etc/mcp-sidecar/sidecar.yaml"]
